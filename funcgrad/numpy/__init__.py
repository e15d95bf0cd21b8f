"""funcgrad.numpy (`fnp`): the NumPy-like API over primitives, for arrays and tracers alike.

Every function canonicalises its arguments (NEP 50 dtype promotion with weak Python scalars,
explicit `broadcast_in_dim`) before binding primitives, so primitive rules stay shape-simple. On
plain NumPy arrays outside any transform, each function calls NumPy directly.

This package only re-exports. Its modules, each importing only those before it:
- `_base.py`: canonicalisation (asarray, astype, promotion, broadcasting), the NumPy fast path
  (`numpy_fallback`), constants, dtype names and array creation;
- `ufuncs.py`: elementwise functions, `where`, `clip`, and composites over them;
- `shapes.py`: reductions, scans and shape manipulation;
- `indexing.py`: indexing, `at`, gathers and sorting, diagonals;
- `contractions.py`: matmul, dot, tensordot, einsum;
- `linalg.py`: `fnp.linalg`;
- `fft.py`: `fnp.fft`;
- `extra.py`: aliases, dtype names, more elementwise composites, stacking helpers and the
  functions defined on concrete values only;
- `rearrange.py`: stacking, splitting and rearranging helpers, select/choose/piecewise;
- `statistics.py`: quantiles, `nan*` reductions, cov, interpolation, convolution, counting;
- `sets.py`: unique, union1d, ... and argwhere/flatnonzero/extract, with JAX's `size=`;
- `polynomial.py`: products (kron, cross, vecdot) and the polynomial helpers;
- `ufunc_objects.py`: `fnp.ufunc`, and add, multiply, maximum, ... as ufunc objects with
  reduce/accumulate/outer/reduceat/at;
- `_operators.py`: fills the tracer operator table (`x * y`, `x.sum()`, `np.sin(x)`).
"""
from . import _operators, fft, linalg  # noqa: F401  (_operators: the tracer operator table)
from ._base import *  # noqa: F401,F403
from .contractions import *  # noqa: F401,F403
from .extra import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .polynomial import *  # noqa: F401,F403
from .rearrange import *  # noqa: F401,F403
from .sets import *  # noqa: F401,F403
from .shapes import *  # noqa: F401,F403
from .statistics import *  # noqa: F401,F403
from .ufuncs import *  # noqa: F401,F403

# isort: split
from .ufunc_objects import *  # noqa: F401,F403  (last: add ... negative as ufunc objects)
