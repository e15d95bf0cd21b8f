"""Complex primitives: real, imag and conj. One block each.

The transposes follow the convention that a cotangent `c` of a complex value `z` stands for the
real linear functional `t -> Re(c * t)` (not conjugated), so that `grad(abs)(3+4j)` is
`0.6-0.8j`: real's transpose is `ct + 0j`, imag's `-1j * ct` and conj's `conj(ct)`. Never fused
into GPU kernels (the C types there are real).
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray, real_dtype
from ..backend.fusion import register_c_expr
from ..backend.numpy_codegen import register_emitter, ufunc_emitter
from ..core import NOT_APPLICABLE
from .batching import broadcasting_batcher
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import deflinear, full_like, unop_abstract_eval


def _to_real(x, **_):
    return [ShapedArray(x.shape, real_dtype(x.dtype), x.weak_type)]


for _p, _impl, _aeval in ((real_p, np.real, _to_real), (imag_p, np.imag, _to_real),
                          (conj_p, np.conjugate, unop_abstract_eval)):
    _p.impl, _p.abstract_eval, _p.batch = _impl, _aeval, broadcasting_batcher(_p)
    register_c_expr(_p, NOT_APPLICABLE)
register_emitter(conj_p, ufunc_emitter(np.conjugate), broadcasts_from=0)

deflinear(real_p, lambda ct, x: [convert_element_type(ct, x.aval.dtype)])
deflinear(imag_p, lambda ct, x: [mul(convert_element_type(ct, x.aval.dtype),
                                     full_like(x, -1j))])
deflinear(conj_p, lambda ct, x: [conj(ct)])
