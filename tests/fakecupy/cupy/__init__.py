"""A strict CPU stand-in for CuPy, for tests only: `import cupy` finds it when the test run (or a
subprocess) puts `tests/fakecupy` first on `sys.path`; it is never installed.

What it models, because funcgrad's GPU path depends on it:
- `cupy.ndarray` is a NumPy array in a box that owns its "device memory": implicit conversion to
  NumPy is refused as CuPy refuses it (`np.asarray(x)` and `np.array(x)` raise TypeError; there
  is no `__array_interface__`); `x.get()`, `cupy.asnumpy(x)` copy to the host. Arrays carry a
  device id; `__cuda_array_interface__`, `.device.id`, `__dlpack_device__` (kDLCUDA) are present.
- Host operands are refused where CuPy refuses them: a `numpy.ndarray` (0-d included) as an
  operand of a ufunc, an operator, `ElementwiseKernel` or any other device function raises
  TypeError ("Unsupported type"), except in the 6 comparison ufuncs, where CuPy turns a 0-d
  host array into a scalar; Python scalars and NumPy scalars (`np.float32(1)`) are accepted;
  `x[idx] = host_array` raises ValueError (CuPy routes it through `fill`); host index arrays
  in `x[idx]` are accepted (CuPy copies them over).
- NumPy functions called on device arrays dispatch here (`__array_ufunc__`, `__array_function__`,
  as CuPy does), and results are device arrays: reductions give 0-d arrays, never NumPy scalars.
- `ElementwiseKernel(in_params, out_params, operation, name)` keeps CuPy's parameter parsing,
  dtype checks ("Type is mismatched"), broadcasting and output checks, and RUNS the C body:
  it is compiled as C++ by g++ on the CPU (once per source, cached on disk) with a prelude that
  mirrors the CUDA device functions kernels use: `max`/`min` on floats are `fmax`/`fmin`
  (they drop NaN, as on the GPU), `float16` is CuPy's class (implicit from float only).
- `ReductionKernel` (`_reduction.py`): CuPy's signature and checks, its map/reduce/post-map
  template run as C++ the same way.
- `cupy.cuda`: `Device(i)` (a context manager; arrays are created on the current device),
  `runtime.getDeviceCount()` (1, or `$FAKECUPY_DEVICES`), `Stream`, `get_current_stream`.
  Operands on two devices in one kernel raise ValueError (a machine without peer access).
- `cupy.linalg` (solve, inv, cholesky, qr, svd, eigh, det, slogdet, norm), `cupy.fft` (the
  fft/rfft families) and `cupyx.scatter_add`.
- `x.data.ptr`, a device address: a key into the registry of live device buffers
  (`_device_bytes`), which `cupy.cuda.nccl` (`_nccl.py`: NCCL's multi-process API, run over MPI
  on host copies) reads and writes through; `Stream.ptr` (0 for the null stream).

What it does not model: speed, asynchrony, memory limits, NVRTC (g++ accepts C++ that NVRTC
rejects, such as `pow(int, int)`; `tests/test_nvrtc.py` compiles kernels with the real NVRTC),
CUDA's math-library ulp differences, `RawKernel`, and functions CuPy has that
funcgrad does not call (an unknown name is an AttributeError, not a silent NumPy fallback). It is
stricter than CuPy in one way: functions that CuPy implements as a method call on their first
argument (`cupy.sum(host_array)` returns a NumPy array there) refuse a host array here too.
"""
from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys
import tempfile
import types
import weakref

import numpy

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")
_SCALARS = (int, float, complex, bool, numpy.generic)


# --- devices and streams -----------------------------------------------------------------------
class CUDARuntimeError(RuntimeError):
    pass


def _device_count() -> int:
    return int(os.environ.get("FAKECUPY_DEVICES", "1"))


_current = [0]


class Device:
    def __init__(self, device=None):
        self.id = _current[0] if device is None else int(device)
        if not 0 <= self.id < _device_count():
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._prev: list[int] = []

    def __enter__(self):
        self._prev.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc):
        _current[0] = self._prev.pop()

    def use(self):
        _current[0] = self.id

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    null = None

    def __init__(self, non_blocking=False, ptr=None):
        self.ptr = id(self) if ptr is None else ptr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def synchronize(self):
        pass

    def use(self):
        return self


Stream.null = Stream(ptr=0)


def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


runtime = _module("cupy.cuda.runtime", getDeviceCount=_device_count,
                  CUDARuntimeError=CUDARuntimeError,
                  getDevice=lambda: _current[0], setDevice=lambda i: Device(i).use(),
                  deviceSynchronize=lambda: None)
cuda = _module("cupy.cuda", Device=Device, Stream=Stream, runtime=runtime,
               get_current_stream=lambda: Stream.null, is_available=lambda: _device_count() > 0)


# --- arrays --------------------------------------------------------------------------------------
def _unwrap(x, where="cupy", dev=None):
    """The NumPy value behind a device operand; host arrays are refused, as CuPy refuses them."""
    if isinstance(x, ndarray):
        if dev is not None and dev[0] is not None and dev[0] != x._dev:
            raise ValueError(f"The device where the array resides ({x._dev}) is different from "
                             f"the current device ({dev[0]}). Peer access is unavailable "
                             f"between these devices.")
        if dev is not None:
            dev[0] = x._dev
        return x._a
    if isinstance(x, numpy.ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, where, dev) for v in x)
    return x


def _wrap(r, dev=None):
    if isinstance(r, numpy.ndarray):
        return ndarray._box(r, dev)
    if isinstance(r, numpy.generic) and not isinstance(r, (numpy.str_, numpy.bytes_)):
        return ndarray._box(numpy.asarray(r), dev)
    if isinstance(r, tuple):
        return tuple(_wrap(v, dev) for v in r)
    if isinstance(r, list):
        return [_wrap(v, dev) for v in r]
    return r


def _device_fn(fn, name):
    """A NumPy function as a device function: device operands only, device results."""
    def f(*args, **kwargs):
        dev = [None]
        args = _unwrap(list(args), name, dev)
        kwargs = {k: _unwrap(v, name, dev) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs), dev[0])
    f.__name__ = f.__qualname__ = name
    return f


class ndarray:
    """A device array: a NumPy array that refuses implicit conversion to the host."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = numpy.empty(shape, dtype, order=order)
        self._dev = _current[0]

    @classmethod
    def _box(cls, a, dev=None):
        self = object.__new__(cls)
        self._a = a
        self._dev = _current[0] if dev is None else dev
        return self

    # host conversion: explicit only
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            out[...] = self._a
            return out
        return numpy.array(self._a, order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, numpy.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype or arr.shape != self.shape:
            raise TypeError(f"{arr.dtype}{arr.shape} array cannot be set to "
                            f"{self.dtype}{self.shape} array")
        self._a[...] = arr

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "version": 3,
                "data": (self._a.ctypes.data, False),
                "strides": None if self._a.flags.c_contiguous else self._a.strides}

    def __dlpack_device__(self):
        return (2, self._dev)  # kDLCUDA

    def __dlpack__(self, stream=None, **kwargs):
        raise TypeError("fakecupy: a device array cannot be exported to a host consumer")

    @property
    def device(self):
        return Device(self._dev)

    @property
    def data(self):
        """The device memory: `.ptr` is the address of the first element."""
        key = id(self)
        _LIVE[key] = weakref.ref(self, lambda _, key=key: _LIVE.pop(key, None))
        return MemoryPointer(self._a.ctypes.data, self._dev)

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._box(self._a.T, self._dev))
    mT = property(lambda self: ndarray._box(numpy.swapaxes(self._a, -1, -2), self._dev))
    real = property(lambda self: ndarray._box(self._a.real, self._dev))
    imag = property(lambda self: ndarray._box(self._a.imag, self._dev))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray._box(v, self._dev) for v in self._a) if self._a.ndim > 1 else \
            (ndarray._box(numpy.asarray(v), self._dev) for v in self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def __hash__(self):
        raise TypeError("unhashable type: 'cupy.ndarray'")

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __copy__(self):
        return ndarray._box(self._a.copy(), self._dev)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce__(self):  # pickling goes through the host, as in CuPy
        return (_from_host, (self._a.copy(),))

    # indexing
    def __getitem__(self, idx):
        return _wrap(self._a[_index(idx, self._dev)], self._dev)

    def __setitem__(self, idx, value):
        if isinstance(value, numpy.ndarray):
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        self._a[_index(idx, self._dev)] = _unwrap(value, "setitem", [self._dev])

    # numpy protocols: dispatch to this module, as CuPy does
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _UFUNCS.get(ufunc.__name__)
        if fn is None or method not in ("__call__", "outer", "at", "reduce", "accumulate"):
            return NotImplemented
        for x in inputs + tuple(kwargs.get("out", ()) or ()):
            if not isinstance(x, (ndarray, numpy.ndarray) + _SCALARS):
                return NotImplemented
        if "out" in kwargs:
            out = kwargs["out"]
            kwargs["out"] = out[0] if isinstance(out, tuple) and len(out) == 1 else out
        if ufunc.__name__ in _COMPARISONS:
            inputs = tuple(x.item() if isinstance(x, numpy.ndarray) and x.ndim == 0 else x
                           for x in inputs)
        f = fn if method == "__call__" else getattr(fn, method)
        return f(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        mod = sys.modules[__name__]
        for part in func.__module__.split(".")[1:]:
            mod = getattr(mod, part, None)
            if mod is None:
                return NotImplemented
        f = getattr(mod, func.__name__, None)
        if f is None or f is func:
            return NotImplemented
        if not all(issubclass(t, (ndarray, numpy.ndarray)) for t in types_):
            return NotImplemented
        return f(*args, **kwargs)

    def __getattr__(self, name):
        if name in _METHODS:
            meth = getattr(self._a, name)
            return _device_fn(meth, name)
        raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")


class MemoryPointer:
    __slots__ = ("ptr", "device_id")

    def __init__(self, ptr, device_id):
        self.ptr, self.device_id = ptr, device_id


_LIVE: dict = {}  # id -> weak reference of each live device array whose address was taken


def _device_bytes(ptr: int, nbytes: int, dev: int) -> numpy.ndarray:
    """The `nbytes` bytes of device memory at address `ptr` on device `dev`, as a writable
    host view; an address outside every live device array of `dev` is an invalid pointer."""
    for ref in list(_LIVE.values()):
        x = ref()
        if x is None:
            continue
        a = x._a
        start = a.ctypes.data
        if x._dev == dev and a.flags.c_contiguous and start <= ptr and \
                ptr + nbytes <= start + a.nbytes:
            return a.reshape(-1).view(numpy.uint8)[ptr - start:ptr - start + nbytes]
    from ._nccl import NcclError
    raise NcclError(f"NCCL_ERROR_INVALID_ARGUMENT: {nbytes} bytes at {ptr:#x} are not in a "
                    f"device buffer of device {dev} (invalid device pointer)")


_METHODS = frozenset(
    "reshape astype transpose swapaxes sum prod max min mean var std argmax argmin cumsum "
    "cumprod ravel flatten copy squeeze repeat take clip any all dot conj conjugate fill view "
    "nonzero sort argsort round diagonal trace partition argpartition".split())


def _from_host(a):
    return ndarray._box(a)


def _index(idx, dev):
    """An index for the NumPy array behind a device array; host index arrays are copied over."""
    if isinstance(idx, tuple):
        return tuple(_index(i, dev) for i in idx)
    if isinstance(idx, ndarray):
        return _unwrap(idx, "index", [dev])
    return idx


def _binop(name, reflected=False):
    def op(self, other):
        if not isinstance(other, (ndarray, numpy.ndarray) + _SCALARS):
            return NotImplemented
        return _UFUNCS[name](other, self) if reflected else _UFUNCS[name](self, other)
    return op


for _dunder, _name in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                       ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                       ("mod", "remainder"), ("pow", "power"), ("matmul", "matmul"),
                       ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor"),
                       ("lshift", "left_shift"), ("rshift", "right_shift")]:
    setattr(ndarray, f"__{_dunder}__", _binop(_name))
    setattr(ndarray, f"__r{_dunder}__", _binop(_name, True))

    def _inplace(self, other, _n=_name):
        _UFUNCS[_n](self, other, out=self)
        return self
    setattr(ndarray, f"__i{_dunder}__", _inplace)
for _dunder, _name in [("eq", "equal"), ("ne", "not_equal"), ("lt", "less"),
                       ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")]:
    setattr(ndarray, f"__{_dunder}__", _binop(_name))
ndarray.__neg__ = lambda self: _UFUNCS["negative"](self)
ndarray.__pos__ = lambda self: _UFUNCS["positive"](self)
ndarray.__abs__ = lambda self: _UFUNCS["absolute"](self)
ndarray.__invert__ = lambda self: _UFUNCS["invert"](self)


# --- ufuncs --------------------------------------------------------------------------------------
_COMPARISONS = frozenset("greater greater_equal less less_equal equal not_equal".split())


class ufunc:
    """A NumPy ufunc on device operands (host arrays refused), with `at`, `reduce`, `outer`."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = self.name = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def _apply(self, method, args, kwargs):
        dev = [None]
        args = [_unwrap(a, self.name, dev) for a in args]
        if "out" in kwargs and kwargs["out"] is not None:
            out = kwargs["out"]
            if isinstance(out, tuple):
                kwargs["out"] = tuple(_unwrap(o, self.name, dev) for o in out)
            elif not isinstance(out, ndarray):
                raise TypeError("Output arguments type must be cupy.ndarray")
            else:
                kwargs["out"] = _unwrap(out, self.name, dev)
        return args, kwargs, dev[0]

    def __call__(self, *args, **kwargs):
        args, kwargs, dev = self._apply("__call__", args, kwargs)
        return _wrap(self._u(*args, **kwargs), dev)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise TypeError(f"Unsupported type {type(a)}")
        dev = [a._dev]
        vals = () if b is None else (_unwrap(b, self.name, dev),)
        self._u.at(a._a, _index(indices, a._dev), *vals)

    def reduce(self, *args, **kwargs):
        args, kwargs, dev = self._apply("reduce", args, kwargs)
        return _wrap(self._u.reduce(*args, **kwargs), dev)

    def accumulate(self, *args, **kwargs):
        args, kwargs, dev = self._apply("accumulate", args, kwargs)
        return _wrap(self._u.accumulate(*args, **kwargs), dev)

    def outer(self, *args, **kwargs):
        args, kwargs, dev = self._apply("outer", args, kwargs)
        return _wrap(self._u.outer(*args, **kwargs), dev)

    def __repr__(self):
        return f"<ufunc '{self.name}'>"


_UFUNCS = {n: ufunc(u) for n, u in vars(numpy).items() if isinstance(u, numpy.ufunc)}
_UFUNCS["true_divide"] = _UFUNCS["divide"]
globals().update(_UFUNCS)


# --- module functions ----------------------------------------------------------------------------
def asarray(a, dtype=None, order=None, *, blocking=False):
    """Host data (or device data) as a device array on the current device."""
    if isinstance(a, ndarray):
        if dtype is None or numpy.dtype(dtype) == a.dtype:
            return a
        return ndarray._box(a._a.astype(dtype), a._dev)
    return ndarray._box(numpy.array(_unwrap_nested(a), dtype=dtype, order=order or "K"))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        return ndarray._box(numpy.array(obj._a, dtype=dtype, copy=copy, order=order,
                                        ndmin=ndmin), _current[0])
    return ndarray._box(numpy.array(_unwrap_nested(obj), dtype=dtype, order=order, ndmin=ndmin))


def _unwrap_nested(obj):  # cupy.array accepts sequences of device arrays too
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, (list, tuple)):
        return [_unwrap_nested(v) for v in obj]
    return obj


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(out=out)
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    return sys.modules[__name__] if builtins.any(isinstance(a, ndarray) for a in args) else numpy


def from_dlpack(x, *, device=None, copy=None):
    if isinstance(x, ndarray):
        return x
    if x.__dlpack_device__()[0] == 1:
        raise TypeError("fakecupy.from_dlpack: the producer's array lives on the host")
    raise TypeError(f"fakecupy.from_dlpack: unsupported producer {type(x)}")


fromDlpack = from_dlpack
_FUNCS = (
    "empty empty_like zeros zeros_like ones ones_like full full_like arange linspace eye "
    "identity tri tril triu diag diagflat meshgrid ascontiguousarray asfortranarray copy "
    "reshape ravel transpose swapaxes moveaxis squeeze expand_dims broadcast_to broadcast_arrays "
    "concatenate stack vstack hstack split array_split flip tile repeat pad roll atleast_1d "
    "atleast_2d where sum prod mean var std max min amax amin argmax argmin cumsum cumprod "
    "dot vdot matmul tensordot einsum outer inner trace diagonal take take_along_axis put "
    "argsort sort clip round around any all isclose allclose array_equal nonzero count_nonzero "
    "searchsorted unique shape ndim size result_type can_cast promote_types iinfo finfo "
    "nan_to_num nanmax nanmin nansum flatnonzero indices atleast_3d column_stack dstack fliplr "
    "flipud rot90 diff cross kron cov corrcoef histogram bincount argwhere lexsort median "
    "percentile quantile average real imag angle squeeze rollaxis resize append insert delete "
    "triu_indices tril_indices diag_indices ix_ unravel_index ravel_multi_index").split()
for _n in _FUNCS:
    if _n not in ("result_type", "can_cast", "promote_types", "iinfo", "finfo"):
        globals()[_n] = _device_fn(getattr(numpy, _n), _n)
result_type, can_cast, promote_types = numpy.result_type, numpy.can_cast, numpy.promote_types
iinfo, finfo, dtype, newaxis = numpy.iinfo, numpy.finfo, numpy.dtype, numpy.newaxis
inf, nan, pi, e = numpy.inf, numpy.nan, numpy.pi, numpy.e
for _t in ("bool_ int8 uint8 int16 uint16 int32 uint32 int64 uint64 float16 float32 float64 "
           "complex64 complex128 intp uintp integer floating inexact number generic").split():
    globals()[_t] = getattr(numpy, _t)

linalg = _module("cupy.linalg", **{n: _device_fn(getattr(numpy.linalg, n), n) for n in (
    "solve inv cholesky qr svd eigh eigvalsh det slogdet norm pinv lstsq matrix_power").split()})
fft = _module("cupy.fft", **{n: _device_fn(getattr(numpy.fft, n), n) for n in (
    "fft ifft rfft irfft fftn ifftn rfftn irfftn").split()})


# --- ElementwiseKernel ---------------------------------------------------------------------------
class _Param:
    __slots__ = ("dtype", "ctype", "name", "raw")

    def __init__(self, text):
        words = text.split()
        if len(words) < 2:
            raise Exception(f"Syntax error: {text}")
        t, self.name = words[-2:]
        self.raw = "raw" in words[:-2]
        for w in words[:-2]:
            if w not in ("raw", "_non_const"):
                raise Exception(f'Unknown keyword "{w}"')
        if len(t) == 1:
            self.dtype, self.ctype = None, t
        else:
            self.dtype = numpy.dtype(t)
            self.ctype = _CTYPE[self.dtype]


def _params(s):
    return [] if not s.strip() else [_Param(p) for p in s.strip().split(",")]


_CTYPE = {numpy.dtype(k): v for k, v in {
    "bool": "bool", "int8": "signed char", "uint8": "unsigned char", "int16": "short",
    "uint16": "unsigned short", "int32": "int", "uint32": "unsigned int", "int64": "long long",
    "uint64": "unsigned long long", "float16": "float16", "float32": "float",
    "float64": "double"}.items()}

# The device functions kernels call, as CUDA defines them (not as C++'s <cmath> does): `max` and
# `min` on floats are fmax/fmin, float16 is CuPy's class (cupy/float16.cuh): implicit from float,
# explicit from double and the integers, arithmetic through float.
_PRELUDE = r"""
#include <math.h>
#include <stddef.h>
class float16 {
  _Float16 data_;
 public:
  float16() {}
  float16(float v) : data_((_Float16)v) {}
  explicit float16(bool v) : data_((_Float16)(float)v) {}
  explicit float16(double v) : data_((_Float16)v) {}
  explicit float16(int v) : data_((_Float16)v) {}
  explicit float16(unsigned int v) : data_((_Float16)v) {}
  explicit float16(long long v) : data_((_Float16)v) {}
  explicit float16(unsigned long long v) : data_((_Float16)v) {}
  operator float() const { return (float)data_; }
  float16& operator=(const float16&) = default;
  template <typename T> float16& operator=(const T& rhs) {
    *this = static_cast<float16>(rhs); return *this; }
};
inline float max(float a, float b) { return fmaxf(a, b); }
inline float min(float a, float b) { return fminf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline float max(float a, double b) { return fmax(a, b); }
inline float max(double a, float b) { return fmax(a, b); }
inline float min(float a, double b) { return fmin(a, b); }
inline float min(double a, float b) { return fmin(a, b); }
#define FC_INT_MINMAX(T) \
  inline T max(T a, T b) { return a > b ? a : b; } \
  inline T min(T a, T b) { return a < b ? a : b; }
FC_INT_MINMAX(int) FC_INT_MINMAX(unsigned int) FC_INT_MINMAX(long long)
FC_INT_MINMAX(unsigned long long)
inline float16 max(float16 x, float16 y) { return float16(max(float(x), float(y))); }
inline float16 min(float16 x, float16 y) { return float16(min(float(x), float(y))); }
inline int isnan(float16 x) { return isnan(float(x)); }
inline int isinf(float16 x) { return isinf(float(x)); }
inline int isfinite(float16 x) { return isfinite(float(x)); }
#define __device__
struct _FakeIndexer { ptrdiff_t n; ptrdiff_t size() const { return n; } };
"""


def _cache_dir() -> str:
    d = os.environ.get("FAKECUPY_CACHE") or os.path.join(
        tempfile.gettempdir(), f"fakecupy-kernels-{os.getuid()}")
    os.makedirs(d, exist_ok=True)
    return d


_compiled: dict[str, object] = {}


def _compile(source: str):
    import ctypes
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    lib = _compiled.get(digest)
    if lib is not None:
        return lib
    path = os.path.join(_cache_dir(), f"k{digest}.so")
    if not os.path.exists(path):
        src = path[:-3] + f".{os.getpid()}.cpp"
        with open(src, "w") as f:
            f.write(source)
        tmp = path + f".{os.getpid()}.tmp"
        r = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-o", tmp, src],
                           capture_output=True, text=True)
        os.unlink(src)
        if r.returncode:
            raise CompileException(f"{r.stderr}\n--- kernel source ---\n{source}")
        os.replace(tmp, path)
    lib = _compiled[digest] = ctypes.CDLL(path)
    return lib


class CompileException(Exception):
    pass


class ElementwiseKernel:
    """CuPy's user-defined elementwise kernel: CuPy's argument checks, the body run as C++."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, **kwargs):
        if not name.isidentifier():
            raise ValueError(f'Invalid kernel name: "{name}"')
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        if "i" in [p.name for p in self.in_params + self.out_params]:
            raise ValueError("Can not use 'i' as a parameter name")
        self.operation, self.name, self.preamble = operation, name, preamble
        self.no_return, self.return_tuple = no_return, return_tuple

    def __call__(self, *args, size=None, stream=None, block_size=128):
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{self.nin} or {self.nargs} (with outputs), but given {len(args)}.")
        dev = [_current[0]]
        for a in args:
            if not isinstance(a, (ndarray,) + _SCALARS):
                raise TypeError(f"Unsupported type {type(a)}")
            if isinstance(a, ndarray):
                _unwrap(a, self.name, dev)
        ins, outs = list(args[:self.nin]), list(args[self.nin:])
        arrays = [a._a for a, p in zip(args, self.in_params + self.out_params)
                  if isinstance(a, ndarray) and not p.raw]
        if not arrays:
            raise ValueError("Loop size is undecided.")
        shape = numpy.broadcast_shapes(*[a.shape for a in arrays])
        in_types, out_types, type_map = self._decide_types(ins, outs)
        if not outs:
            outs = [ndarray._box(numpy.empty(shape, t), dev[0]) for t in out_types]
        for o in outs:
            if not isinstance(o, ndarray):
                raise TypeError("Output arguments type must be cupy.ndarray")
            if o.shape != shape:
                raise ValueError("Out shape is mismatched")
        ret = None if self.no_return else (
            outs[0] if self.nout == 1 and not self.return_tuple else tuple(outs))
        n = int(numpy.prod(shape))
        if n == 0:
            return ret
        bufs = []
        for a, t in zip(ins, in_types):
            v = a._a if isinstance(a, ndarray) else numpy.asarray(a).astype(t)
            bufs.append(numpy.ascontiguousarray(numpy.broadcast_to(v, shape) if v.ndim or
                                                isinstance(a, ndarray) else v.reshape(1)))
        out_bufs = [numpy.empty(shape, o.dtype) for o in outs]
        lib = _compile(self._source(ins, in_types, out_types, type_map))
        import ctypes
        ptrs = (ctypes.c_void_p * (len(bufs) + len(out_bufs)))(
            *[b.ctypes.data for b in bufs + out_bufs])
        lib.fakecupy_kernel(ctypes.c_longlong(n), ptrs)
        for o, b in zip(outs, out_bufs):
            o._a[...] = b
        return ret

    def _decide_types(self, ins, outs):  # CuPy's _decide_params_type_core
        type_dict: dict[str, numpy.dtype] = {}
        for p, a in zip(self.out_params, outs):
            if not isinstance(a, ndarray):
                raise TypeError("Output arguments must be cupy.ndarray")
            self._check(p, a.dtype, type_dict)
        for p, a in zip(self.in_params, ins):
            if isinstance(a, ndarray):
                self._check(p, a.dtype, type_dict)
        try:
            in_types = [type_dict[p.ctype] if p.dtype is None else p.dtype
                        for p in self.in_params]
            out_types = [type_dict[p.ctype] if p.dtype is None else p.dtype
                         for p in self.out_params]
        except KeyError as e:
            raise TypeError(f"Type is undecided: {e}") from None
        return in_types, out_types, sorted(type_dict.items())

    @staticmethod
    def _check(p, dt, type_dict):
        if p.dtype is not None:
            if dt != p.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {dt} {p.dtype}")
        elif p.ctype in type_dict:
            if type_dict[p.ctype] != dt:
                raise TypeError(f"Type is mismatched. {p.name} {dt} {type_dict[p.ctype]} "
                                f"{p.ctype}")
        else:
            type_dict[p.ctype] = dt

    def _source(self, ins, in_types, out_types, type_map):
        typedefs = "".join(f"typedef {_CTYPE[t]} {c};\n" for c, t in type_map)
        lines, k = [], 0
        for p, a, t in zip(self.in_params, ins, in_types):
            ref = f"((const {_CTYPE[t]}*)_p[{k}])"
            if p.raw:
                lines.append(f"const {_CTYPE[t]}* {p.name} = {ref};")
            elif isinstance(a, ndarray):
                lines.append(f"const {_CTYPE[t]} &{p.name} = {ref}[i];")
            else:
                lines.append(f"const {_CTYPE[t]} {p.name} = {ref}[0];")
            k += 1
        for p, t in zip(self.out_params, out_types):
            lines.append(f"{_CTYPE[t]} &{p.name} = (({_CTYPE[t]}*)_p[{k}])[i];")
            k += 1
        body = "\n    ".join(lines)
        return (f"{_PRELUDE}\n{typedefs}{self.preamble}\n"
                f'extern "C" void fakecupy_kernel(long long _n, void** _p) {{\n'
                f"  _FakeIndexer _ind = {{(ptrdiff_t)_n}}; (void)_ind;\n"
                f"  for (ptrdiff_t i = 0; i < _n; ++i) {{\n    {body}\n"
                f"    {self.operation};\n  }}\n}}\n")


def fuse(*args, **kwargs):  # accepted and ignored: the function runs unfused
    return (lambda f: f) if not args or not callable(args[0]) else args[0]


from . import _nccl as _nccl_model  # noqa: E402
from ._reduction import ReductionKernel  # noqa: E402,F401

sys.modules["cupy.cuda.nccl"] = _nccl_model  # `from cupy.cuda import nccl`, as in CuPy
__version__ = "14.0.0+fakecupy"
