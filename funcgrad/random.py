"""`fg.random`: a counter-based, splittable pseudo-random number generator.

A *key* is a small ``uint32`` array of shape ``(2,)``. Nothing is hidden: every function takes a
key and returns numbers that depend only on that key (and the shape/dtype asked for), so the same
key gives the same numbers on every run and every backend, under ``jit``, ``vmap`` and ``grad``.

    >>> import funcgrad as fg
    >>> key = fg.random.key(0)
    >>> k1, k2 = fg.random.split(key)
    >>> fg.random.uniform(k1, (3,)).shape
    (3,)

Never reuse a key for two different draws: ``split`` it (or ``fold_in`` a counter) first.

The bit generator is one primitive, ``random_bits_p``: Threefry-2x32 (20 rounds; Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011) applied to the counters ``0, 1, 2, ...``
under the key. Every distribution below is written with ``funcgrad.numpy`` on those bits, so it
stages into IR like any other function. A batch of keys (``vmap`` over keys) gives one
independent stream per key.

The primitive and the key functions (``key``, ``split``, ``fold_in``, ``bits``) live in
``funcgrad/prng.py`` and are re-exported here; this module holds the distributions.
"""
from __future__ import annotations

import math

import numpy as np

from . import numpy as fnp
from .backend import get_array_module
from .core import FuncgradError, Tracer, get_aval_of, user_frame
from .primitives.reduction import argsort
from .prng import PRNGKey as PRNGKey
from .prng import _check_key, _shape
from .prng import bits as bits
from .prng import fold_in as fold_in
from .prng import key as key
from .prng import note_consumed as note_consumed
from .prng import random_bits_p as random_bits_p
from .prng import split as split
from .prng import threefry_2x32 as threefry_2x32

__all__ = ["key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal", "bernoulli",
           "randint", "permutation", "categorical", "truncated_normal", "gumbel", "exponential",
           "choice", "random_bits_p"]


# --- bits -> floats ---------------------------------------------------------------------------

def _float_dtype(dtype, fn: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)):
        raise FuncgradError(f"fg.random.{fn}: dtype must be a float dtype (float32, float64 or "
                            f"float16), got {dtype}, at {user_frame()}")
    return dtype


def _unit_uniform(k, shape, dtype):
    """Uniform on [0, 1) with the dtype's full mantissa, exactly computed from the bits.

    float32/16: ``(bits >> 8) * 2**-24``. float64: 53 bits from two words,
    ``((w0 >> 5) * 2**26 + (w1 >> 6)) * 2**-53``. The shifts are exact float64 floors.
    """
    if dtype == np.dtype(np.float64):
        b = fnp.astype(random_bits_p.bind1(k, shape=(2,) + shape), np.float64)
        hi = fnp.floor(b[0] * 2.0 ** -5)
        lo = fnp.floor(b[1] * 2.0 ** -6)
        return (hi * 2.0 ** 26 + lo) * 2.0 ** -53
    b = fnp.astype(random_bits_p.bind1(k, shape=shape), np.float64)
    u = fnp.floor(b * 2.0 ** -8) * 2.0 ** -24
    if dtype == np.dtype(np.float16):  # keep 11 bits so rounding can never reach 1.0
        u = fnp.floor(u * 2.0 ** 11) * 2.0 ** -11
    return fnp.astype(u, dtype)


def uniform(k, shape=(), dtype=np.float32, minval=0.0, maxval=1.0):
    """Samples from U[minval, maxval) of the given shape and float dtype (default float32).

    ``minval``/``maxval`` may be arrays broadcastable to ``shape`` (and may be traced).
    """
    k = _check_key(k, "uniform")
    dtype = _float_dtype(dtype, "uniform")
    shape = _shape(shape, "uniform")
    u = _unit_uniform(k, shape, dtype)
    if not (_is_const(minval, 0.0) and _is_const(maxval, 1.0)):
        lo = fnp.astype(fnp.asarray(minval), dtype)
        hi = fnp.astype(fnp.asarray(maxval), dtype)
        u = fnp.maximum(lo, u * (hi - lo) + lo)
        u = fnp.broadcast_to(u, shape) if get_aval_of(u).shape != shape else u
    return u


def _is_const(v, c) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == c


def normal(k, shape=(), dtype=np.float32):
    """Standard normal samples (Box-Muller on two uniform draws):
    ``z = sqrt(-2 log u1) * cos(2 pi u2)`` with ``u1`` in (0, 1].

    For N(mu, sigma^2) use ``mu + sigma * normal(key, shape)``.
    """
    k = _check_key(k, "normal")
    dtype = _float_dtype(dtype, "normal")
    shape = _shape(shape, "normal")
    if dtype == np.dtype(np.float64):  # 53-bit uniforms: tails out to ~8.5 sigma
        k1, k2 = split(k)
        u1 = 1.0 - _unit_uniform(k1, shape, dtype)  # in (0, 1]
        u2 = _unit_uniform(k2, shape, dtype)
    else:  # one 32-bit word per uniform is plenty for float32/16 (tails out to ~6.7 sigma)
        b = fnp.astype(random_bits_p.bind1(k, shape=(2,) + shape), np.float64)
        u1 = (b[0] + 0.5) * 2.0 ** -32  # in (0, 1)
        u2 = b[1] * 2.0 ** -32
    z = fnp.sqrt(-2.0 * fnp.log(u1)) * fnp.cos((2.0 * np.pi) * u2)
    return fnp.astype(z, dtype)


def bernoulli(k, p=0.5, shape=None):
    """Boolean samples that are True with probability ``p`` (``uniform < p``).

    ``shape`` defaults to the shape of ``p``.
    """
    k = _check_key(k, "bernoulli")
    p_shape = tuple(get_aval_of(p).shape) if not isinstance(p, (int, float)) else ()
    shape = p_shape if shape is None else _shape(shape, "bernoulli")
    u = _unit_uniform(k, shape, np.dtype(np.float64))
    out = fnp.less(u, p)
    return fnp.broadcast_to(out, shape) if get_aval_of(out).shape != shape else out


def randint(k, shape=(), minval=0, maxval=None, dtype=np.int32):
    """Integers uniform on ``[minval, maxval)``: ``minval + floor(u * (maxval - minval))`` with a
    53-bit uniform ``u`` (bias below 2**-53 * span). With one bound, ``randint(k, shape, n)``
    draws from ``[0, n)``.
    """
    k = _check_key(k, "randint")
    shape = _shape(shape, "randint")
    if maxval is None:
        minval, maxval = 0, minval
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise FuncgradError(f"fg.random.randint: dtype must be an integer dtype, got {dtype}, "
                            f"at {user_frame()}")
    if not isinstance(minval, Tracer) and not isinstance(maxval, Tracer) and \
            np.any(np.asarray(maxval) <= np.asarray(minval)):
        raise FuncgradError(f"fg.random.randint: need maxval > minval, got minval={minval}, "
                            f"maxval={maxval}, at {user_frame()}")
    u = _unit_uniform(k, shape, np.dtype(np.float64))
    lo = fnp.astype(fnp.asarray(minval), np.float64)
    hi = fnp.astype(fnp.asarray(maxval), np.float64)
    r = fnp.minimum(fnp.floor(u * (hi - lo)) + lo, hi - 1.0)
    r = fnp.astype(r, dtype)
    return fnp.broadcast_to(r, shape) if get_aval_of(r).shape != shape else r


def permutation(k, x, axis: int = 0):
    """A random permutation of ``range(x)`` (int ``x``) or of ``x`` along ``axis`` (an array).

    The order is the stable argsort of random 32-bit words, the same eagerly and under ``jit``.
    """
    k = _check_key(k, "permutation")
    if isinstance(x, (int, np.integer)):
        n, arr = int(x), None
    else:
        arr = x if isinstance(x, Tracer) else np.asarray(x)
        if get_aval_of(arr).ndim == 0:
            raise FuncgradError(f"fg.random.permutation: expected an int or an array with at "
                                f"least one dimension, got a 0-d array, at {user_frame()}")
        n = get_aval_of(arr).shape[axis]
    words = random_bits_p.bind1(k, shape=(n,))
    if not isinstance(words, Tracer):
        xp = get_array_module(words)
        # a stable sort: ties (likely for n ~ 1e5 32-bit words) keep index order, as staged
        perm = (np.argsort(words, kind="stable") if xp is np else _gpu_stable_argsort(xp, words))
        perm = perm.astype(np.int64)
    else:  # the same stable order, staged
        perm = argsort(words, 0)
    if arr is None:
        return perm
    return fnp.take(arr, perm, axis=axis)


def _gpu_stable_argsort(xp, words):
    # sort 64-bit (word, index) keys: unique, so any sort algorithm gives the stable order
    idx = xp.arange(words.shape[0], dtype=np.uint64)
    return xp.argsort((words.astype(np.uint64) << np.uint64(32)) | idx)


def categorical(k, logits, axis: int = -1, shape=None):
    """Samples class indices with probabilities ``softmax(logits)`` along ``axis``
    (the Gumbel-max trick: ``argmax(logits + g)``, ``g = -log(-log(u))``).

    ``shape`` defaults to the logits' shape without ``axis``.
    """
    k = _check_key(k, "categorical")
    aval = get_aval_of(logits)
    axis = axis % aval.ndim
    batch_shape = aval.shape[:axis] + aval.shape[axis + 1:]
    shape = batch_shape if shape is None else _shape(shape, "categorical")
    if len(shape) < len(batch_shape) or shape[len(shape) - len(batch_shape):] != batch_shape:
        raise FuncgradError(f"fg.random.categorical: shape {shape} must end with the logits' "
                            f"batch shape {batch_shape} (the logits' shape without axis "
                            f"{axis}), at {user_frame()}")
    dtype = aval.dtype if np.issubdtype(aval.dtype, np.floating) else np.dtype(np.float32)
    gshape = shape[:len(shape) - len(batch_shape)] + aval.shape if shape != batch_shape \
        else aval.shape
    if shape != batch_shape:
        axis = axis + len(shape) - len(batch_shape)
    u = _unit_uniform(k, gshape, np.dtype(np.float64))
    tiny = np.finfo(np.float64).tiny
    g = -fnp.log(-fnp.log(fnp.maximum(u, tiny)))
    return fnp.argmax(fnp.astype(logits, dtype) + fnp.astype(g, dtype), axis=axis)


# --- truncated normal: normal CDF and its inverse, written with funcgrad.numpy ---------------

def _erf(x):
    """erf(x) in float64 to about 1e-7 (Abramowitz & Stegun 7.1.26)."""
    s = fnp.sign(x)
    a = fnp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                         + t * 1.061405429))))
    return s * (1.0 - poly * fnp.exp(-a * a))


def _ndtri(p):
    """Inverse of the standard normal CDF (Acklam's rational approximation, rel. err ~1e-9)."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549671010243281e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    p_low = 0.02425
    p = fnp.clip(p, 1e-300, 1.0 - 1e-16)
    q = p - 0.5
    r = q * q
    central = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    tail_p = fnp.minimum(p, 1.0 - p)
    s = fnp.sqrt(-2.0 * fnp.log(tail_p))
    tail = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / \
        ((((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1.0)
    tail = fnp.where(q < 0, tail, -tail)
    return fnp.where(fnp.abs(q) <= 0.5 - p_low, central, tail)


def truncated_normal(k, lower=-2.0, upper=2.0, shape=None, dtype=np.float32):
    """Standard normal samples conditioned on ``lower < z < upper`` (inverse-CDF method:
    ``z = Phi^-1(Phi(lower) + u (Phi(upper) - Phi(lower)))``, clipped into the interval).
    """
    k = _check_key(k, "truncated_normal")
    dtype = _float_dtype(dtype, "truncated_normal")
    if shape is None:
        shape = np.broadcast_shapes(get_aval_of(lower).shape if not isinstance(lower, (int, float))
                                    else (), get_aval_of(upper).shape
                                    if not isinstance(upper, (int, float)) else ())
    shape = _shape(shape, "truncated_normal")
    lo = fnp.astype(fnp.asarray(lower), np.float64)
    hi = fnp.astype(fnp.asarray(upper), np.float64)
    cdf_lo = 0.5 * (1.0 + _erf(lo * np.sqrt(0.5)))
    cdf_hi = 0.5 * (1.0 + _erf(hi * np.sqrt(0.5)))
    u = _unit_uniform(k, shape, np.dtype(np.float64))
    z = _ndtri(cdf_lo + u * (cdf_hi - cdf_lo))
    z = fnp.clip(z, lo, hi)
    z = fnp.astype(z, dtype)
    return fnp.broadcast_to(z, shape) if get_aval_of(z).shape != shape else z


def gumbel(k, shape=(), dtype=np.float32):
    """Standard Gumbel samples ``-log(-log(u))`` (u uniform on (0, 1))."""
    k = _check_key(k, "gumbel")
    dtype = _float_dtype(dtype, "gumbel")
    u = _open_uniform(k, _shape(shape, "gumbel"))
    return fnp.astype(-fnp.log(-fnp.log(u)), dtype)


def exponential(k, shape=(), dtype=np.float32):
    """Exponential samples with rate 1: ``-log(u)`` (u uniform on (0, 1)); scale them by
    ``1 / rate`` for another rate."""
    k = _check_key(k, "exponential")
    dtype = _float_dtype(dtype, "exponential")
    return fnp.astype(-fnp.log(_open_uniform(k, _shape(shape, "exponential"))), dtype)


def _open_uniform(k, shape):
    """float64 uniform on the open interval (0, 1): ``(bits + 0.5) * 2**-32``."""
    b = fnp.astype(random_bits_p.bind1(k, shape=shape), np.float64)
    return (b + 0.5) * 2.0 ** -32


def choice(k, a, shape=(), replace: bool = True, p=None):
    """Random elements of ``a`` (an array, sampled along axis 0) or of ``range(a)`` (an int).

    With ``p`` (probabilities of the n choices) sampling uses ``categorical(log p)``; without
    replacement it takes the first ``prod(shape)`` entries of a permutation (uniform ``p`` only).
    """
    k = _check_key(k, "choice")
    shape = _shape(shape, "choice")
    arr = None if isinstance(a, (int, np.integer)) else a
    n = int(a) if arr is None else get_aval_of(arr).shape[0]
    m = math.prod(shape)
    if replace:
        if p is None:
            idx = randint(k, shape, 0, n)
        else:
            logp = fnp.log(fnp.astype(p, np.float64))
            idx = categorical(k, logp, shape=shape)
    else:
        if p is not None:
            raise FuncgradError(f"fg.random.choice: replace=False with probabilities p is not "
                                f"supported; use replace=True, at {user_frame()}")
        if m > n:
            raise FuncgradError(f"fg.random.choice: cannot take {m} samples from {n} without "
                                f"replacement, at {user_frame()}")
        idx = fnp.reshape(permutation(k, n)[:m], shape)
    return idx if arr is None else fnp.take(arr, idx, axis=0)
