"""Functional optimizers: ``GradientTransformation(init, update)`` pairs over pytrees.

An optimizer is a pair of pure functions::

    opt = optim.adam(1e-3)
    opt_state = opt.init(params)                                   # pytree of NamedTuples
    updates, opt_state = opt.update(grads, opt_state, params)      # pure, traceable
    params = optim.apply_updates(params, updates)                  # params + updates

``params``, ``grads`` and ``updates`` are any pytrees of arrays with the same structure (nested
dicts from ``nn``, lists, tuples, ...). ``update`` never mutates anything and uses no Python
control flow on array values, so a whole training step can be staged with ``fg.make_ir`` or
compiled with ``fg.jit``. Step counts live in the state as int32 scalars; everything derived
from them (bias corrections, schedules) is computed in float64 and cast to each parameter's
dtype, so float32 parameters stay float32.

Building blocks (each a ``GradientTransformation``) compose with ``chain``; the aliases
``sgd``, ``momentum``, ``adagrad``, ``adadelta``, ``rmsprop``, ``adam`` and ``adamw`` are short
chains. Conventions follow ``torch.optim`` (tests compare whole trajectories against it), so
with the same hyperparameters the parameters after every step agree:

==========  ===============================================================================
sgd         ``p ← p − lr·g``
momentum    ``v ← μ·v + g``, ``p ← p − lr·v`` (nesterov: ``p ← p − lr·(g + μ·v)``)
adam        bias-corrected moments, ``p ← p − lr·m̂/(√v̂ + ε)``
adamw       adam plus decoupled decay ``p ← p − lr·wd·p``
==========  ===============================================================================

Any learning rate may be a schedule: a function of the update count (0 for the first update)
returning a scalar, e.g. ``optim.adam(optim.cosine_decay(1e-3, 1000))``.

This module holds the aliases and is where every name is imported from; the states and
building blocks live in `optim_transforms.py`, the schedules in `optim_schedules.py`.
"""
from __future__ import annotations

from typing import Any

from ..core import FuncgradError, user_frame
from .optim_schedules import (
    constant,
    constant_schedule,
    cosine_decay,
    cosine_decay_schedule,
    exponential_decay,
    piecewise_constant,
    piecewise_constant_schedule,
    warmup_cosine_decay,
    warmup_cosine_decay_schedule,
)
from .optim_transforms import (
    EmptyState,
    GradientTransformation,
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByScheduleState,
    ScaleByStddevState,
    Schedule,
    TraceState,
    _check_positive,
    add_decayed_weights,
    apply_updates,
    chain,
    clip_by_global_norm,
    global_norm,
    identity,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_schedule,
    scale_by_stddev,
    trace,
)

__all__ = [
    "GradientTransformation", "EmptyState", "TraceState", "ScaleByScheduleState",
    "ScaleByAdamState", "ScaleByRssState", "ScaleByRmsState", "ScaleByStddevState",
    "ScaleByAdaDeltaState", "apply_updates", "chain", "identity", "scale", "scale_by_schedule",
    "scale_by_learning_rate", "trace", "scale_by_adam", "scale_by_rss", "scale_by_rms",
    "scale_by_stddev", "scale_by_adadelta", "add_decayed_weights", "clip_by_global_norm",
    "global_norm", "sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
    "constant", "exponential_decay", "cosine_decay", "warmup_cosine_decay", "piecewise_constant",
    "constant_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
    "piecewise_constant_schedule",
]


# --- aliases ----------------------------------------------------------------------------------

def sgd(learning_rate: float | Schedule, momentum: float | None = None, nesterov: bool = False,
        weight_decay: float = 0.0, decoupled_weight_decay: bool = False
        ) -> GradientTransformation:
    """Stochastic gradient descent, as ``torch.optim.SGD`` (dampening 0)::

        g ← g + wd·p                       (weight_decay, coupled: an L2 penalty)
        v ← μ·v + g                        (momentum μ; v₀ = 0)
        p ← p − lr·v                       (nesterov: p ← p − lr·(g + μ·v))

    Without momentum: ``p ← p − lr·g``. With ``decoupled_weight_decay=True`` the decay is
    seed 003's: ``v ← μ·v + lr·g; p ← p − wd·p − v`` (decay not multiplied by lr).

    Examples:
        >>> import numpy as np
        >>> opt = sgd(0.1, momentum=0.9)
        >>> p = {"w": np.array([1.0])}
        >>> s = opt.init(p)
        >>> u, s = opt.update({"w": np.array([2.0])}, s, p)
        >>> u
        {'w': array([-0.2])}
    """
    _check_positive("sgd", learning_rate=learning_rate, weight_decay=weight_decay)
    if nesterov and not momentum:
        raise FuncgradError(f"optim.sgd: nesterov=True needs a momentum > 0, at {user_frame()}")
    if decoupled_weight_decay:
        parts = [scale_by_learning_rate(learning_rate)]
        if momentum:
            parts.append(trace(momentum, nesterov))
        if weight_decay:
            parts.append(add_decayed_weights(-weight_decay))
        return chain(*parts)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_learning_rate(learning_rate))
    return chain(*parts)


def momentum(learning_rate: float | Schedule, beta: float = 0.9,
             nesterov: bool = False) -> GradientTransformation:
    """Momentum SGD: ``v ← β·v + g; p ← p − lr·v`` (nesterov: ``p ← p − lr·(g + β·v)``).

    For a constant ``lr`` this equals the book's ``MomentumSGD`` (``v ← β·v − lr·g; p ← p + v``).
    """
    return sgd(learning_rate, momentum=beta, nesterov=nesterov)


def adagrad(learning_rate: float | Schedule = 1e-2, initial_accumulator_value: float = 0.0,
            eps: float = 1e-10) -> GradientTransformation:
    """Adagrad, as ``torch.optim.Adagrad``: ``h ← h + g²; p ← p − lr·g / (√h + eps)``."""
    _check_positive("adagrad", learning_rate=learning_rate)
    return chain(scale_by_rss(initial_accumulator_value, eps),
                 scale_by_learning_rate(learning_rate))


def adadelta(learning_rate: float | Schedule = 1.0, rho: float = 0.9,
             eps: float = 1e-6) -> GradientTransformation:
    """Adadelta, as ``torch.optim.Adadelta`` (the book's version is ``rho=0.95``, lr 1)::

        a ← rho·a + (1 − rho)·g²
        d = √(b + eps) / √(a + eps) · g
        b ← rho·b + (1 − rho)·d²
        p ← p − lr·d
    """
    _check_positive("adadelta", learning_rate=learning_rate)
    return chain(scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: float | Schedule = 1e-2, decay: float = 0.99, eps: float = 1e-8,
            centered: bool = False, momentum: float | None = None,
            nesterov: bool = False) -> GradientTransformation:
    """RMSprop, as ``torch.optim.RMSprop`` (``decay`` is torch's ``alpha``)::

        v ← decay·v + (1 − decay)·g²
        s = g / (√v + eps)                 (centered: s = g / (√(v − m²) + eps),
                                            m ← decay·m + (1 − decay)·g)
        b ← μ·b + s;  p ← p − lr·b         (momentum μ; without it p ← p − lr·s)
    """
    _check_positive("rmsprop", learning_rate=learning_rate)
    parts = [scale_by_stddev(decay, eps) if centered else scale_by_rms(decay, eps)]
    if momentum:
        parts.append(trace(momentum, nesterov))
    parts.append(scale_by_learning_rate(learning_rate))
    return chain(*parts)


def adam(learning_rate: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8, eps_root: float = 0.0,
         weight_decay: float = 0.0) -> GradientTransformation:
    """Adam, as ``torch.optim.Adam`` (``k`` = 1-based step number)::

        g ← g + wd·p                        (weight_decay: coupled L2, as torch's Adam)
        m ← b1·m + (1 − b1)·g
        v ← b2·v + (1 − b2)·g²
        p ← p − lr · (m / (1 − b1^k)) / (√(v / (1 − b2^k)) + eps)

    Examples:
        >>> import numpy as np
        >>> opt = adam(0.1)
        >>> p = {"w": np.array([1.0, -2.0])}
        >>> u, _ = opt.update({"w": np.array([3.0, -0.5])}, opt.init(p), p)
        >>> np.round(u["w"], 6)   # the first step is lr·sign(g)
        array([-0.1,  0.1])
    """
    _check_positive("adam", learning_rate=learning_rate, weight_decay=weight_decay)
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    return chain(*parts, scale_by_adam(b1, b2, eps, eps_root),
                 scale_by_learning_rate(learning_rate))


def adamw(learning_rate: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, eps_root: float = 0.0, weight_decay: float = 1e-2,
          mask: Any = None) -> GradientTransformation:
    """AdamW, as ``torch.optim.AdamW``: Adam plus decoupled weight decay::

        p ← p − lr · ( m̂ / (√v̂ + eps) + wd·p )

    (the decay is not part of the moments; ``mask`` as in ``add_decayed_weights``).
    """
    _check_positive("adamw", learning_rate=learning_rate, weight_decay=weight_decay)
    return chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))
