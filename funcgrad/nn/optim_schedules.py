"""Learning-rate schedules for `funcgrad.nn.optim` (re-exported there: `optim.cosine_decay`).

Any learning rate of an optimizer in `optim.py` may be one of these: a function of the update
count returning a float64 scalar.
"""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from ..core import FuncgradError, user_frame
from .optim_transforms import Schedule, _float_count

__all__ = [
    "constant", "exponential_decay", "cosine_decay", "warmup_cosine_decay", "piecewise_constant",
    "constant_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
    "piecewise_constant_schedule",
]


# --- schedules --------------------------------------------------------------------------------
# A schedule maps the update count k (a Python int, NumPy int or traced int; 0 for the first
# update) to a float64 scalar, without Python branches on k, so it works under jit.

def constant(value: float) -> Schedule:
    """``lr(k) = value``."""
    def schedule(count):
        return fnp.full_like(count, value, dtype=np.float64)
    return schedule


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """``lr(k) = init_value · decay_rate ^ (max(k − transition_begin, 0) / transition_steps)``.

    ``staircase=True`` floors the exponent; ``end_value`` bounds the result (a lower bound when
    ``decay_rate < 1``, an upper bound otherwise).
    """
    if transition_steps <= 0:
        raise FuncgradError(f"optim.exponential_decay: transition_steps must be > 0, got "
                            f"{transition_steps}, at {user_frame()}")

    def schedule(count):
        k = fnp.maximum(_float_count(count) - transition_begin, 0.0)
        p = k / transition_steps
        if staircase:
            p = fnp.floor(p)
        v = init_value * fnp.power(decay_rate, p)
        if end_value is not None:
            v = fnp.maximum(v, end_value) if decay_rate < 1 else fnp.minimum(v, end_value)
        return v
    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0,
                 exponent: float = 1.0) -> Schedule:
    """``lr(k) = init_value · ((1 − alpha)·c^exponent + alpha)`` with
    ``c = (1 + cos(π·min(k, decay_steps)/decay_steps)) / 2``: from ``init_value`` down to
    ``alpha·init_value`` at ``decay_steps``, constant afterwards."""
    if decay_steps <= 0:
        raise FuncgradError(f"optim.cosine_decay: decay_steps must be > 0, got {decay_steps}, "
                            f"at {user_frame()}")

    def schedule(count):
        k = fnp.minimum(_float_count(count), float(decay_steps))
        c = 0.5 * (1.0 + fnp.cos(np.pi * k / decay_steps))
        if exponent != 1.0:
            c = fnp.power(c, exponent)
        return init_value * ((1.0 - alpha) * c + alpha)
    return schedule


def warmup_cosine_decay(init_value: float, peak_value: float, warmup_steps: int,
                        decay_steps: int, end_value: float = 0.0,
                        exponent: float = 1.0) -> Schedule:
    """Linear warmup then cosine decay; ``decay_steps`` counts the warmup too::

        k < W:   lr(k) = init + (peak − init) · k / W
        k ≥ W:   lr(k) = end + (peak − end) · c^exponent,
                 c = (1 + cos(π·min(k − W, D − W)/(D − W))) / 2
    """
    if not 0 <= warmup_steps < decay_steps:
        raise FuncgradError(f"optim.warmup_cosine_decay: need 0 <= warmup_steps < decay_steps, "
                            f"got {warmup_steps} and {decay_steps}, at {user_frame()}")
    span = float(decay_steps - warmup_steps)

    def schedule(count):
        k = _float_count(count)
        warm = init_value + (peak_value - init_value) * k / max(warmup_steps, 1)
        j = fnp.minimum(fnp.maximum(k - warmup_steps, 0.0), span)
        c = 0.5 * (1.0 + fnp.cos(np.pi * j / span))
        if exponent != 1.0:
            c = fnp.power(c, exponent)
        cos = end_value + (peak_value - end_value) * c
        return fnp.where(k < warmup_steps, warm, cos)
    return schedule


def piecewise_constant(init_value: float,
                       boundaries_and_scales: dict[int, float] | None = None) -> Schedule:
    """``lr(k) = init_value · Π { s : (b, s) in boundaries_and_scales, k ≥ b }``.

    Example: ``piecewise_constant(0.1, {100: 0.1, 200: 0.1})`` is 0.1 until step 99, 0.01
    from step 100, 0.001 from step 200.
    """
    items = sorted((boundaries_and_scales or {}).items())

    def schedule(count):
        k = _float_count(count)
        v = fnp.full_like(k, init_value, dtype=np.float64)
        for b, s in items:
            v = v * fnp.where(k < b, 1.0, float(s))
        return v
    return schedule


constant_schedule = constant
cosine_decay_schedule = cosine_decay
warmup_cosine_decay_schedule = warmup_cosine_decay
piecewise_constant_schedule = piecewise_constant
