"""`funcgrad.numpy.fft`: NumPy's discrete Fourier transforms, on arrays and traced values.

Every transform pads or truncates its axes to the requested lengths, moves them last, converts
the dtype (real inputs of fft/ifft become complex; integers become float64) and binds the one
`fft` primitive (whose linear rules give forward and reverse derivatives of every order).
`norm` is NumPy's: "backward" (default), "ortho" or "forward". `hfft`/`ihfft` use that a
conjugated half spectrum is a time-reversed signal, so they need no complex conjugation.
"""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as prims
from ..core import FuncgradError, user_frame
from ..util import canonical_axes
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, asarray, astype, numpy_fallback

__all__ = [
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
    "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

fftfreq, rfftfreq = np.fft.fftfreq, np.fft.rfftfreq


def _resize(x, axis: int, n: int):
    """`x` zero-padded or truncated to length `n` along `axis`."""
    have = _aval(x).shape[axis]
    if have > n:
        return x[(slice(None),) * axis + (slice(0, n),)]
    if have < n:
        pad = [(0, 0)] * _aval(x).ndim
        pad[axis] = (0, n - have)
        return sh.pad(x, pad)
    return x


def _dtype(x, complex_: bool):
    dt = _aval(x).dtype
    real = np.dtype(np.float32) if dt in (np.float32, np.complex64) else np.dtype(np.float64)
    if dt.kind == "c" and not complex_:
        raise FuncgradError(f"rfft: expected a real input, got {_aval(x).str_short()} (use fft "
                            f"for complex signals), at {user_frame()}")
    return np.result_type(real, np.complex64) if complex_ else real


def _scale(norm, n: int, inverse: bool):
    if norm in (None, "backward"):
        return None
    if norm == "ortho":
        return math.sqrt(n) if inverse else 1.0 / math.sqrt(n)
    if norm == "forward":
        return float(n) if inverse else 1.0 / n
    raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')


def _axes_lengths(x, s, axes, kind):
    nd = _aval(x).ndim
    if axes is None:
        axes = tuple(range(nd - len(s), nd)) if s is not None else tuple(range(nd))
    axes = [canonical_axes(a, nd)[0] for a in axes]
    if s is None:
        s = [_aval(x).shape[a] for a in axes]
        if kind == "irfft":
            s[-1] = 2 * (s[-1] - 1)
    if len(s) != len(axes) or len(set(axes)) != len(axes):
        raise ValueError(f"fft: s={s} and axes={axes} must have equal lengths and unique axes")
    return axes, [int(n) for n in s]


def _apply(y, axes, kind, lengths):
    """The primitive over `axes` (up to 3 at a time: moved last, transformed, moved back)."""
    nd = _aval(y).ndim
    for lo in range(0, len(axes), 3):
        ax, ns = axes[lo:lo + 3], lengths[lo:lo + 3]
        last = list(range(nd - len(ax), nd))
        y = sh.moveaxis(prims.fft(sh.moveaxis(y, ax, last), kind, ns), last, ax)
    return y


def _normed(y, norm, s, inverse):
    scale = _scale(norm, math.prod(s), inverse)
    return y if scale is None else uf.multiply(y, np.asarray(scale, _aval(y).dtype))


def _transform(x, s, axes, norm, kind):
    """fft, ifft or rfft over `axes`, the signal resized to lengths `s`."""
    x = asarray(x)
    axes, s = _axes_lengths(x, s, axes, kind)
    x = astype(x, _dtype(x, kind != "rfft"))
    for a, n in zip(axes, s):
        x = _resize(x, a, n)
    if kind == "rfft":  # the real transform of the last axis, then complex ones of the others
        x = _apply(x, axes[-1:], "rfft", s[-1:])
        return _normed(_apply(x, axes[:-1], "fft", s[:-1]), norm, s, False)
    return _normed(_apply(x, axes, kind, s), norm, s, kind == "ifft")


def _irfft_nd(x, s, axes, norm):
    """irfft over `axes`: complex inverse ffts of the leading axes, then the real inverse of the
    last (its input resized to the n // 2 + 1 bins of a length-n signal)."""
    x = asarray(x)
    axes, s = _axes_lengths(x, s, axes, "irfft")
    x = astype(x, _dtype(x, True))
    for a, n in zip(axes, s[:-1] + [s[-1] // 2 + 1]):
        x = _resize(x, a, n)
    x = _apply(x, axes[:-1], "ifft", s[:-1])
    return _normed(_apply(x, axes[-1:], "irfft", s[-1:]), norm, s, True)


def _one(kind):
    def f(a, n=None, axis=-1, norm=None):
        return _transform(a, None if n is None else [n], [axis], norm, kind)
    return f


def _nd(kind, default_axes=None):
    def f(a, s=None, axes=default_axes, norm=None):
        return _transform(a, s, axes, norm, kind)
    return f


fft = numpy_fallback(np.fft.fft)(_one("fft"))
ifft = numpy_fallback(np.fft.ifft)(_one("ifft"))
rfft = numpy_fallback(np.fft.rfft)(_one("rfft"))
fftn = numpy_fallback(np.fft.fftn)(_nd("fft"))
ifftn = numpy_fallback(np.fft.ifftn)(_nd("ifft"))
rfftn = numpy_fallback(np.fft.rfftn)(_nd("rfft"))
fft2 = numpy_fallback(np.fft.fft2)(_nd("fft", (-2, -1)))
ifft2 = numpy_fallback(np.fft.ifft2)(_nd("ifft", (-2, -1)))
rfft2 = numpy_fallback(np.fft.rfft2)(_nd("rfft", (-2, -1)))


@numpy_fallback(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None):
    return _irfft_nd(a, None if n is None else [n], [axis], norm)


@numpy_fallback(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None):
    return _irfft_nd(a, s, axes, norm)


@numpy_fallback(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return _irfft_nd(a, s, axes, norm)


def _time_reverse(y, axis):
    """y[(-k) mod n] along `axis`: the signal whose spectrum is the conjugate of y's."""
    return sh.roll(sh.flip(y, axis), 1, axis)


_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


@numpy_fallback(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None):
    """The FFT of a signal with Hermitian symmetry given by its half spectrum (real output)."""
    return _time_reverse(irfft(a, n, axis, _SWAP[norm]), axis)


@numpy_fallback(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None):
    """The inverse of hfft: the conjugated rfft (as an rfft of the time-reversed signal)."""
    a = asarray(a)
    if n is not None:
        a = _resize(a, canonical_axes(axis, _aval(a).ndim)[0], n)
    return rfft(_time_reverse(a, axis), None, axis, _SWAP[norm])


def _shift(sign):
    def f(x, axes=None):
        x = asarray(x)
        axes = tuple(range(_aval(x).ndim)) if axes is None else \
            ((axes,) if isinstance(axes, int) else tuple(axes))
        shape = _aval(x).shape
        return sh.roll(x, [sign * (shape[a] // 2) for a in axes], axes)
    return f


fftshift = numpy_fallback(np.fft.fftshift)(_shift(1))
ifftshift = numpy_fallback(np.fft.ifftshift)(_shift(-1))
