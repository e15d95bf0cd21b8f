"""The building blocks of `funcgrad.nn.optim`: states, `apply_updates`, `chain` and the
gradient transformations (`scale`, `trace`, `scale_by_adam`, ..., `clip_by_global_norm`).

Each block is a ``GradientTransformation(init, update)`` whose state is a NamedTuple pytree;
the protocol, the conventions (int32 step counts, float64 derived scalars cast to each
parameter's dtype) and the optimizer aliases that chain these blocks are in `optim.py`, which
re-exports every public name here. Users import them all from `funcgrad.nn.optim`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import numpy as fnp
from ..backend import get_array_module
from ..core import FuncgradError, Tracer, user_frame
from ..pytree import tree_leaves, tree_map, tree_structure

__all__ = [
    "GradientTransformation", "EmptyState", "TraceState", "ScaleByScheduleState",
    "ScaleByAdamState", "ScaleByRssState", "ScaleByRmsState", "ScaleByStddevState",
    "ScaleByAdaDeltaState", "apply_updates", "chain", "identity", "scale", "scale_by_schedule",
    "scale_by_learning_rate", "trace", "scale_by_adam", "scale_by_rss", "scale_by_rms",
    "scale_by_stddev", "scale_by_adadelta", "add_decayed_weights", "clip_by_global_norm",
    "global_norm",
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


def _count0(params: Any) -> Any:
    """The step count 0, on the params' device (a jitted step refuses mixed devices)."""
    return get_array_module(*tree_leaves(params)).zeros((), np.int32)


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
    try:
        return tree_map(add, params, updates)
    except ValueError as e:
        raise _tree_mismatch("optim.apply_updates", "the updates", "the params", e) from None


_MSG_TREE_MISMATCH = """{what}: {a} and {b} are trees of different structures:
  {detail}
  at {where}
An optimizer works leaf by leaf on the tree it was initialised with: take the gradients of the
same params tree that `opt.init(params)` received (`fg.grad(loss)(params, ...)`), and pass the
updates that `opt.update` returned to `optim.apply_updates(params, updates)`."""


def _tree_mismatch(what: str, a: str, b: str, e: Exception | str) -> FuncgradError:
    return FuncgradError(_MSG_TREE_MISMATCH.format(what=what, a=a, b=b, detail=e,
                                                   where=user_frame()))


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
        if params is not None and tree_structure(params) != tree_structure(updates):
            raise _tree_mismatch("optimizer update", "the gradients", "the params",
                                 f"{tree_structure(updates)} vs {tree_structure(params)}")
        new_state = []
        try:
            for t, s in zip(transforms, state):
                updates, s = t.update(updates, s, params)
                new_state.append(s)
        except ValueError as e:
            if "structure mismatch" not in str(e):
                raise
            raise _tree_mismatch("optimizer update", "the gradients", "the optimizer state (or "
                                 "params)", e) from None
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
        return ScaleByScheduleState(count=_count0(params))

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
        return ScaleByAdamState(count=_count0(params), mu=_zeros(params), nu=_zeros(params))

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
