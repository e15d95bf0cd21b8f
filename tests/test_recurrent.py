"""funcgrad.nn.recurrent: RNN and LSTM over batch-first sequences (fg.scan), the one-step cell,
truncated BPTT, and the step-60 example (LSTM on the sine curve).

Oracles: the book's equations written out as a NumPy loop, finite differences (`check_grads`),
the unrolled Python loop over `cell`, and eager vs vmap/jit.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad.core import FuncgradError

RNG = np.random.default_rng(0)
KEY = fg.random.key(0)
N, T, D, H = 3, 5, 4, 6


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def rnn_loop(p, xs, h=None):
    """The book's eq. 59.1, step by step: h_t = tanh(h_{t-1} W_h + x_t W_x + b)."""
    h = np.zeros((xs.shape[0], p["Wh"].shape[0])) if h is None else h
    hs = []
    for t in range(xs.shape[1]):
        h = np.tanh(h @ p["Wh"] + xs[:, t] @ p["Wx"] + p["b"])
        hs.append(h)
    return np.stack(hs, 1), h


def lstm_loop(p, xs, state=None):
    """The book's eqs. 60.1-60.3 with the gate blocks [f | i | o | u] of Wx, Wh and b."""
    Hs = p["Wh"].shape[0]
    h, c = (np.zeros((xs.shape[0], Hs)),) * 2 if state is None else state
    blk = {g: slice(k * Hs, (k + 1) * Hs) for k, g in enumerate("fiou")}
    hs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]

        def gate(g):
            return x @ p["Wx"][:, blk[g]] + h @ p["Wh"][:, blk[g]] + p["b"][blk[g]]
        f, i, o, u = _sig(gate("f")), _sig(gate("i")), _sig(gate("o")), np.tanh(gate("u"))
        c = f * c + i * u
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), (h, c)


def _params(layer, scale=0.5):
    p = layer.init(KEY, np.zeros((1, T, D)))
    p["b"] = RNG.standard_normal(p["b"].shape) * scale  # a non-zero bias exercises it too
    return p


LAYERS = [(nn.RNN, rnn_loop), (nn.LSTM, lstm_loop)]


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls,loop", LAYERS)
def test_against_numpy_loop(cls, loop):
    layer = cls(H)
    p = _params(layer)
    xs = RNG.standard_normal((N, T, D))
    hs, state = layer.apply(p, xs)
    want_hs, want_state = loop(p, xs)
    assert hs.shape == (N, T, H)
    np.testing.assert_allclose(hs, want_hs, rtol=1e-12, atol=1e-12)
    fg.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), state,
                          want_state)
    # from a given initial state
    h0 = RNG.standard_normal((N, H))
    s0 = h0 if cls is nn.RNN else (h0, RNG.standard_normal((N, H)))
    hs, state = layer.apply(p, xs, s0)
    np.testing.assert_allclose(hs, loop(p, xs, s0)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hs[:, -1], state if cls is nn.RNN else state[0])


def test_book_first_step_and_rnn_shape():
    # S59: L.RNN(10)(np.random.rand(1, 1)).shape == (1, 10); the first step is tanh(x2h(x))
    rnn = nn.RNN(10)
    x = np.random.default_rng(1).random((1, 1))
    p = rnn.init(KEY, x)
    y, h = rnn.cell(p, x)
    assert y.shape == (1, 10)
    np.testing.assert_allclose(y, np.tanh(x @ p["Wx"] + p["b"]))
    # LSTM's first step: c = i * u, h = o * tanh(c)
    lstm = nn.LSTM(4)
    pl = lstm.init(KEY, x)
    pl["b"] = RNG.standard_normal(16)
    y, (h, c) = lstm.cell(pl, x)
    z = x @ pl["Wx"] + pl["b"]
    i, o, u = _sig(z[:, 4:8]), _sig(z[:, 8:12]), np.tanh(z[:, 12:])
    np.testing.assert_allclose(c, i * u, rtol=1e-12)
    np.testing.assert_allclose(h, o * np.tanh(i * u), rtol=1e-12)


def test_init_shapes_dtypes_and_scale():
    p = nn.LSTM(64).init(KEY, np.zeros((2, 7, 32), np.float32))
    assert {k: v.shape for k, v in p.items()} == {"Wx": (32, 256), "Wh": (64, 256), "b": (256,)}
    assert all(v.dtype == np.float32 for v in p.values())
    np.testing.assert_array_equal(p["b"], 0)
    # the book's Linear init per gate block: Wx ~ N(0, 1/D), Wh ~ N(0, 1/H)
    assert abs(p["Wx"].var() * 32 - 1) < 0.1 and abs(p["Wh"].var() * 64 - 1) < 0.1
    r = nn.RNN(8).init(KEY, np.zeros((2, 3), np.float64))  # one-step sample works too
    assert r["Wx"].shape == (3, 8) and r["Wh"].shape == (8, 8) and r["b"].dtype == np.float64
    assert repr(nn.LSTM(5)) == "LSTM(5)"


# --- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls,loop", LAYERS)
def test_check_grads(cls, loop):
    layer = cls(3)
    p = layer.init(KEY, np.zeros((1, 3, 2)))
    xs = RNG.standard_normal((2, 3, 2))
    s0 = layer.initial_state(2, np.float64)
    s0 = fg.tree_util.tree_map(lambda z: RNG.standard_normal(z.shape) * 0.5, s0)

    def f(p, xs, s0):
        hs, state = layer.apply(p, xs, s0)
        return hs, state

    fg.testing.check_grads(f, (p, xs, s0), order=1)
    fg.testing.check_grads(lambda p: fnp.sum(layer.apply(p, xs)[0] ** 2), (p,), order=2,
                           modes=("rev",))


@pytest.mark.parametrize("cls,loop", LAYERS)
def test_scan_equals_unrolled_cell_loop(cls, loop):
    layer = cls(H)
    p = _params(layer)
    xs = RNG.standard_normal((N, T, D))

    def unrolled(p, xs):
        state, hs = None, []
        for t in range(T):
            h, state = layer.cell(p, xs[:, t], state)
            hs.append(h)
        return fnp.stack(hs, axis=1), state

    def loss(run, p):
        hs, state = run(p, xs)
        return fnp.sum(fnp.sin(hs)) + fnp.sum(fg.tree_util.tree_leaves(state)[0] ** 2)

    hs_s, st_s = layer.apply(p, xs)
    hs_u, st_u = unrolled(p, xs)
    np.testing.assert_allclose(hs_s, hs_u, rtol=1e-13)
    g_s = fg.grad(lambda p: loss(layer.apply, p))(p)
    g_u = fg.grad(lambda p: loss(unrolled, p))(p)
    for k in p:
        np.testing.assert_allclose(g_s[k], g_u[k], rtol=1e-11, atol=1e-13)
    # the staged program holds one scan, not T copies of the cell
    ir = str(fg.make_ir(lambda p: layer.apply(p, xs)[0])(p))
    assert ir.count("scan") >= 1 and ir.count("tanh") <= 2


@pytest.mark.parametrize("cls,loop", LAYERS)
def test_vmap_and_jit_equal_eager(cls, loop):
    layer = cls(H)
    p = _params(layer)
    xs = RNG.standard_normal((N, T, D))
    hs, state = layer.apply(p, xs)
    # vmap over single sequences (T, D), each given its own batch axis of 1
    hv = fg.vmap(lambda x: layer.apply(p, x[None])[0][0])(xs)
    np.testing.assert_allclose(hv, hs, rtol=1e-12)
    hj, sj = fg.jit(layer.apply)(p, xs)
    np.testing.assert_allclose(hj, hs, rtol=1e-12)
    fg.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), sj, state)

    def loss(p, x):
        return fnp.sum(layer.apply(p, x[None])[0] ** 2)

    per_ex = fg.vmap(fg.grad(loss), in_axes=(None, 0))(p, xs)
    for i in range(N):
        gi = fg.grad(loss)(p, xs[i])
        for k in p:
            np.testing.assert_allclose(per_ex[k][i], gi[k], rtol=1e-10, atol=1e-12)
    gj = fg.jit(fg.grad(lambda p: fnp.sum(layer.apply(p, xs)[0] ** 2)))(p)
    ge = fg.grad(lambda p: fnp.sum(layer.apply(p, xs)[0] ** 2))(p)
    for k in p:
        np.testing.assert_allclose(gj[k], ge[k], rtol=1e-10, atol=1e-12)


# --- truncated BPTT ---------------------------------------------------------------------------


def test_truncated_bptt_windows():
    """Two windows with the state carried between them give the same forward pass as one long
    run, and the second window's gradient equals the gradient with the carried state held
    fixed (what the book's `unchain_backward` does)."""
    layer = nn.LSTM(H)
    p = _params(layer)
    xs = RNG.standard_normal((N, 2 * T, D))
    hs_full, st_full = layer.apply(p, xs)
    hs1, st1 = layer.apply(p, xs[:, :T])
    hs2, st2 = layer.apply(p, xs[:, T:], st1)
    np.testing.assert_allclose(np.concatenate([hs1, hs2], 1), hs_full, rtol=1e-12)

    def window_loss(p, state, x):
        hs, state = layer.apply(p, x, state)
        return fnp.sum(hs ** 2), state

    (l2, _), g2 = fg.value_and_grad(window_loss, has_aux=True)(p, st1, xs[:, T:])
    # the same gradient from the NumPy loop's second window, by finite differences on Wx
    eps, idx = 1e-6, (1, 2)
    pp, pm = dict(p), dict(p)
    pp["Wx"], pm["Wx"] = p["Wx"].copy(), p["Wx"].copy()
    pp["Wx"][idx] += eps
    pm["Wx"][idx] -= eps
    fd = (np.sum(lstm_loop(pp, xs[:, T:], st1)[0] ** 2)
          - np.sum(lstm_loop(pm, xs[:, T:], st1)[0] ** 2)) / (2 * eps)
    np.testing.assert_allclose(g2["Wx"][idx], fd, rtol=1e-6)
    # ...and differs from the full-sequence gradient of the same loss (which flows into window 1)
    g_full = fg.grad(lambda p: fnp.sum(layer.apply(p, xs)[0][:, T:] ** 2))(p)
    assert not np.allclose(g2["Wx"], g_full["Wx"])
    np.testing.assert_allclose(float(l2), np.sum(hs_full[:, T:] ** 2), rtol=1e-12)


def test_errors_teach():
    layer = nn.LSTM(4)
    p = layer.init(KEY, np.zeros((1, 2, 3)))
    with pytest.raises(FuncgradError, match=r"\(N, T, D\)"):
        layer.apply(p, np.zeros((2, 3)))
    with pytest.raises(FuncgradError, match="do not fit"):
        layer.apply(p, np.zeros((1, 2, 5)))
    with pytest.raises(FuncgradError, match=r"pair \(h, c\)"):
        layer.cell(p, np.zeros((1, 3)), np.zeros((1, 4)))
    with pytest.raises(FuncgradError, match=r"\(N, D\)"):
        layer.cell(p, np.zeros((1, 2, 3)))


# --- the step-60 example ------------------------------------------------------------------------


def test_step60_lstm_sine_example_loss_decreases():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    try:
        import step60_lstm_sine as ex
    finally:
        sys.path.pop(0)
    res = ex.main(epochs=5)  # the book's model (hidden 100), one update per epoch
    losses = res["losses"]
    assert len(losses) == 5 and all(np.isfinite(losses))
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]


def test_docstring_examples_run():
    import doctest
    res = doctest.testmod(nn.recurrent)
    assert res.failed == 0 and res.attempted > 0
