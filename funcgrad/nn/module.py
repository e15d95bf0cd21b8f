"""The layer contract: a layer is an immutable configuration object with pure methods.

    params = layer.init(key, x_sample)                       # input sizes inferred from x_sample
    y = layer.apply(params, x, train=False, key=None)        # pure; key only for randomness
    params, state = layer.init_with_state(key, x_sample)     # layers with running statistics
    y, state = layer.apply_with_state(params, state, x, train=False, key=None)

``params`` and ``state`` are nested dicts of arrays: they go through ``grad``, ``jit``,
``vmap``, the optimizers and ``fg.save`` unchanged. A stateless layer writes ``_init`` and
``_apply``; a layer with running statistics (BatchNorm) overrides ``init_with_state`` and
``apply_with_state`` and sets ``has_state = True``. Calling ``init``/``apply`` on a model with state
is an error that points to the ``*_with_state`` pair (the state would otherwise be lost).

A layer of your own (the book's ``TwoLayerNet``) is a few lines:

    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import nn
    >>> class TwoLayerNet(nn.Module):
    ...     def __init__(self, hidden_size, out_size):
    ...         self.l1, self.l2 = nn.Linear(hidden_size), nn.Linear(out_size)
    ...     def _init(self, key, x):
    ...         k1, k2 = fg.random.split(key)
    ...         p1 = self.l1.init(k1, x)
    ...         return {"l1": p1, "l2": self.l2.init(k2, self.l1.apply(p1, x))}
    ...     def _apply(self, params, x, *, train=False, key=None):
    ...         return self.l2.apply(params["l2"], nn.sigmoid(self.l1.apply(params["l1"], x)))
    >>> net = TwoLayerNet(10, 1)
    >>> params = net.init(fg.random.key(0), np.zeros((1, 3), np.float32))
    >>> net.apply(params, np.ones((4, 3), np.float32)).shape
    (4, 1)
"""
from __future__ import annotations

from typing import Any

from .. import random as fgr
from ..core import FuncgradError, user_frame

__all__ = ["Module"]


class Module:
    """Base class of every layer (see the module docstring for the contract)."""

    has_state: bool = False  # True when the layer (or a sublayer) keeps running statistics
    uses_key: bool = False   # True when training needs randomness (Dropout, or a container of it)

    # --- what stateless layers implement ------------------------------------------------------
    def _init(self, key, x) -> dict:
        del key, x  # unused
        return {}

    def _apply(self, params, x, *, train: bool = False, key=None):
        raise NotImplementedError

    # --- the public contract ------------------------------------------------------------------
    def init_with_state(self, key, x) -> tuple[dict, dict]:
        """``(params, state)`` for the input sample ``x`` (only its shape and dtype matter)."""
        return self._init(key, x), {}

    def apply_with_state(self, params, state, x, *, train: bool = False,
                         key=None) -> tuple[Any, dict]:
        """``(y, new_state)``; ``train=True`` uses batch statistics and updates ``state``."""
        return self._apply(params, x, train=train, key=key), state

    def init(self, key, x) -> dict:
        """Parameters (a nested dict of arrays) for the input sample ``x``."""
        fgr.note_consumed(key, "nn init")
        if self.has_state:
            raise FuncgradError(
                f"{self!r} keeps running statistics (state), which `init` would drop, at "
                f"{user_frame()}\nUse `params, state = model.init_with_state(key, x)` and "
                f"`y, state = model.apply_with_state(params, state, x, train=...)`.")
        return self.init_with_state(key, x)[0]

    def apply(self, params, x, *, train: bool = False, key=None):
        """The output for the input ``x`` (pure: same params, input and key -> same output)."""
        if self.has_state:
            raise FuncgradError(
                f"{self!r} keeps running statistics (state), so it is applied with "
                f"`y, state = model.apply_with_state(params, state, x, train=...)`, at "
                f"{user_frame()}")
        return self.apply_with_state(params, {}, x, train=train, key=key)[0]

    def __call__(self, params, x, *, train: bool = False, key=None):
        return self.apply(params, x, train=train, key=key)

    def __repr__(self) -> str:
        """The constructor call, with arguments that differ from their defaults."""
        import inspect
        parts = []
        try:
            sig = inspect.signature(type(self).__init__)
        except (TypeError, ValueError):  # pragma: no cover
            return f"{type(self).__name__}()"
        for name, prm in list(sig.parameters.items())[1:]:
            if not hasattr(self, name) or prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
                continue
            v = getattr(self, name)
            if prm.default is prm.empty:
                parts.append(_fmt(v))
            elif not _same(v, prm.default):
                parts.append(f"{name}={_fmt(v)}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _same(a, b) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # arrays and other values without a plain truth value
        return False


def _fmt(v) -> str:
    if isinstance(v, type) or callable(v) and hasattr(v, "__name__"):
        return getattr(v, "__name__", repr(v))
    return repr(v)


def need_key(layer: Module, key, train: bool) -> None:
    """Training a layer that draws random numbers needs an explicit key: say so clearly."""
    if train and key is None:
        raise FuncgradError(
            f"{layer!r} draws random numbers in training, so `apply(..., train=True)` needs a "
            f"PRNG key, at {user_frame()}\nPass `key=k` with a fresh key for every step, e.g. "
            f"`key, k = fg.random.split(key)` then `model.apply(params, x, train=True, key=k)`; "
            f"or call with `train=False` for inference.")
