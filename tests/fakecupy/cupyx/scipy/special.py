"""`cupyx.scipy.special` for the CuPy stand-in: SciPy's functions run on the arrays behind device
operands, results are device arrays, and host arrays are refused (`Unsupported type`) as CuPy's
ufuncs refuse them; Python and NumPy scalars are accepted. Only the functions funcgrad calls,
each of which CuPy 14 has (an unknown name is an AttributeError)."""
import cupy
import scipy.special as _sp

_NAMES = ("gammaln digamma polygamma erf erfc erfinv ndtri log_ndtr gammainc gammaincc betainc "
          "i0 i0e i1 i1e j0 j1 y0 y1 yn zeta").split()
globals().update({n: cupy._device_fn(getattr(_sp, n), n) for n in _NAMES})
