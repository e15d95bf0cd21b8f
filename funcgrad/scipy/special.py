"""`funcgrad.scipy.special`: numerically stable special functions."""
from __future__ import annotations

from .. import numpy as fnp


def logsumexp(a, axis=None, keepdims=False):
    """`log(sum(exp(a)))`, shifted by the (gradient-stopped) max so it never overflows."""
    m = fnp.stop_gradient(fnp.max(a, axis=axis, keepdims=True))
    m = fnp.where(fnp.isfinite(m), m, 0.0)
    out = fnp.log(fnp.sum(fnp.exp(fnp.subtract(a, m)), axis=axis, keepdims=True)) + m
    return out if keepdims else fnp.squeeze(out, axis=axis)
