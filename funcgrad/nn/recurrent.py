"""Recurrent layers: `RNN` (tanh) and `LSTM`, batch-first, looped with `fg.scan`.

Both layers keep the book's equations and take the input size from the sample at ``init``:

    RNN:   h_t = tanh(x_t W_x + h_{t-1} W_h + b)
    LSTM:  f = sigmoid(x_t W_xf + h_{t-1} W_hf + b_f)      (forget gate)
           i = sigmoid(x_t W_xi + h_{t-1} W_hi + b_i)      (input gate)
           o = sigmoid(x_t W_xo + h_{t-1} W_ho + b_o)      (output gate)
           u = tanh(x_t W_xu + h_{t-1} W_hu + b_u)         (new memory)
           c_t = f * c_{t-1} + i * u,   h_t = o * tanh(c_t)

Parameters are ``{"Wx": (D, G), "Wh": (H, G), "b": (G,)}`` with ``G = H`` for the RNN and
``G = 4H`` for the LSTM, whose columns hold the gates in the book's order ``[f | i | o | u]``.
Default init ``Wx ~ N(0, 1/D)``, ``Wh ~ N(0, 1/H)``, ``b = 0`` (the book's ``Linear`` init for
``x2h``/``h2h``; there is one bias, as ``h2h`` has none). A missing initial state is zeros, which
is exactly the book's first step (``h = tanh(x2h(x))``, ``c = i * u``).

Two ways to run a layer:

- over a whole sequence: ``hs, state = layer.apply(params, xs, h0=None)`` with ``xs: (N, T, D)``
  returns every hidden state ``hs: (N, T, H)`` and the final state (``h`` for the RNN,
  ``(h, c)`` for the LSTM). The input projection ``xs @ Wx + b`` is one matmul for all steps;
  only ``h @ Wh`` and the gates run inside `fg.scan`, so grad/vmap/jit see a single loop;
- one step at a time: ``y, state = layer.cell(params, x_t, state)`` with ``x_t: (N, D)``
  (``state=None`` starts from zeros). For truncated backprop through time, run a window with
  ``apply`` and pass its final state (a plain array after ``grad``) to the next window.

    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import nn
    >>> lstm = nn.LSTM(8)
    >>> params = lstm.init(fg.random.key(0), np.zeros((1, 5, 3), np.float32))
    >>> hs, (h, c) = lstm.apply(params, np.ones((2, 5, 3), np.float32))
    >>> hs.shape, h.shape, bool(np.allclose(hs[:, -1], h))
    ((2, 5, 8), (2, 8), True)

Convolution layers live in `conv.py`, the layer contract in `module.py`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import numpy as fnp
from .. import random as fgr
from ..core import FuncgradError, get_aval_of, user_frame
from ..transforms.control_flow import scan
from . import initializers
from .functional import sigmoid
from .module import Module

__all__ = ["RNN", "LSTM"]




class _Recurrent(Module):
    """Shared plumbing: parameter init, input checks and the scan over time."""

    gates = 1  # number of H-wide column blocks in Wx, Wh and b

    def __init__(self, hidden_size: int, w_init: Callable = initializers.lecun_normal,
                 b_init: Callable = initializers.zeros, dtype=None):
        self.hidden_size = int(hidden_size)
        self.w_init, self.b_init, self.dtype = w_init, b_init, dtype

    # --- parameters ----------------------------------------------------------------------------
    def _init(self, key, x):
        if key is None:
            raise FuncgradError(f"{self!r}.init needs a PRNG key: `layer.init(fg.random.key(0), "
                                f"x_sample)`, at {user_frame()}")
        aval = get_aval_of(x)
        if aval.ndim not in (2, 3):
            raise FuncgradError(
                f"{self!r}.init: the sample must be a batch-first sequence (N, T, D) or one "
                f"step (N, D), got shape {aval.shape}, at {user_frame()}")
        D, H, G = aval.shape[-1], self.hidden_size, self.gates * self.hidden_size
        if self.dtype is not None:
            dtype = np.dtype(self.dtype)
        else:
            dtype = aval.dtype if np.issubdtype(aval.dtype, np.floating) else np.dtype(np.float32)
        kx, kh, kb = fgr.split(key, 3)
        # each gate's block is drawn as its own (D, H) / (H, H) matrix, as the book's Linears
        return {"Wx": self.w_init(kx, (D, G), dtype) if self.gates == 1 else
                fnp.concatenate([self.w_init(k, (D, H), dtype)
                                 for k in fgr.split(kx, self.gates)], axis=1),
                "Wh": self.w_init(kh, (H, G), dtype) if self.gates == 1 else
                fnp.concatenate([self.w_init(k, (H, H), dtype)
                                 for k in fgr.split(kh, self.gates)], axis=1),
                "b": self.b_init(kb, (G,), dtype)}

    def _check_params(self, params, d_in) -> None:
        H, G = self.hidden_size, self.gates * self.hidden_size
        want = {"Wx": (d_in, G), "Wh": (H, G), "b": (G,)}
        got = {k: get_aval_of(params[k]).shape for k in want if k in params}
        if got != want:
            raise FuncgradError(
                f"{self!r}: parameter shapes {got} do not fit an input with {d_in} features; "
                f"expected {want}, at {user_frame()}\nCreate the parameters with "
                f"`layer.init(key, x_sample)` from a sample with the same last axis.")

    # --- the state -----------------------------------------------------------------------------
    def initial_state(self, batch_size: int, dtype=np.float32) -> Any:
        """The zero state for ``batch_size`` sequences."""
        raise NotImplementedError

    def _step(self, params, xw, state):
        """One step from the projected input ``xw = x_t @ Wx + b``: ``-> (h, new_state)``."""
        raise NotImplementedError

    # --- running -------------------------------------------------------------------------------
    def cell(self, params, x_t, state=None):
        """One time step: ``x_t: (N, D)`` -> ``(h_t, new_state)``; ``state=None`` means zeros."""
        shape = get_aval_of(x_t).shape
        if len(shape) != 2:
            raise FuncgradError(f"{self!r}.cell: x_t must have shape (N, D) (one time step of a "
                                f"batch), got {shape}, at {user_frame()}")
        self._check_params(params, shape[1])
        xw = fnp.matmul(x_t, params["Wx"]) + params["b"]
        if state is None:
            state = self.initial_state(shape[0], get_aval_of(xw).dtype)
        return self._step(params, xw, state)

    def apply(self, params, xs, h0=None, *, train: bool = False, key=None):
        """Run over ``xs: (N, T, D)`` from ``h0`` (None: zeros) -> ``(hs: (N, T, H), state)``."""
        del train, key  # unused
        shape = get_aval_of(xs).shape
        if len(shape) != 3:
            raise FuncgradError(
                f"{self!r}: expects a batch-first sequence of shape (N, T, D), got {shape}, at "
                f"{user_frame()}\nFor one time step use `layer.cell(params, x_t, state)`; for "
                f"a single sequence add the batch axis with `xs[None]`.")
        N, T, D = shape
        if T == 0:
            raise FuncgradError(f"{self!r}: the sequence is empty (T = 0), at {user_frame()}")
        self._check_params(params, D)
        xw = fnp.matmul(xs, params["Wx"]) + params["b"]           # (N, T, G): one matmul
        state = self.initial_state(N, get_aval_of(xw).dtype) if h0 is None else h0
        state = tuple(state) if isinstance(state, list) else state

        def body(state, xw_t):
            h, state = self._step(params, xw_t, state)
            return state, h

        state, hs = scan(body, state, fnp.swapaxes(xw, 0, 1))     # hs: (T, N, H)
        return fnp.swapaxes(hs, 0, 1), state

    def _apply(self, params, x, *, train=False, key=None):
        return self.apply(params, x, train=train, key=key)

    def __call__(self, params, xs, h0=None, *, train: bool = False, key=None):
        return self.apply(params, xs, h0, train=train, key=key)


class RNN(_Recurrent):
    """Elman RNN ``h_t = tanh(x_t W_x + h_{t-1} W_h + b)``; the state is ``h: (N, H)``.

    ``hs, h_T = RNN(H).apply(params, xs, h0=None)`` for ``xs: (N, T, D)``; one step is
    ``h, h = rnn.cell(params, x_t, h)``.
    """

    gates = 1

    def initial_state(self, batch_size, dtype=np.float32):
        return np.zeros((int(batch_size), self.hidden_size), dtype)

    def _step(self, params, xw, h):
        h = fnp.tanh(xw + fnp.matmul(h, params["Wh"]))
        return h, h


class LSTM(_Recurrent):
    """Long short-term memory (the book's gates ``f, i, o, u``; see the module docstring).

    The state is the pair ``(h, c)``, both ``(N, H)``: ``hs, (h_T, c_T) = lstm.apply(params,
    xs, h0=None)`` (``h0`` is a pair too), and ``h, (h, c) = lstm.cell(params, x_t, (h, c))``.
    """

    gates = 4

    def initial_state(self, batch_size, dtype=np.float32):
        z = np.zeros((int(batch_size), self.hidden_size), dtype)
        return (z, z.copy())

    def _step(self, params, xw, state):
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise FuncgradError(f"LSTM: the state is a pair (h, c), got {type(state).__name__}, "
                                f"at {user_frame()}")
        h, c = state
        H = self.hidden_size
        z = xw + fnp.matmul(h, params["Wh"])                      # (N, 4H): [f | i | o | u]
        f = sigmoid(z[:, :H])
        i = sigmoid(z[:, H:2 * H])
        o = sigmoid(z[:, 2 * H:3 * H])
        u = fnp.tanh(z[:, 3 * H:])
        c = f * c + i * u
        h = o * fnp.tanh(c)
        return h, (h, c)
