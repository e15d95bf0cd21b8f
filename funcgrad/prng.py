"""The bit generator and keys behind `fg.random`: `random_bits_p` and key handling.

`random_bits_p` is Threefry-2x32 (20 rounds) applied to the counters ``0, 1, 2, ...`` under a
key, with all its rules in one block; `key`, `split`, `fold_in` and `bits` make and derive keys,
and `note_consumed` warns when two helpers draw from the same concrete key. The distributions
written on these bits live in `random.py`, which re-exports every public name here: users
write `fg.random.split(key)`, never `funcgrad.prng`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from . import core
from . import numpy as fnp
from .avals import ShapedArray
from .backend import get_array_module
from .backend.fusion import register_c_expr
from .core import NOT_APPLICABLE, FuncgradError, Primitive, Tracer, get_aval_of, user_frame
from .primitives.batching import moveaxis
from .primitives.rules import defzero_jvp

__all__ = ["key", "PRNGKey", "split", "fold_in", "bits", "random_bits_p", "threefry_2x32",
           "note_consumed"]

_U32 = np.dtype(np.uint32)
_MASK32 = 0xFFFFFFFF


# --- the bit generator: Threefry-2x32, vectorised over uint32 NumPy arrays ----------------------

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)  # the Threefish key-schedule constant


def threefry_2x32(k0, k1, x0, x1):
    """The Threefry-2x32 block function (20 rounds) on broadcastable uint32 arrays (NumPy or
    CuPy: only `+`, `^` and shifts are used, which wrap modulo 2**32).

    Five groups of four Mix rounds (``x0 += x1; x1 = rotl(x1, r) ^ x0``); after each group the
    key schedule ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)`` is injected with the group counter.
    """
    xp = get_array_module(k0, k1, x0, x1)
    k0, k1, x0, x1 = (xp.asarray(a, dtype=_U32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    shape = np.broadcast_shapes(k0.shape, k1.shape, x0.shape, x1.shape)
    with np.errstate(over="ignore"):
        x0 = xp.broadcast_to(x0 + ks[0], shape).copy()  # fresh buffers, updated in place
        x1 = xp.broadcast_to(x1 + ks[1], shape).copy()
        t = xp.empty_like(x1)
        for group in range(5):
            for r in _ROTATIONS[group % 2]:
                x0 += x1
                xp.left_shift(x1, np.uint32(r), out=t)   # x1 = rotl(x1, r) ^ x0
                x1 >>= np.uint32(32 - r)
                x1 |= t
                x1 ^= x0
            j = group + 1
            x0 += ks[j % 3]
            x1 += ks[(j + 1) % 3] + np.uint32(j)
    return x0, x1


def _random_bits_impl(key, *, shape):
    """uint32 bits of `shape` under each key of `key` (shape ``(*batch, 2)``).

    Block i (i < ceil(n/2)) hashes the counter pair (i, 0); output word i is the first word of
    block i, word ceil(n/2) + i the second.
    """
    xp = get_array_module(key)
    key = xp.asarray(key)
    batch = key.shape[:-1]
    n = math.prod(shape)
    half = (n + 1) // 2
    ctr = xp.arange(half, dtype=_U32)
    k0, k1 = key[..., 0:1], key[..., 1:2]  # (*batch, 1) broadcasts against the counters
    y0, y1 = threefry_2x32(k0, k1, ctr, xp.zeros_like(ctr))
    out = xp.concatenate([y0, y1], axis=-1)[..., :n] if n else xp.zeros(batch + (0,), _U32)
    out = xp.ascontiguousarray(xp.broadcast_to(out, batch + (n,)))
    return out.reshape(batch + tuple(shape))


def _random_bits_abstract_eval(key: ShapedArray, *, shape):
    if key.dtype != _U32 or key.ndim < 1 or key.shape[-1] != 2:
        raise FuncgradError(f"random_bits: the key must be uint32[..., 2], got {key.str_short()}")
    return [ShapedArray(key.shape[:-1] + tuple(shape), _U32)]


def _random_bits_batch(axis_size, xs, bdims, *, shape):
    del axis_size  # the key is batched (an unbatched call never reaches the rule)
    (key,), (bd,) = xs, bdims
    return [random_bits_p.bind1(moveaxis(key, bd, 0), shape=shape)], [0]


random_bits_p = Primitive("random_bits")
random_bits_p.impl = _random_bits_impl
random_bits_p.abstract_eval = _random_bits_abstract_eval
defzero_jvp(random_bits_p)  # integer output: tangents are symbolic zeros; transpose N/A
random_bits_p.batch = _random_bits_batch  # a batch of keys -> one independent stream per key
register_c_expr(random_bits_p, NOT_APPLICABLE)  # never fused into a GPU kernel


# --- keys -------------------------------------------------------------------------------------

_MSG_KEY = """\
fg.random.{fn}: expected a PRNG key (a uint32 array of shape (2,)), got {got}
  at {where}
Make a key with `key = fg.random.key(seed)` and derive new ones with
`k1, k2 = fg.random.split(key)` or `fg.random.fold_in(key, i)`.{extra}"""


def _check_key(k, fn: str):
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        raise FuncgradError(_MSG_KEY.format(fn=fn, got=f"the integer {k}", where=user_frame(),
                                            extra=f"\n(Did you mean fg.random.key({k})?)"))
    try:
        gpu = hasattr(k, "__cuda_array_interface__")
        aval = get_aval_of(k if isinstance(k, Tracer) or gpu else np.asarray(k))
    except TypeError:
        aval = None
    if aval is None or aval.shape != (2,) or aval.dtype != _U32:
        got = aval.str_short() if aval is not None else type(k).__name__
        extra = ""
        if aval is not None and aval.ndim == 2 and aval.shape[-1] == 2 and aval.dtype == _U32:
            extra = ("\nThis looks like a batch of keys (from `split(key, n)`): index one "
                     "(`keys[0]`) or map over them with `fg.vmap`.")
        raise FuncgradError(_MSG_KEY.format(fn=fn, got=got, where=user_frame(), extra=extra))
    return k if isinstance(k, Tracer) or hasattr(k, "__cuda_array_interface__") \
        else np.asarray(k)


# --- reuse of a consumed key (cheap check, concrete keys only) ---------------------------------
_CONSUMED: dict[bytes, str] = {}  # key bytes -> which helper consumed it, and where


def note_consumed(k, helper: str) -> None:
    """Record that `helper` (a kind of consumer: "nn init", "Dropout", "DataLoader") drew
    randomness from the concrete key `k`; warn when a *different* helper already did, because
    then two supposedly independent streams are the same numbers (e.g. the initialisation and
    the data order, or the initialisation and the dropout masks). Repeated use by the same
    helper (re-running a notebook cell) is not reported; traced keys (inside jit/vmap) are not
    checked at all."""
    if isinstance(k, Tracer) or hasattr(k, "__cuda_array_interface__"):
        return
    b = np.asarray(k).tobytes()
    prev = _CONSUMED.get(b)
    where = user_frame()
    if prev is not None and not prev.startswith(helper + " ("):
        warnings.warn(
            f"fg.random: a key was consumed by {prev}, and is used again by {helper} at "
            f"{where}. Both then draw the same random numbers. Split the key instead: "
            f"`key, k_init, k_data = fg.random.split(key, 3)` (one new key per use).",
            RuntimeWarning, stacklevel=3)
    if len(_CONSUMED) > 10_000:
        _CONSUMED.clear()
    _CONSUMED[b] = f"{helper} (at {where})"


def key(seed) -> np.ndarray:
    """A PRNG key from an integer seed: ``uint32[2] = [high 32 bits, low 32 bits]``.

    The seed must lie in [-2**63, 2**64): a larger one would silently collide with a smaller
    one (``key(2**64) == key(0)``), so it is refused. Negative seeds are taken modulo 2**64. A
    traced seed (inside ``jit``) uses its low 32 bits.

        >>> fg.random.key(1)  # doctest: +SKIP
        array([0, 1], dtype=uint32)
    """
    if isinstance(seed, Tracer):
        if not np.issubdtype(seed.dtype, np.integer) or seed.shape != ():
            raise FuncgradError(f"fg.random.key: the seed must be an integer scalar, got "
                                f"{seed.aval.str_short()}, at {user_frame()}")
        return fnp.stack([fnp.zeros((), _U32), fnp.astype(seed, _U32)])
    if isinstance(seed, (float, np.floating, bool, np.bool_)) or \
            not isinstance(seed, (int, np.integer)) and np.ndim(seed) != 0:
        raise FuncgradError(f"fg.random.key: the seed must be an integer, got {seed!r}, "
                            f"at {user_frame()}")
    s = int(seed)
    if not -(1 << 63) <= s < (1 << 64):
        raise FuncgradError(f"fg.random.key: the seed {s} does not fit in 64 bits, so it would "
                            f"give the same key as {s % (1 << 64)}. Use a seed in [-2**63, 2**64),"
                            f" or split/fold_in a key for more streams, at {user_frame()}")
    s %= 1 << 64
    return np.array([s >> 32, s & _MASK32], dtype=_U32)


PRNGKey = key


def bits(k, shape=()) -> np.ndarray:
    """Raw uint32 random bits of the given shape (the output of the Threefry generator)."""
    k = _check_key(k, "bits")
    return random_bits_p.bind1(k, shape=_shape(shape, "bits"))


def _shape(shape, fn: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, core.ConcretizationError):
        raise FuncgradError(f"fg.random.{fn}: shape must be a tuple of Python ints, got "
                            f"{shape!r}, at {user_frame()}") from None
    if any(s < 0 for s in shape):
        raise FuncgradError(f"fg.random.{fn}: negative dimension in shape {shape}")
    return shape


def split(k, num: int = 2):
    """``num`` new independent keys, stacked into a ``uint32[num, 2]`` array.

    ``k1, k2 = split(key)`` unpacks; the parent key should not be used again.
    """
    k = _check_key(k, "split")
    num = int(num)
    if num < 1:
        raise FuncgradError(f"fg.random.split: num must be >= 1, got {num}, at {user_frame()}")
    return random_bits_p.bind1(k, shape=(num, 2))


_FOLD_TAG = np.uint32(0x85EBCA6B)  # separates fold_in's derived keys from split's outputs


def fold_in(k, data):
    """A new key derived from ``k`` and an integer ``data`` (e.g. a step or layer index).

    ``fold_in(k, i)`` for different ``i`` gives independent keys: ``k`` is first hashed to two
    pseudo-random words, which are mixed with ``[tag, i]`` and hashed again. (Mixing ``k``
    itself would make ``fold_in(key(a), b) == fold_in(key(b), a)``, since ``key(s)`` is
    ``[0, s]``.) ``data`` may be traced (its low 32 bits are used).
    """
    k = _check_key(k, "fold_in")
    if isinstance(data, Tracer):
        d = fnp.astype(data, _U32)
    else:
        if not isinstance(data, (int, np.integer)) and not (
                isinstance(data, np.ndarray) and data.ndim == 0 and data.dtype.kind in "iu"):
            raise FuncgradError(f"fg.random.fold_in: data must be an integer, got {data!r}, "
                                f"at {user_frame()}")
        d = np.uint32(int(data) & _MASK32)
    hashed = random_bits_p.bind1(k, shape=(2,))
    tag = fnp.stack([fnp.full((), _FOLD_TAG, _U32), fnp.astype(d, _U32)])
    return random_bits_p.bind1(fnp.bitwise_xor(hashed, tag), shape=(2,))
