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

import builtins
import functools
import inspect

import numpy as np

from .. import core
from ..avals import ShapedArray, is_float, result_dtype
from ..backend import as_device, cupy_backend, current_device, device_of, device_put, is_gpu_array
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
    methods of NumPy arrays allow), when they all are ints.
    """
    def wrap(f):
        names = tuple(inspect.signature(f).parameters)[by_name_from or 0:]

        @functools.wraps(f)
        def call(*args, **kwargs):
            if gather_from is not None and len(args) > gather_from + 1 and builtins.all(
                    type(a) is int for a in args[gather_from:]):
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


def np_reduction(np_fn):
    """`np_fn` for the NumPy fast path: JAX's defaults that NumPy spells as absent (None `out`,
    `initial`, `where`, `mean`, `correction`) are dropped; `promote_integers=False` keeps the
    operand's dtype."""
    def call(a, *, promote_integers=True, **kw):
        kw = {k: v for k, v in kw.items() if v is not None or k == "axis"}
        if not promote_integers and "dtype" not in kw:
            kw["dtype"] = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype
        return np_fn(a, **kw)
    return call


def sum_dtype(dtype, promote_integers):
    """NumPy's and JAX's accumulator: small integers and bools sum in the 64-bit integer of
    their sign (unsigned stays unsigned), unless `promote_integers=False`."""
    if not promote_integers or dtype.kind not in "biu" or (dtype.kind in "iu" and
                                                           dtype.itemsize == 8):
        return None
    return np.dtype(np.uint64 if dtype.kind == "u" else np.int64)


# --- canonicalisation -------------------------------------------------------------------------

def _aval(x) -> ShapedArray:
    return get_aval_of(x)


def no_out(name: str, out) -> None:
    """JAX's `out=` keyword: accepted as None only, as JAX does (arrays are immutable)."""
    if out is not None:
        raise FuncgradError(f"{name}: `out=` is not supported (arrays are immutable); use the "
                            f"returned array instead, at {user_frame()}")


def asarray(a, dtype=None, order=None, *, copy=None, device=None, out_sharding=None):
    """`a` as an array: a tracer stays itself (cast to `dtype` if given); a (nested) list
    holding tracers becomes one traced array, as NumPy builds one from a list. `device=` puts a
    concrete array there (traced values live where their computation runs); `order` and `copy`
    are NumPy's for concrete arrays (arrays are immutable: a copy is never needed)."""
    if device is not None or out_sharding is not None:
        return _placed(asarray(a, dtype, order, copy=copy), device, out_sharding, "asarray")
    if isinstance(a, Tracer):
        return a if dtype is None or a.aval.dtype == np.dtype(dtype) else astype(a, dtype)
    if type(a) in (list, tuple) and _traced(a):
        xs = [asarray(x, dtype) for x in a]
        dt = result_dtype(*[_aval(x) for x in xs])[0]
        return concatenate([expand_dims(x if isinstance(x, Tracer) and _aval(x).dtype == dt
                                        else astype(x, dt), (0,)) for x in xs], 0)
    if is_gpu_array(a):  # a device array stays on its device (np.asarray would copy it out)
        return a if dtype is None else a.astype(dtype, copy=False)
    return np.asarray(a, dtype=dtype, order=order, copy=copy)


def _placed(x, device, out_sharding, name):
    """`x` on `device` (None: where it is; a traced value: where its computation runs).
    `out_sharding` is JAX's sharding control: funcgrad does not shard, so only None."""
    if out_sharding is not None:
        raise FuncgradError(f"{name}: `out_sharding=` is not supported (funcgrad does not shard "
                            f"arrays); pass device= instead, at {user_frame()}")
    return x if device is None or isinstance(x, Tracer) else device_put(x, device)


def contraction_operands(name, a, b, preferred_element_type, out_sharding):
    """JAX's contraction keywords: `preferred_element_type` casts both operands first (the
    result has that dtype), `out_sharding` is None only. (`precision`, also accepted, selects
    XLA's matmul algorithm: funcgrad always computes in the operands' dtype.)"""
    _placed(None, None, out_sharding, name)
    if preferred_element_type is None:
        return a, b
    return astype(a, preferred_element_type), astype(b, preferred_element_type)


def np_contraction(np_fn):
    """`np_fn(a, b, ...)` for the NumPy fast path, taking JAX's contraction keywords."""
    def call(a, b, *args, precision=None, preferred_element_type=None, out_sharding=None, **kw):
        a, b = contraction_operands(np_fn.__name__, a, b, preferred_element_type, out_sharding)
        return np_fn(a, b, *args, **kw)
    return call


def array(object, dtype=None, *args, copy=True, order="K", ndmin=0, device=None,  # noqa: A002
          out_sharding=None):
    """A new array from `object`, like `numpy.array` (with JAX's `device=`)."""
    if args:
        raise TypeError(f"array: takes at most 2 positional arguments, got {2 + len(args)}")
    out = asarray(object, dtype)
    if not isinstance(out, Tracer) and not is_gpu_array(out):
        out = np.array(out, copy=copy, order=order)
    nd = _aval(out).ndim
    if ndmin > nd:
        out = broadcast_in_dim(out, (1,) * (ndmin - nd) + _aval(out).shape,
                               tuple(range(ndmin - nd, ndmin)))
    return _placed(out, device, out_sharding, "array")


@numpy_fallback(lambda x, dtype, /, *, copy=False, device=None:
                _placed(asarray(x).astype(dtype), device, None, "astype"))
def astype(x, dtype, /, *, copy=False, device=None):
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


@numpy_fallback(lambda array, shape, *, out_sharding=None: np.broadcast_to(
    array, shape) if out_sharding is None else _placed(array, None, out_sharding, "broadcast_to"))
def broadcast_to(array, shape, *, out_sharding=None):
    _placed(array, None, out_sharding, "broadcast_to")
    shape = tuple(shape)
    _broadcast_shapes("broadcast_to", _aval(array).shape, shape)
    return _bcast(array, shape)


_PY_KINDS = {float: "fc", int: "iufc", complex: "c"}  # dtype kinds a Python scalar adopts


def _promote(op: str, *args, to_float: bool = False):
    """Common dtype (NEP 50) and broadcast shape; Python scalars stay weak literals."""
    if len(args) == 2:  # fast paths: tracer (op) tracer of one type, tracer (op) Python scalar
        x, y = args
        if isinstance(x, Tracer):
            ax = x.aval
            if isinstance(y, Tracer):
                ay = y.aval
                # one dtype: the result's whatever their weak types (a weak operand of a
                # strong one's dtype joins it; two weak ones of one dtype keep it)
                if ax.dtype == ay.dtype and (not to_float or ax.dtype.kind in "fc"):
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


def _on(make, like=None, device=None):
    """`make(xp)` with the array module of the device the array is for: `device`, else that of
    `like` (an array), else where constants are made now (the CPU, or the GPU of the transform or
    jitted call running on GPU arrays), as NumPy's `like=` and JAX's default device decide."""
    dev = as_device(device) if device is not None else device_of(like) if (
        like is not None and not isinstance(like, Tracer)) else current_device()
    if dev.platform == "cpu":
        return make(np)
    cp = cupy_backend.cupy_module()
    with cp.cuda.Device(dev.index):
        return make(cp)


def _creation(name):  # NumPy's function (`like=`; JAX's `device=`), made on `_on`'s device
    @functools.wraps(getattr(np, name))
    def make(*args, like=None, device=None, out_sharding=None, **kwargs):
        _placed(None, None, out_sharding, name)
        return _on(lambda xp: getattr(xp, name)(*args, **kwargs), like, device)
    return make


zeros, ones, full, eye, identity, arange, linspace, tri = map(_creation, (
    "zeros", "ones", "full", "eye", "identity", "arange", "linspace", "tri"))
empty = zeros


def _like(name, fill, a, dtype, shape, device, out_sharding):
    """An array of `a`'s shape (or `shape`) and dtype (or `dtype`) filled with `fill`, on
    `device` or else `a`'s (a traced `a`: where constants are made now)."""
    _placed(None, None, out_sharding, name)
    shape = _aval(a).shape if shape is None else (shape,) if isinstance(shape, int) else shape
    dt = np.dtype(dtype) if dtype is not None else _aval(a).dtype
    return _on(lambda xp: xp.full(tuple(shape), fill, dt), a, device)


def zeros_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    return _like("zeros_like", 0, a, dtype, shape, device, out_sharding)


def ones_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    return _like("ones_like", 1, a, dtype, shape, device, out_sharding)


def full_like(a, fill_value, dtype=None, shape=None, *, device=None, out_sharding=None):
    if isinstance(fill_value, Tracer) or is_gpu_array(fill_value):  # a traced or device fill
        return _bcast(astype(fill_value, dtype if dtype is not None else _aval(a).dtype),
                      _aval(a).shape if shape is None else tuple(shape))
    return _like("full_like", fill_value, a, dtype, shape, device, out_sharding)


def empty_like(prototype, dtype=None, shape=None, *, device=None):
    return zeros_like(prototype, dtype, shape, device=device)
