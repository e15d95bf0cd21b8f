"""`funcgrad.scipy.signal`: n-D convolve/correlate (modes full, same, valid) and convolve2d,
like `scipy.signal`, composed of shifted, padded copies of the larger input (one per element of
the smaller one): direct convolution, suited to the small kernels of signal processing and
differentiable in both inputs."""
from __future__ import annotations

import itertools

from .. import numpy as fnp
from ..core import FuncgradError, user_frame


def _crop(full, shape1, shape2, mode):
    if mode == "full":
        return full
    if mode == "same":
        starts = [(k - 1) // 2 for k in shape2]
        return full[tuple(slice(s, s + n) for s, n in zip(starts, shape1))]
    if not (all(a >= b for a, b in zip(shape1, shape2)) or all(a <= b for a, b in
                                                               zip(shape1, shape2))):
        raise FuncgradError(f"convolve: mode 'valid' needs one input at least as large as the "
                            f"other in every dimension, got {shape1} and {shape2}, at "
                            f"{user_frame()}")
    lo = [min(a, b) - 1 for a, b in zip(shape1, shape2)]
    return full[tuple(slice(s, s + abs(a - b) + 1) for s, a, b in zip(lo, shape1, shape2))]


def convolve(in1, in2, mode="full", method="direct", precision=None):
    """The n-D convolution of `in1` and `in2` (equal ndim), like `scipy.signal.convolve`."""
    if mode not in ("full", "same", "valid"):
        raise FuncgradError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    s1, s2 = fnp.shape(in1), fnp.shape(in2)
    if len(s1) != len(s2):
        raise FuncgradError(f"convolve: in1 and in2 must have the same number of dimensions, "
                            f"got shapes {s1} and {s2}, at {user_frame()}")
    big, small = (in1, in2) if fnp.size(in1) >= fnp.size(in2) else (in2, in1)
    ss = fnp.shape(small)
    out = None
    for k in itertools.product(*map(range, ss)):  # full[n] = sum_k small[k] big[n - k]
        term = small[k] * fnp.pad(big, [(i, n - 1 - i) for i, n in zip(k, ss)])
        out = term if out is None else out + term
    return _crop(out, s1, s2, mode)


def correlate(in1, in2, mode="full", method="direct", precision=None):
    """The n-D cross-correlation, `convolve(in1, flip(conj(in2)))`, like
    `scipy.signal.correlate`."""
    in2 = fnp.asarray(in2)
    return convolve(in1, fnp.flip(fnp.conj(in2) if in2.dtype.kind == "c" else in2), mode)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, precision=None):
    """2-D convolution, like `scipy.signal.convolve2d` (zero-filled boundary only)."""
    if boundary != "fill" or fillvalue != 0:
        raise FuncgradError("convolve2d: only boundary='fill' with fillvalue=0 is supported; pad "
                            "the input yourself (fnp.pad with mode='wrap'/'symmetric') and use "
                            "mode='valid'")
    if fnp.ndim(in1) != 2 or fnp.ndim(in2) != 2:
        raise FuncgradError(f"convolve2d: inputs must be 2-D, got {fnp.shape(in1)} and "
                            f"{fnp.shape(in2)}")
    return convolve(in1, in2, mode)
