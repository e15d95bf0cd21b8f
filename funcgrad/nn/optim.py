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
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import numpy as fnp
from ..core import FuncgradError, Tracer, user_frame
from ..pytree import tree_leaves, tree_map

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

Schedule = Callable[[Any], Any]


# --- protocol and states ------------------------------------------------------------------------

class GradientTransformation(NamedTuple):
    """A pure optimizer: ``init(params) -> state`` and
    ``update(updates, state, params=None) -> (updates, state)``."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """State of a stateless transformation (a pytree with no leaves)."""


class TraceState(NamedTuple):
    """Momentum buffer ``v`` (same structure as the params)."""

    trace: Any


class ScaleByScheduleState(NamedTuple):
    """Number of updates done so far (int32 scalar)."""

    count: Any


class ScaleByAdamState(NamedTuple):
    """Adam's step count and first/second moment estimates ``m``, ``v``."""

    count: Any
    mu: Any
    nu: Any


class ScaleByRssState(NamedTuple):
    """Adagrad's running sum of squared gradients ``h``."""

    sum_of_squares: Any


class ScaleByRmsState(NamedTuple):
    """RMSprop's running mean of squared gradients ``v``."""

    nu: Any


class ScaleByStddevState(NamedTuple):
    """Centered RMSprop's running means of ``g`` (``mu``) and ``g²`` (``nu``)."""

    mu: Any
    nu: Any


class ScaleByAdaDeltaState(NamedTuple):
    """Adadelta's running means of squared gradients and squared steps."""

    e_g: Any
    e_x: Any


# --- helpers --------------------------------------------------------------------------------------

def _dtype(x: Any) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def _like(s: Any, x: Any) -> Any:
    """``s`` (a Python number, array scalar or traced scalar) in ``x``'s float dtype."""
    if type(s) in (int, float):
        return s  # weak Python scalar: never changes x's dtype (np.float64 is not weak)
    dt = _dtype(x)
    if not np.issubdtype(dt, np.inexact):
        return s
    if isinstance(s, Tracer):
        return fnp.astype(s, dt)
    return np.asarray(s, dtype=dt)[()]  # a NumPy scalar: also combines with CuPy arrays


def _full_like(x: Any, value: float) -> Any:
    # np.full_like dispatches to the array's own library (NumPy or CuPy) for concrete leaves
    return fnp.full_like(x, value) if isinstance(x, Tracer) else np.full_like(x, value)


def _zeros(params: Any) -> Any:
    return tree_map(lambda p: _full_like(p, 0), params)


def _count0() -> np.ndarray:
    return np.zeros((), np.int32)


def _inc(count: Any) -> Any:
    return fnp.asarray(count + 1)


def _float_count(count: Any) -> Any:
    return fnp.astype(count, np.float64)


def _need_params(params: Any, name: str) -> None:
    if params is None:
        raise FuncgradError(
            f"optim.{name}: `update` needs the current parameters, but params=None was passed, "
            f"at {user_frame()}\nCall `opt.update(grads, opt_state, params)`.")


def _check_positive(name: str, **values: Any) -> None:
    for k, v in values.items():
        if not callable(v) and not (isinstance(v, (int, float, np.number)) and v >= 0):
            raise FuncgradError(f"optim.{name}: {k} must be a non-negative number or a schedule, "
                                f"got {v!r}, at {user_frame()}")


def apply_updates(params: Any, updates: Any) -> Any:
    """Return ``params + updates`` leafwise, each result in its parameter's dtype.

    Examples:
        >>> import numpy as np
        >>> apply_updates({"w": np.ones(2, np.float32)}, {"w": np.array([0.5, -1.0])})
        {'w': array([1.5, 0. ], dtype=float32)}
    """
    def add(p, u):
        out = p + u
        return out if _dtype(out) == _dtype(p) else fnp.astype(out, _dtype(p))
    return tree_map(add, params, updates)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` one after the other; the state is the tuple of their states.

    ``chain(a, b).update(g, (sa, sb), p)`` runs ``u, sa = a.update(g, sa, p)`` then
    ``u, sb = b.update(u, sb, p)``.
    """
    for t in transforms:
        if not isinstance(t, GradientTransformation):
            raise FuncgradError(f"optim.chain: every argument must be a GradientTransformation "
                                f"(e.g. optim.scale(0.1)), got {t!r}, at {user_frame()}")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if len(state) != len(transforms):
            raise FuncgradError(f"optim.chain: state has {len(state)} entries for "
                                f"{len(transforms)} transformations; pass the state that this "
                                f"optimizer's `init` returned, at {user_frame()}")
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def identity() -> GradientTransformation:
    """``u ← g`` (no state)."""
    def update(updates, state, params=None):
        del params  # unused
        return updates, state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale(step_size: float) -> GradientTransformation:
    """``u ← step_size · g`` (no state)."""
    def update(updates, state, params=None):
        del params  # unused
        return tree_map(lambda g: g * _like(step_size, g), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """``u ← step_size_fn(k) · g`` where ``k`` counts the updates done so far (0, 1, ...)."""
    def init(params):
        del params  # unused
        return ScaleByScheduleState(count=_count0())

    def update(updates, state, params=None):
        del params  # unused
        s = step_size_fn(state.count)
        updates = tree_map(lambda g: g * _like(s, g), updates)
        return updates, ScaleByScheduleState(count=_inc(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: float | Schedule,
                           flip_sign: bool = True) -> GradientTransformation:
    """``u ← −lr · g`` (``+lr`` with ``flip_sign=False``); ``lr`` may be a schedule."""
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``v ← decay·v + g``; ``u ← v`` (nesterov: ``u ← g + decay·v``); ``v₀ = 0``.

    Combined with ``scale_by_learning_rate`` this is ``torch.optim.SGD``'s momentum rule.
    """
    def init(params):
        return TraceState(trace=_zeros(params))

    def update(updates, state, params=None):
        del params  # unused
        v = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        out = tree_map(lambda g, t: g + decay * t, updates, v) if nesterov else v
        return out, TraceState(trace=v)

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  eps_root: float = 0.0) -> GradientTransformation:
    """Adam's scaling, with ``k`` the 1-based step number::

        m ← b1·m + (1 − b1)·g          m̂ = m / (1 − b1^k)
        v ← b2·v + (1 − b2)·g²         v̂ = v / (1 − b2^k)
        u ← m̂ / (√(v̂ + eps_root) + eps)
    """
    def init(params):
        return ScaleByAdamState(count=_count0(), mu=_zeros(params), nu=_zeros(params))

    def update(updates, state, params=None):
        del params  # unused
        mu = tree_map(lambda g, m: b1 * m + (1.0 - b1) * g, updates, state.mu)
        nu = tree_map(lambda g, v: b2 * v + (1.0 - b2) * (g * g), updates, state.nu)
        count = _inc(state.count)
        k = _float_count(count)
        c1 = 1.0 / (1.0 - fnp.power(b1, k))
        c2 = 1.0 / (1.0 - fnp.power(b2, k))

        def step(m, v):
            return (m * _like(c1, m)) / (fnp.sqrt(v * _like(c2, v) + eps_root) + eps)
        return tree_map(step, mu, nu), ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def scale_by_rss(initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> GradientTransformation:
    """Adagrad's scaling: ``h ← h + g²``; ``u ← g / (√h + eps)``; ``h₀ = initial value``."""
    def init(params):
        return ScaleByRssState(tree_map(
            lambda p: _full_like(p, initial_accumulator_value), params))

    def update(updates, state, params=None):
        del params  # unused
        h = tree_map(lambda g, s: s + g * g, updates, state.sum_of_squares)
        out = tree_map(lambda g, s: g / (fnp.sqrt(s) + eps), updates, h)
        return out, ScaleByRssState(h)

    return GradientTransformation(init, update)


def scale_by_rms(decay: float = 0.99, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop's scaling: ``v ← decay·v + (1 − decay)·g²``; ``u ← g / (√v + eps)``."""
    def init(params):
        return ScaleByRmsState(_zeros(params))

    def update(updates, state, params=None):
        del params  # unused
        nu = tree_map(lambda g, v: decay * v + (1.0 - decay) * (g * g), updates, state.nu)
        out = tree_map(lambda g, v: g / (fnp.sqrt(v) + eps), updates, nu)
        return out, ScaleByRmsState(nu)

    return GradientTransformation(init, update)


def scale_by_stddev(decay: float = 0.99, eps: float = 1e-8) -> GradientTransformation:
    """Centered RMSprop's scaling::

        m ← decay·m + (1 − decay)·g,   v ← decay·v + (1 − decay)·g²,
        u ← g / (√(v − m²) + eps)
    """
    def init(params):
        return ScaleByStddevState(_zeros(params), _zeros(params))

    def update(updates, state, params=None):
        del params  # unused
        mu = tree_map(lambda g, m: decay * m + (1.0 - decay) * g, updates, state.mu)
        nu = tree_map(lambda g, v: decay * v + (1.0 - decay) * (g * g), updates, state.nu)
        out = tree_map(lambda g, m, v: g / (fnp.sqrt(v - m * m) + eps), updates, mu, nu)
        return out, ScaleByStddevState(mu, nu)

    return GradientTransformation(init, update)


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    """Adadelta's scaling::

        a ← rho·a + (1 − rho)·g²
        u ← √(b + eps) / √(a + eps) · g
        b ← rho·b + (1 − rho)·u²
    """
    def init(params):
        return ScaleByAdaDeltaState(_zeros(params), _zeros(params))

    def update(updates, state, params=None):
        del params  # unused
        e_g = tree_map(lambda g, a: rho * a + (1.0 - rho) * (g * g), updates, state.e_g)
        out = tree_map(lambda g, a, b: fnp.sqrt(b + eps) / fnp.sqrt(a + eps) * g,
                       updates, e_g, state.e_x)
        e_x = tree_map(lambda u, b: rho * b + (1.0 - rho) * (u * u), out, state.e_x)
        return out, ScaleByAdaDeltaState(e_g, e_x)

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0,
                        mask: Any = None) -> GradientTransformation:
    """Weight decay: ``u ← u + weight_decay · p`` (no state; needs ``params``).

    Where it sits in a chain decides its meaning:

    - before the learning-rate scaling it is an L2 penalty ``wd/2·‖p‖²`` added to the loss
      (``torch.optim.SGD(weight_decay=wd)``): ``chain(add_decayed_weights(wd), trace(μ),
      scale_by_learning_rate(lr))``;
    - after it, it is decoupled decay (AdamW: ``p ← p − lr·wd·p`` via
      ``chain(scale_by_adam(), add_decayed_weights(wd), scale_by_learning_rate(lr))``), and
      with a negative rate it is seed 003's SGD, ``v ← μ·v + lr·g; p ← p − wd·p − v``:
      ``chain(scale_by_learning_rate(lr), trace(μ), add_decayed_weights(-wd))``, which is
      ``sgd(lr, momentum=μ, weight_decay=wd, decoupled_weight_decay=True)``.

    ``mask`` (optional) is a pytree of Python bools with the params' structure, or a function
    ``params -> such a tree``; leaves marked False (e.g. biases) are not decayed.
    """
    def update(updates, state, params=None):
        _need_params(params, "add_decayed_weights")
        if mask is None:
            return tree_map(lambda u, p: u + weight_decay * p, updates, params), state
        keep = mask(params) if callable(mask) else mask
        return tree_map(lambda u, p, m: u + weight_decay * p if m else u,
                        updates, params, keep), state
    return GradientTransformation(lambda params: EmptyState(), update)


def global_norm(tree: Any) -> Any:
    """``‖tree‖₂ = √(Σ over all leaves of Σ x²)`` as a float64 scalar (0 for an empty tree)."""
    leaves = tree_leaves(tree)
    if not leaves:
        return np.float64(0.0)
    total = sum(fnp.astype(fnp.sum(x * x), np.float64) for x in leaves)
    return fnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale so the global norm is at most ``max_norm`` (no state)::

        n = ‖g‖₂ over all leaves;   u ← g · max_norm / max(n, max_norm)

    (``g`` is unchanged when ``n ≤ max_norm``; no branch, so it traces.)
    """
    _check_positive("clip_by_global_norm", max_norm=max_norm)

    def update(updates, state, params=None):
        del params  # unused
        if not tree_leaves(updates):
            return updates, state
        factor = max_norm / fnp.maximum(global_norm(updates), max_norm)
        return tree_map(lambda g: g * _like(factor, g), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


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
