"""The trace machinery: primitives, `bind`, traces, tracers and the trace stack.

Every transform (jvp, staging, vmap) is a `Trace` subclass living in `funcgrad/transforms/` or
`funcgrad/staging.py`; primitives and all their rules live in `funcgrad/primitives/`. The only
upward reference is `_ops`, the operator table that `funcgrad/numpy/_operators.py` fills so
that `x * 2` on a tracer reaches fnp's broadcasting wrappers. The error classes, `user_frame`
and the message templates live in `funcgrad/errors.py`, below this module, and are re-exported
here.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import numpy as np

from .avals import _PY_SCALAR_AVAL as _SCALAR_AVAL
from .avals import ShapedArray, get_aval
from .errors import _MSG_CONCRETE as _MSG_CONCRETE
from .errors import _MSG_DROPS_DERIVATIVE as _MSG_DROPS_DERIVATIVE
from .errors import _MSG_SETITEM as _MSG_SETITEM
from .errors import ConcretizationError as ConcretizationError
from .errors import EscapedTracerError as EscapedTracerError
from .errors import FuncgradError as FuncgradError
from .errors import _escaped_msg as _escaped_msg
from .errors import concretization_msg as concretization_msg
from .errors import user_frame as user_frame
from .errors import user_site as user_site

_new_object = object.__new__

NOT_APPLICABLE = "not applicable"  # marks a rule slot that cannot exist (e.g. transpose of sin)


# --- primitives -------------------------------------------------------------------------------

class Primitive:
    """A primitive: a name plus one slot per transform rule, all filled in one block (which
    also registers its lowerings in backend/'s tables and any printer in ir.py's)."""

    __slots__ = ("name", "multiple_results", "impl", "abstract_eval", "jvp", "transpose",
                 "batch", "partial_eval")

    def __init__(self, name: str, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.impl = self.abstract_eval = self.jvp = self.transpose = None
        self.batch = self.partial_eval = None

    def bind1(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive under the innermost transform that owns one of `args`; returns
        what the impl returns (one value, or a list for `multiple_results`). This is the one
        dispatch of funcgrad, and its hot path: keep it a flat loop."""
        top = _dynamic[0]
        for a in args:
            if isinstance(a, Tracer):
                m = a._trace.main
                if top is None or m.level > top.level:
                    top = m
        if top is None:  # plain arrays, nothing staged: run the impl
            out = self.impl(*args, **params)
            if DEBUG_NANS[0]:
                check_nans(self, out if self.multiple_results else [out])
            return out
        trace = top.live_trace  # (the `trace` property, without its call on the hot path)
        if trace is None:  # the transform owning an argument has finished: an escaped tracer
            raise EscapedTracerError(_escaped_msg(next(
                a for a in args if isinstance(a, Tracer) and a._trace.main is top)))
        # The trace takes the arguments as they are: its own tracers, and values from below
        # (constants, tracers of outer transforms), which it reads as constants without boxing.
        outs = trace.process_primitive(self, args, params)
        return outs if self.multiple_results else outs[0]

    def bind(self, *args: Any, **params: Any) -> list:
        """`bind1`, with the outputs always as a list (for code generic in the output count)."""
        out = self.bind1(*args, **params)
        return out if self.multiple_results else [out]

    def __repr__(self) -> str:
        return self.name


bind = Primitive.bind  # `bind(prim, *args, **params)`: the form the IR interpreters call


# --- NaN checking (`fg.debug_nans`) -----------------------------------------------------------

DEBUG_NANS = [False]  # switched by funcgrad.debug.debug_nans; checked after every concrete impl
NAN_SOURCE: dict = {}  # staged Var -> the user's line that created it (only while debugging)
NAN_CONTEXT: list = [None]  # while reverse mode runs: the forward line being differentiated


def check_nans(prim: Primitive, outs: list) -> None:
    """Raise FloatingPointError if a floating-point output of `prim` holds a NaN."""
    for o in outs:
        dtype = getattr(o, "dtype", None)
        if dtype is None or dtype.kind not in "fc" or not bool(o.__ne__(o).any()):
            continue
        where = NAN_CONTEXT[0]
        detail = (f"\nin reverse mode, while differentiating the operation created at\n  {where}"
                  if where else "")
        raise FloatingPointError(
            f"funcgrad.debug_nans: `{prim.name}` produced NaN ({o.dtype}{list(o.shape)}), at "
            f"{user_frame()}{detail}\nCheck that operation's inputs (log/sqrt of negative "
            f"values, 0/0, inf-inf); fnp.where can guard it (guard both branches for gradients).")


# --- traces -----------------------------------------------------------------------------------

class MainTrace:
    """One active transform on the trace stack. `level` orders transforms by nesting."""

    __slots__ = ("level", "trace_type", "global_data", "live_trace", "_trace_ref", "name",
                 "alive", "site")

    def __init__(self, level: int, trace_type: type, global_data: Any, name: str,
                 site: tuple | None = None):
        self.level, self.trace_type = level, trace_type
        self.global_data, self.name = global_data, name
        self.alive = True
        self.site = site  # where the user applied the transform (for escaped-tracer errors)
        # The main holds its trace strongly only while active (`new_main.__exit__` drops that
        # reference); afterwards only weakly, through the tracers that still hold the trace.
        # Otherwise main <-> trace is a reference cycle, and every finished transform -- for
        # eager `grad`, its whole linear program and constant arrays -- would wait for the
        # cyclic garbage collector instead of being freed when the call returns.
        trace = self.live_trace = trace_type(self)
        self._trace_ref = weakref.ref(trace)

    @property
    def trace(self) -> Trace:
        trace = self.live_trace
        return trace if trace is not None else self._trace_ref()

    def __repr__(self) -> str:
        return f"MainTrace({self.level}, {self.trace_type.__name__}, {self.name})"


class Trace:
    """Base of all traces: knows how to box values and interpret primitives at its level."""

    __slots__ = ("main", "__weakref__")  # MainTrace refers to its trace weakly once done

    def __init__(self, main: MainTrace):
        self.main = main

    def pure(self, val: Any) -> Tracer:
        raise NotImplementedError

    def lift(self, val: Tracer) -> Tracer:
        return self.pure(val)

    def process_primitive(self, prim: Primitive, args: Sequence, params: dict) -> list:
        """Apply `prim` to `args`: this trace's tracers and values from below it (constants
        and tracers of outer transforms: `check_below` them before use); returns this trace's
        tracers (or values from below, which are constants to it)."""
        raise NotImplementedError


trace_stack: list[MainTrace] = [MainTrace(0, Trace, None, "eval")]  # (bind1 runs impls)
_dynamic: list[MainTrace | None] = [None]  # the staging main that captures everything, if any


class new_main:
    """`with new_main(TraceType, data) as main:` pushes a transform onto the trace stack for
    the duration of the block (a class, not a generator: it runs on every transform call)."""

    __slots__ = ("main", "dynamic", "prev_dynamic")

    def __init__(self, trace_type: type, global_data: Any = None, name: str = "",
                 dynamic: bool = False, site: tuple | None = None):
        # `site`: the user's call site, when the caller already has it (one transform that
        # pushes two mains, like linearize, walks the stack once)
        self.main = MainTrace(len(trace_stack), trace_type, global_data,
                              name or trace_type.__name__, site or user_site())
        self.dynamic = dynamic

    def __enter__(self) -> MainTrace:
        main = self.main
        trace_stack.append(main)
        self.prev_dynamic = _dynamic[0]
        if self.dynamic:
            _dynamic[0] = main
        return main

    def __exit__(self, *exc) -> None:
        _dynamic[0] = self.prev_dynamic
        trace_stack.pop()
        self.main.alive = False
        self.main.live_trace = None  # see MainTrace.__init__


def check_below(val: Any) -> Any:
    """`val`, an argument from below the running trace, checked not to be an escaped tracer."""
    if isinstance(val, Tracer) and not val._trace.main.alive:
        raise EscapedTracerError(_escaped_msg(val))
    return val


def full_raise(trace: Trace, val: Any) -> Any:
    if not isinstance(val, Tracer):
        return trace.pure(val)
    main = val._trace.main
    if main is trace.main:
        return val
    if not main.alive:
        raise EscapedTracerError(_escaped_msg(val))
    if main.level < trace.main.level:
        return trace.lift(val)
    raise EscapedTracerError(_escaped_msg(val))


# --- tracers ----------------------------------------------------------------------------------

_ops: dict[str, Callable] = {}  # filled by funcgrad/numpy/_operators.py (the upward hook)


def _op(name: str, swap: bool = False) -> Callable:
    if swap:
        def method(self, other):
            return _ops[name](other, self)
    else:
        def method(self, *args, **kwargs):
            if kwargs.get("out", 0) is None:  # numpy.sum(x) calls x.sum(axis=..., out=None)
                del kwargs["out"]
            return _ops[name](self, *args, **kwargs)
    method.__name__ = name
    return method


class Tracer:
    """A value boxed by a transform. Operators and methods dispatch through `funcgrad.numpy`."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on traced values (`np.sin(x)`, `ndarray * x`) run as their
        `funcgrad.numpy` twins; anything else (`out=`, `.reduce`, ...) says what to write."""
        fn = _ops.get("ufunc:" + ufunc.__name__) if method == "__call__" and not kwargs else None
        if fn is None:
            raise TypeError(
                f"funcgrad: numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
                f"{' with ' + ', '.join(kwargs) if kwargs else ''} cannot take a traced value "
                f"({self.aval.str_short()}), at {user_frame()}\nUse funcgrad.numpy instead "
                f"(`import funcgrad.numpy as fnp`), e.g. `fnp.{ufunc.__name__}(...)`.")
        return fn(*inputs)

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    T = property(lambda self: _ops["transpose"](self))
    at = property(lambda self: _ops["at"](self))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d (scalar) value")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d (scalar) value")
        return (self[i] for i in range(self.shape[0]))

    def concrete_value(self) -> Any:
        """The concrete value behind this tracer, or a teaching error when there is none."""
        raise ConcretizationError(concretization_msg(self))

    def numeric_value(self) -> Any:
        """The value as a plain number/array (`float()`, `np.asarray()`, `.item()`): like
        `concrete_value`, but refused where that would silently drop a derivative."""
        return self.concrete_value()

    def _live(self) -> Tracer:
        if not self._trace.main.alive:
            raise EscapedTracerError(_escaped_msg(self))
        return self

    def __bool__(self):
        return bool(self._live().concrete_value())

    def __float__(self):
        return float(self._live().numeric_value())

    def __int__(self):
        return int(self._live().concrete_value())

    def __index__(self):
        return int(self._live().concrete_value())

    def __complex__(self):
        return complex(self._live().numeric_value())

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._live().numeric_value(), dtype=dtype)

    def __setitem__(self, idx, val):
        raise TypeError(_MSG_SETITEM.format(where=user_frame(), aval=self.aval.str_short()))

    def __hash__(self):
        raise TypeError("funcgrad tracers are unhashable (they stand for arrays); pass hashable "
                        "Python values through `static_argnums` instead.")

    def item(self):
        return np.asarray(self._live().numeric_value()).item()

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{self.aval.str_short()}>({self._trace.main.name})"

    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                  "lt", "le", "gt", "ge", "eq", "ne", "and", "or", "xor", "neg", "pos", "abs",
                  "invert", "getitem"):
        locals()[f"__{_name}__"] = _op(_name)
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                  "and", "or", "xor"):
        locals()[f"__r{_name}__"] = _op(_name, swap=True)
    for _name in ("sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin",
                  "reshape", "transpose", "swapaxes", "squeeze", "astype", "dot", "cumsum",
                  "clip", "ravel", "flatten", "all", "any", "round", "conj", "sort", "argsort",
                  "cumprod", "diagonal", "trace", "conjugate"):
        locals()[_name] = _op(_name)
    del _name
    real = property(lambda self: _ops["real"](self), doc="The real part (`fnp.real`).")
    imag = property(lambda self: _ops["imag"](self), doc="The imaginary part (`fnp.imag`).")


# --- rule vocabulary --------------------------------------------------------------------------

class Zero:
    """A symbolic zero tangent/cotangent of the given aval: rules skip work on it."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


class UndefPrimal:
    """Marks a linear input of an equation being transposed."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefPrimal({self.aval.str_short()})"


not_mapped = None  # batch dimension of an unbatched value


def is_undefined_primal(x: Any) -> bool:
    return type(x) is UndefPrimal


def get_aval_of(x: Any) -> ShapedArray:
    if type(x) is np.ndarray:  # the hot case: fill the slots directly, skipping __init__'s checks
        aval = _new_object(ShapedArray)
        aval.shape, aval.dtype, aval.weak_type = x.shape, x.dtype, False
        return aval
    aval = _SCALAR_AVAL.get(type(x))  # Python and NumPy scalars: one shared aval per type
    if aval is not None:
        return aval
    return x.aval if isinstance(x, Tracer) else get_aval(x)
