"""The discrete Fourier transform: one linear primitive, `fft`, over the trailing axes.

`fft_type` is NumPy's transform ("fft", "ifft": complex to complex; "rfft": real to the half
spectrum; "irfft": half spectrum to real, with NumPy's default "backward" normalisation) or the
transpose of one of the last two ("rfft_t", "irfft_t"); `fft_lengths` are the signal lengths of
the transformed axes (the last `len(fft_lengths)` axes). Transposes pair up as in JAX: fft with
fft, ifft with ifft, rfft with rfft_t (`real(fft(pad(ct)))`: rfft is "complexify, fft, keep the
first half"), irfft with irfft_t (`conj(rfft(ct) * mask / n)`, the mask doubling the bins the half
spectrum stands for twice), so reverse mode and every order of derivative stay in the family.
The impl is the array module's `fft` (NumPy's pocketfft, or cuFFT through CuPy for GPU arrays).
"""
from __future__ import annotations

import math

import numpy as np

from ..avals import ShapedArray
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE
from ..errors import ShapeError
from .batching import bdim_at_front
from .ops import fft, fft_p
from .rules import deflinear
from .rules import xp_of as _xp

_TRANSPOSE = {"fft": "fft", "ifft": "ifft", "rfft": "rfft_t", "rfft_t": "rfft",
              "irfft": "irfft_t", "irfft_t": "irfft"}
_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64),
            np.dtype(np.float64): np.dtype(np.complex128)}
_REAL = {c: r for r, c in _COMPLEX.items()}


def _half(lengths):
    return tuple(lengths[:-1]) + (lengths[-1] // 2 + 1,)


def _fft_impl(x, *, fft_type, fft_lengths):
    xp = _xp(x)
    f, axes = xp.fft, tuple(range(-len(fft_lengths), 0))
    if fft_type in ("fft", "ifft"):
        return (f.fftn if fft_type == "fft" else f.ifftn)(x, axes=axes).astype(x.dtype, copy=False)
    if fft_type == "rfft":
        return f.rfftn(x, axes=axes).astype(_COMPLEX[x.dtype], copy=False)
    if fft_type == "irfft":
        return f.irfftn(x, s=fft_lengths, axes=axes).astype(_REAL[x.dtype], copy=False)
    if fft_type == "rfft_t":  # real(fft(zero-padded ct))
        pad = [(0, 0)] * (x.ndim - 1) + [(0, fft_lengths[-1] - x.shape[-1])]
        return f.fftn(xp.pad(x, pad), axes=axes).real.astype(_REAL[x.dtype], copy=False)
    y = f.rfftn(x, axes=axes)  # irfft_t
    n, odd = y.shape[-1], fft_lengths[-1] % 2
    mask = xp.concatenate([xp.ones(1), xp.full(n - 2 + odd, 2.0), xp.ones(1 - odd)])
    return xp.conj(y * (mask / math.prod(fft_lengths))).astype(_COMPLEX[x.dtype], copy=False)


def _fft_abstract_eval(x, *, fft_type, fft_lengths):
    k = len(fft_lengths)
    want_complex = fft_type in ("fft", "ifft", "irfft", "rfft_t")
    want = _half(fft_lengths) if fft_type in ("irfft", "rfft_t") else tuple(fft_lengths)
    if (x.ndim < k or x.shape[x.ndim - k:] != want or x.dtype.kind != "cf"[not want_complex]
            or not 1 <= k <= 3):
        raise ShapeError(
            f"fft ({fft_type}): expected a {'complex' if want_complex else 'real float'} operand "
            f"whose last {k} axes are {want} (1 to 3 axes), got {x.str_short()}. Call "
            f"fnp.fft.* (they pad, truncate, move axes and convert dtypes before this).")
    if fft_type in ("fft", "ifft"):
        return [x]
    if fft_type in ("rfft", "irfft_t"):
        return [ShapedArray(x.shape[:-1] + (fft_lengths[-1] // 2 + 1,), _COMPLEX[x.dtype],
                            x.weak_type)]
    return [ShapedArray(x.shape[:-1] + (fft_lengths[-1],), _REAL[x.dtype], x.weak_type)]


fft_p.impl = _fft_impl
fft_p.abstract_eval = _fft_abstract_eval
deflinear(fft_p, lambda ct, x, *, fft_type, fft_lengths: [
    fft(ct, _TRANSPOSE[fft_type], fft_lengths)])
fft_p.batch = lambda size, xs, bdims, **params: (
    [fft_p.bind1(bdim_at_front(xs[0], bdims[0], size), **params)], [0])
register_c_expr(fft_p, NOT_APPLICABLE)  # a library call (pocketfft / cuFFT), never fused
