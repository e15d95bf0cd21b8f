"""Parameter initializers: functions ``init(key, shape, dtype=float32) -> array``.

Fans follow the layer layouts of `funcgrad.nn`: a 2-D weight is ``(in, out)`` (Linear), a weight
with more dimensions is ``(out_channels, in_channels, *kernel)`` (convolutions), so

    fan_in  = shape[0]                    (2-D)   or  in_channels * prod(kernel)   (>= 3-D)
    fan_out = shape[1]                    (2-D)   or  out_channels * prod(kernel)  (>= 3-D)

=================  ==================================  ======================================
initializer        distribution                        scale
=================  ==================================  ======================================
lecun_normal       N(0, s^2)                           s = sqrt(1 / fan_in)  (Linear's default)
lecun_uniform      U(-a, a)                            a = sqrt(3 / fan_in)
glorot_normal      N(0, s^2)                           s = sqrt(2 / (fan_in + fan_out))
glorot_uniform     U(-a, a)                            a = sqrt(6 / (fan_in + fan_out))
he_normal          N(0, s^2)                           s = sqrt(2 / fan_in)
he_uniform         U(-a, a)                            a = sqrt(6 / fan_in)
=================  ==================================  ======================================

The normal variants are untruncated. Extra keyword arguments set scales; bind them with
``functools.partial``, e.g. ``nn.Linear(10, w_init=partial(nn.initializers.normal, stddev=0.01))``.

    >>> import funcgrad as fg
    >>> from funcgrad.nn import initializers as init
    >>> init.glorot_uniform(fg.random.key(0), (3, 4)).shape
    (3, 4)
"""
from __future__ import annotations

import math

import numpy as np

from .. import random as fgr
from ..core import FuncgradError, Tracer, user_frame

__all__ = ["zeros", "ones", "constant", "normal", "truncated_normal", "uniform", "lecun_normal",
           "lecun_uniform", "glorot_normal", "glorot_uniform", "xavier_normal", "xavier_uniform",
           "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "orthogonal",
           "compute_fans"]


def _shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def zeros(key, shape, dtype=np.float32):
    """All zeros (the key is unused)."""
    del key  # unused
    return np.zeros(_shape(shape), dtype)


def ones(key, shape, dtype=np.float32):
    """All ones (the key is unused)."""
    del key  # unused
    return np.ones(_shape(shape), dtype)


def constant(key, shape, dtype=np.float32, value=0.0):
    """Every entry equal to ``value``."""
    del key  # unused
    return np.full(_shape(shape), value, dtype)


def normal(key, shape, dtype=np.float32, stddev=1.0, mean=0.0):
    """N(mean, stddev^2)."""
    z = fgr.normal(key, _shape(shape), dtype)
    if stddev != 1.0:
        z = z * np.asarray(stddev, dtype)
    return z + np.asarray(mean, dtype) if mean != 0.0 else z


def truncated_normal(key, shape, dtype=np.float32, stddev=1.0, lower=-2.0, upper=2.0):
    """N(0, stddev^2) restricted to ``[lower * stddev, upper * stddev]`` (the standard normal
    conditioned on ``lower <= z <= upper``, then scaled)."""
    z = fgr.truncated_normal(key, lower, upper, _shape(shape), dtype)
    return z * np.asarray(stddev, dtype) if stddev != 1.0 else z


def uniform(key, shape, dtype=np.float32, minval=0.0, maxval=1.0):
    """U[minval, maxval)."""
    return fgr.uniform(key, _shape(shape), dtype, minval=minval, maxval=maxval)


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape (see the module docstring for the layouts)."""
    shape = _shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _scaled_normal(fan: str, scale: float):
    def init(key, shape, dtype=np.float32):
        fan_in, fan_out = compute_fans(shape)
        n = {"in": fan_in, "avg": (fan_in + fan_out) / 2}[fan]
        return normal(key, shape, dtype, stddev=math.sqrt(scale / max(n, 1)))
    return init


def _scaled_uniform(fan: str, scale: float):
    def init(key, shape, dtype=np.float32):
        fan_in, fan_out = compute_fans(shape)
        n = {"in": fan_in, "avg": (fan_in + fan_out) / 2}[fan]
        a = math.sqrt(3.0 * scale / max(n, 1))
        return uniform(key, shape, dtype, minval=-a, maxval=a)
    return init


lecun_normal = _scaled_normal("in", 1.0)
lecun_normal.__name__ = "lecun_normal"
lecun_normal.__doc__ = "N(0, 1/fan_in): the book's Linear init, ``randn(I, O) * sqrt(1/I)``."
lecun_uniform = _scaled_uniform("in", 1.0)
lecun_uniform.__name__ = "lecun_uniform"
lecun_uniform.__doc__ = "U(-a, a) with a = sqrt(3/fan_in) (variance 1/fan_in)."
glorot_normal = xavier_normal = _scaled_normal("avg", 1.0)
glorot_normal.__name__ = "glorot_normal"
glorot_normal.__doc__ = "N(0, 2/(fan_in + fan_out))."
glorot_uniform = xavier_uniform = _scaled_uniform("avg", 1.0)
glorot_uniform.__name__ = "glorot_uniform"
glorot_uniform.__doc__ = "U(-a, a) with a = sqrt(6/(fan_in + fan_out))."
he_normal = kaiming_normal = _scaled_normal("in", 2.0)
he_normal.__name__ = "he_normal"
he_normal.__doc__ = "N(0, 2/fan_in), for ReLU networks."
he_uniform = kaiming_uniform = _scaled_uniform("in", 2.0)
he_uniform.__name__ = "he_uniform"
he_uniform.__doc__ = "U(-a, a) with a = sqrt(6/fan_in), for ReLU networks."


def orthogonal(key, shape, dtype=np.float32, scale=1.0):
    """A (semi-)orthogonal matrix: Q of the QR factorisation of a standard normal matrix, with
    the signs fixed by diag(R) so the distribution is uniform (Haar). Weights with more than two
    dimensions are orthogonal as ``(prod(shape[:-1]), shape[-1])`` matrices.

    Needs a concrete key (it calls ``numpy.linalg.qr``): initialise outside ``jit``.
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise FuncgradError(f"orthogonal: the shape needs at least 2 dimensions, got {shape}, "
                            f"at {user_frame()}")
    z = fgr.normal(key, shape, np.float64)
    if isinstance(z, Tracer):
        raise FuncgradError(f"orthogonal: needs a concrete key (it uses numpy.linalg.qr); "
                            f"initialise the parameters outside `jit`/`vmap`, at {user_frame()}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = z.reshape(rows, cols)
    transposed = rows < cols
    if transposed:
        a = a.T
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    if transposed:
        q = q.T
    return (scale * q).reshape(shape).astype(dtype)
