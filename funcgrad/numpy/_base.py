"""The base of `funcgrad.numpy`: canonicalisation and the one NumPy fast path.

- `numpy_fallback(np_fn)`: the decorator every composite of the package wears; with no traced
  argument, nothing being staged and `fg.debug_nans` off, the call goes to NumPy itself.
- `asarray`/`array`, `astype`, `broadcast_to`, and the helpers the other modules build on:
  `_promote` (NEP 50 dtype promotion with weak Python scalars, then explicit broadcasting),
  `_broadcast_shapes`, `_bcast`.
- The constants and dtype names of the namespace, and array creation (NumPy arrays, which become
  constants of a traced program).

The package's modules import downwards only: `_base` <- `ufuncs` (elementwise) <- `shapes`
(reductions, shape manipulation) <- `indexing` (indexing, sorting, contractions) <- `linalg`
<- `extra` <- `rearrange` <- `statistics` <- `polynomial`;
`_operators` fills the tracer operator table from all of them, and `__init__` re-exports.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import core
from ..avals import ShapedArray, is_float, result_dtype
from ..backend import cupy_backend, current_device, device_of, is_gpu_array
from ..core import FuncgradError, Tracer, get_aval_of, user_frame
from ..primitives import broadcast_in_dim, concatenate, convert_element_type, expand_dims

__all__ = [
    "pi", "e", "inf", "nan", "newaxis", "float16", "float32", "float64", "int8", "int16", "int32",
    "int64", "uint8", "bool_", "complex64", "complex128", "ndarray", "dtype", "finfo", "iinfo",
    "asarray", "array", "astype",
    "broadcast_to", "zeros", "ones", "full", "empty", "eye", "identity", "arange", "linspace",
    "tri", "tril_indices", "zeros_like", "ones_like", "full_like", "empty_like",
]

pi, e, inf, nan, newaxis = np.pi, np.e, np.inf, np.nan, None
float16, float32, float64 = np.float16, np.float32, np.float64
complex64, complex128 = np.complex64, np.complex128
int8, int16, int32, int64, uint8, bool_ = np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_
ndarray, dtype, finfo, iinfo = np.ndarray, np.dtype, np.finfo, np.iinfo


# --- the NumPy fast path ----------------------------------------------------------------------

_SEQUENCES = (list, tuple)
_STAGING, _DEBUG_NANS = core._dynamic, core.DEBUG_NANS  # one-element lists, switched in place


def _traced(args) -> bool:
    """Whether any argument is a tracer, looking into (nested) lists and tuples."""
    for a in args:
        if isinstance(a, Tracer) or (type(a) in _SEQUENCES and _traced(a)):
            return True
    return False


def numpy_fallback(np_fn, by_name_from: int | None = None, gather_from: int | None = None):
    """Decorator: call `np_fn` with the same arguments when none is traced, nothing is being
    staged and `fg.debug_nans` is off (then every operation runs its checked primitive), else
    the decorated funcgrad composite.

    `np_fn` takes the decorated function's arguments. Where NumPy's positional order differs
    (`numpy.sum(a, axis, dtype, out, keepdims)`), positional arguments from `by_name_from` on are
    passed to it by name instead. With `gather_from`, several positional arguments from there on
    become one tuple first, for both paths (`reshape(x, 2, 3)` is `reshape(x, (2, 3))`, as the
    methods of NumPy arrays allow).
    """
    def wrap(f):
        names = tuple(inspect.signature(f).parameters)[by_name_from or 0:]

        @functools.wraps(f)
        def call(*args, **kwargs):
            if gather_from is not None and len(args) > gather_from + 1:
                args = args[:gather_from] + (args[gather_from:],)
            if _STAGING[0] is None and not _DEBUG_NANS[0]:
                for a in args:  # `_traced`, its first level inlined: this is the hot path
                    if isinstance(a, Tracer) or (type(a) in _SEQUENCES and _traced(a)):
                        break
                else:
                    if not (kwargs and _traced(kwargs.values())):
                        if by_name_from is not None and len(args) > by_name_from:
                            kwargs.update(zip(names, args[by_name_from:]))
                            args = args[:by_name_from]
                        if kwargs and isinstance(np_fn, np.ufunc):  # positional-only there
                            args, kwargs = inspect.signature(f).bind(*args, **kwargs).args, {}
                        return np_fn(*args, **kwargs)
            return f(*args, **kwargs)
        return call
    return wrap


# --- canonicalisation -------------------------------------------------------------------------

def _aval(x) -> ShapedArray:
    return get_aval_of(x)


def no_out(name: str, out) -> None:
    """JAX's `out=` keyword: accepted as None only, as JAX does (arrays are immutable)."""
    if out is not None:
        raise FuncgradError(f"{name}: `out=` is not supported (arrays are immutable); use the "
                            f"returned array instead, at {user_frame()}")


def asarray(x, dtype=None):
    """`x` as an array: a tracer stays itself (cast to `dtype` if given); a (nested) list
    holding tracers becomes one traced array, as NumPy builds one from a list."""
    if isinstance(x, Tracer):
        return x if dtype is None or x.aval.dtype == np.dtype(dtype) else astype(x, dtype)
    if type(x) in (list, tuple) and _traced(x):
        xs = [asarray(a, dtype) for a in x]
        dt = result_dtype(*[_aval(a) for a in xs])[0]
        return concatenate([expand_dims(a if isinstance(a, Tracer) and _aval(a).dtype == dt
                                        else astype(a, dt), (0,)) for a in xs], 0)
    if is_gpu_array(x):  # a device array stays on its device (np.asarray would copy it out)
        return x if dtype is None else x.astype(dtype, copy=False)
    return np.asarray(x, dtype=dtype)


array = asarray


@numpy_fallback(lambda x, dtype: asarray(x).astype(dtype))
def astype(x, dtype):
    dtype = np.dtype(dtype)
    aval = _aval(x)
    return x if aval.dtype == dtype and not aval.weak_type else convert_element_type(x, dtype)


def _broadcast_pair(a: tuple, b: tuple) -> tuple:
    """NumPy's broadcast of two shapes (numpy.broadcast_shapes costs ~3x more)."""
    if a == b:
        return a
    n = len(a) - len(b)
    if n > 0:
        b = (1,) * n + b
    elif n < 0:
        a = (1,) * -n + a
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError
    return tuple(out)


def _broadcast_shapes(op: str, *shapes):
    try:
        if len(shapes) == 2:
            return _broadcast_pair(tuple(shapes[0]), tuple(shapes[1]))
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise FuncgradError(
            f"{op}: operands with shapes {' and '.join(map(str, shapes))} cannot be broadcast "
            f"together (NumPy's rule: trailing dimensions must be equal or 1), at {user_frame()}\n"
            f"Reshape one operand, e.g. `x[:, None]` or `fnp.expand_dims(x, axis)`.") from None


def _bcast(x, shape):
    aval = _aval(x)
    if aval.shape == tuple(shape):
        return x
    nd = len(shape)
    return broadcast_in_dim(x, shape, tuple(range(nd - aval.ndim, nd)))


@numpy_fallback(np.broadcast_to)
def broadcast_to(x, shape):
    shape = tuple(shape)
    _broadcast_shapes("broadcast_to", _aval(x).shape, shape)
    return _bcast(x, shape)


_PY_KINDS = {float: "fc", int: "iufc", complex: "c"}  # dtype kinds a Python scalar adopts


def _promote(op: str, *args, to_float: bool = False):
    """Common dtype (NEP 50) and broadcast shape; Python scalars stay weak literals."""
    if len(args) == 2:  # fast paths: tracer (op) tracer of one type, tracer (op) Python scalar
        x, y = args
        if isinstance(x, Tracer):
            ax = x.aval
            if isinstance(y, Tracer):
                ay = y.aval
                if (ax.dtype == ay.dtype and ax.weak_type == ay.weak_type
                        and (not to_float or ax.dtype.kind in "fc")):
                    if ax.shape == ay.shape:
                        return [x, y]
                    shape = _broadcast_shapes(op, ax.shape, ay.shape)  # same dtype: broadcast
                    return [_bcast(x, shape), _bcast(y, shape)]
            elif (not ax.weak_type and not ax.shape and ax.dtype.kind in _PY_KINDS.get(type(y), "")
                  and (not to_float or ax.dtype.kind in "fc")):
                return [x, ax.dtype.type(y)]
        elif isinstance(y, Tracer):
            ay = y.aval
            if (not ay.weak_type and not ay.shape and ay.dtype.kind in _PY_KINDS.get(type(x), "")
                    and (not to_float or ay.dtype.kind in "fc")):
                return [ay.dtype.type(x), y]
    elif len(args) == 1 and isinstance(args[0], Tracer):
        kind = args[0].aval.dtype.kind
        if not to_float or kind in "fc":
            return [args[0]]
    avals = [_aval(a) for a in args]
    dt, weak = result_dtype(*avals)
    if to_float and not is_float(dt):
        dt = np.dtype(np.float64)
    shape = _broadcast_shapes(op, *[a.shape for a in avals]) if len(args) > 1 else avals[0].shape
    out = []
    for a, av in zip(args, avals):
        if not isinstance(a, Tracer):
            if type(a) not in (int, float, complex):
                a = asarray(a, dtype=dt)
            elif not weak:  # joins a strong dtype as a NumPy scalar (device arrays accept it)
                a = dt.type(a)
            elif av.dtype != dt:  # a weak result: stays a (weak) Python scalar of dt's kind
                a = complex(a) if dt.kind == "c" else float(a)
        elif av.dtype != dt:
            a = convert_element_type(a, dt, weak)
        out.append(_bcast(a, shape))
    return out


# --- creation (arrays of the device they are made for, embedded as constants when traced) -----

tril_indices = np.tril_indices


def _on(make, like=None):
    """`make(xp)` with the array module of the device the array is for: that of `like` (an
    array), else where constants are made now (the CPU, or the GPU of the transform or jitted
    call running on GPU arrays), as NumPy's `like=` and JAX's default device decide."""
    dev = device_of(like) if like is not None and not isinstance(like, Tracer) else \
        current_device()
    if dev.platform == "cpu":
        return make(np)
    cp = cupy_backend.cupy_module()
    with cp.cuda.Device(dev.index):
        return make(cp)


def _creation(name):  # NumPy's function (signature, `like=`), made on `_on`'s device
    @functools.wraps(getattr(np, name))
    def make(*args, like=None, **kwargs):
        return _on(lambda xp: getattr(xp, name)(*args, **kwargs), like)
    return make


zeros, ones, full, eye, identity, arange, linspace, tri = map(_creation, (
    "zeros", "ones", "full", "eye", "identity", "arange", "linspace", "tri"))
empty = zeros


def _dt(x, dtype):
    return np.dtype(dtype) if dtype is not None else _aval(x).dtype


def zeros_like(x, dtype=None):  # on x's device (a traced x: where constants are made now)
    return zeros(_aval(x).shape, _dt(x, dtype), like=x)


def ones_like(x, dtype=None):
    return ones(_aval(x).shape, _dt(x, dtype), like=x)


def full_like(x, fill_value, dtype=None):
    return full(_aval(x).shape, fill_value, _dt(x, dtype), like=x)


empty_like = zeros_like
