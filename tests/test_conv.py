"""funcgrad.nn.conv: im2col, conv2d, pooling and their layers.

Oracles: a direct NumPy loop over output positions, `jax.lax.conv_general_dilated` /
`jax.lax.reduce_window` (x64), finite differences (`check_grads`), and the book's worked
examples (the book's steps 55-57).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad.core import FuncgradError

RNG = np.random.default_rng(0)
KEY = fg.random.key(0)

# --- NumPy loop references ---------------------------------------------------------------------


def conv_loop(x, W, b=None, stride=1, pad=0):
    (sh, sw), (ph, pw) = nn.conv.pair(stride), nn.conv.pair(pad)
    N, C, H, Wd = x.shape
    OC, _, KH, KW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH, OW = (H + 2 * ph - KH) // sh + 1, (Wd + 2 * pw - KW) // sw + 1
    y = np.zeros((N, OC, OH, OW), np.result_type(x, W))
    for i in range(OH):
        for j in range(OW):
            region = xp[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
            y[:, :, i, j] = np.tensordot(region, W, axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + b[None, :, None, None]


def pool_loop(x, k, stride, pad, op):
    (kh, kw), (sh, sw), (ph, pw) = nn.conv.pair(k), nn.conv.pair(stride), nn.conv.pair(pad)
    fill = -np.inf if op == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = win.max(axis=(2, 3)) if op == "max" else win.mean(axis=(2, 3))
    return y


def im2col_loop(x, k, stride, pad):
    (kh, kw), (sh, sw), (ph, pw) = nn.conv.pair(k), nn.conv.pair(stride), nn.conv.pair(pad)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    rows = [xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw].ravel()
            for n in range(N) for i in range(OH) for j in range(OW)]
    return np.stack(rows)


GEOMS = [  # (H, W, K, stride, pad)
    (5, 5, 3, 1, 0), (5, 5, 3, 1, 1), (7, 7, 3, 2, 0), (7, 6, 3, 2, 1), (6, 6, 2, 2, 0),
    (8, 5, (3, 2), (2, 1), (1, 0)), (4, 4, 4, 1, 0), (5, 7, 1, 1, 0), (9, 9, 5, 3, 2),
]


# --- the book's examples (steps 55-57) -------------------------------------------------------

BOOK_X = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], np.float64)
BOOK_W = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], np.float64)


def test_book_conv_examples():
    x, w = BOOK_X[None, None], BOOK_W[None, None]
    np.testing.assert_array_equal(nn.conv2d(x, w)[0, 0], [[15, 16], [6, 15]])
    np.testing.assert_array_equal(nn.conv2d(x, w, np.array(3.0))[0, 0], [[18, 19], [9, 18]])
    np.testing.assert_array_equal(nn.conv2d(x, w, pad=1)[0, 0], [[7, 12, 10, 2], [4, 15, 16, 10],
                                                                 [10, 6, 15, 6], [8, 10, 4, 3]])
    assert nn.conv2d(RNG.random((1, 1, 7, 7)), RNG.random((1, 1, 3, 3)), stride=2).shape == \
        (1, 1, 3, 3)
    assert nn.get_conv_outsize(4, 3, 1, 1) == 4


def test_book_pooling_and_im2col_shapes():
    x = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], np.float64)
    np.testing.assert_array_equal(nn.max_pool2d(x[None, None], 2, 2)[0, 0], [[2, 3], [4, 2]])
    assert nn.im2col(RNG.random((1, 3, 7, 7)), kernel_size=5).shape == (9, 75)
    assert nn.im2col(RNG.random((10, 3, 7, 7)), kernel_size=5).shape == (90, 75)
    assert nn.conv.pair(1) == (1, 1) and nn.conv.pair((1, 2)) == (1, 2)
    # conv2d_simple with N,C,H,W = 1,5,15,15, OC=8, K=3, stride 1, pad 1 (step 57)
    x, W = RNG.random((1, 5, 15, 15)), RNG.random((8, 5, 3, 3))
    y = nn.conv2d(x, W, np.zeros(8), 1, 1)
    gx = fg.grad(lambda x: fnp.sum(nn.conv2d(x, W, np.zeros(8), 1, 1)))(x)
    assert y.shape == (1, 8, 15, 15) and gx.shape == (1, 5, 15, 15)


# --- values against the loop and JAX ------------------------------------------------------


@pytest.mark.parametrize("H,W,K,S,P", GEOMS)
def test_conv2d_shapes_and_values_against_loop(H, W, K, S, P):
    (kh, kw), (sh, sw), (ph, pw) = nn.conv.pair(K), nn.conv.pair(S), nn.conv.pair(P)
    x, w, b = RNG.standard_normal((2, 3, H, W)), RNG.standard_normal((4, 3, kh, kw)), \
        RNG.standard_normal(4)
    y = nn.conv2d(x, w, b, S, P)
    assert y.shape == (2, 4, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)
    np.testing.assert_allclose(y, conv_loop(x, w, b, S, P), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn.im2col(x, K, S, P), im2col_loop(x, K, S, P))
    col6 = nn.im2col(x, K, S, P, to_matrix=False)  # (N, C, KH, KW, OH, OW)
    assert col6.shape == (2, 3, kh, kw) + y.shape[2:]
    np.testing.assert_allclose(col6.transpose(0, 4, 5, 1, 2, 3).reshape(-1, 3 * kh * kw),
                               im2col_loop(x, K, S, P))
    for op, fn in (("max", nn.max_pool2d), ("avg", nn.avg_pool2d)):
        if ph * 2 < kh and pw * 2 < kw:  # every window must hold a real entry
            np.testing.assert_allclose(fn(x, K, S, P), pool_loop(x, K, S, P, op), rtol=1e-12)


@pytest.mark.parametrize("H,W,K,S,P", [GEOMS[1], GEOMS[3], GEOMS[5]])
def test_conv_and_pool_against_jax(H, W, K, S, P):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax
    (kh, kw), (sh, sw), (ph, pw) = nn.conv.pair(K), nn.conv.pair(S), nn.conv.pair(P)
    x, w = RNG.standard_normal((2, 3, H, W)), RNG.standard_normal((5, 3, kh, kw))
    want = lax.conv_general_dilated(x, w, (sh, sw), [(ph, ph), (pw, pw)],
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"))
    np.testing.assert_allclose(nn.conv2d(x, w, None, S, P), np.asarray(want), rtol=1e-11,
                               atol=1e-11)
    if ph * 2 < kh and pw * 2 < kw:
        win, st, pads = (1, 1, kh, kw), (1, 1, sh, sw), [(0, 0), (0, 0), (ph, ph), (pw, pw)]
        mx = lax.reduce_window(x, -np.inf, lax.max, win, st, pads)
        av = lax.reduce_window(x, 0.0, lax.add, win, st, pads) / (kh * kw)
        np.testing.assert_allclose(nn.max_pool2d(x, K, S, P), np.asarray(mx), rtol=1e-12)
        np.testing.assert_allclose(nn.avg_pool2d(x, K, S, P), np.asarray(av), rtol=1e-12)
        # gradients too (no ties in random data)
        gx = jax.grad(lambda x: jax.numpy.sum(
            lax.reduce_window(x, -np.inf, lax.max, win, st, pads) ** 2))(x)
        np.testing.assert_allclose(
            fg.grad(lambda x: fnp.sum(nn.max_pool2d(x, K, S, P) ** 2))(x), np.asarray(gx),
            rtol=1e-12)
    gw = jax.grad(lambda w: jax.numpy.sum(jax.numpy.sin(lax.conv_general_dilated(
        x, w, (sh, sw), [(ph, ph), (pw, pw)], dimension_numbers=("NCHW", "OIHW", "NCHW")))))(w)
    np.testing.assert_allclose(fg.grad(lambda w: fnp.sum(fnp.sin(nn.conv2d(x, w, None, S, P))))(w),
                               np.asarray(gw), rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       seed=st.integers(0, 100))
def test_conv2d_property_against_loop(h, w, kh, kw, sh, sw, ph, pw, seed):
    if h + 2 * ph < kh or w + 2 * pw < kw:
        with pytest.raises(FuncgradError, match="does not fit"):
            nn.conv2d(np.zeros((1, 1, h, w)), np.zeros((1, 1, kh, kw)), None, (sh, sw), (ph, pw))
        return
    r = np.random.default_rng(seed)
    x, W = r.standard_normal((2, 2, h, w)), r.standard_normal((3, 2, kh, kw))
    np.testing.assert_allclose(nn.conv2d(x, W, None, (sh, sw), (ph, pw)),
                               conv_loop(x, W, None, (sh, sw), (ph, pw)), rtol=1e-11, atol=1e-12)


def test_col2im_is_the_transpose_of_im2col():
    x = RNG.standard_normal((2, 3, 6, 5))
    for to_matrix in (True, False):
        col = nn.im2col(x, 3, 2, 1, to_matrix=to_matrix)
        c = RNG.standard_normal(col.shape)
        back = nn.col2im(c, x.shape, 3, 2, 1, to_matrix=to_matrix)
        assert back.shape == x.shape
        np.testing.assert_allclose(np.vdot(col, c), np.vdot(x, back), rtol=1e-12)
    # overlapping 3x3 windows with stride 1: col2im(ones) counts how many windows cover a pixel
    cnt = nn.col2im(np.ones((9, 9)), (1, 1, 5, 5), 3, 1, 0)[0, 0]
    np.testing.assert_array_equal(cnt, np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1]))


# --- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("S,P", [(1, 0), (2, 1)])
def test_conv2d_check_grads(S, P):
    x, W, b = RNG.standard_normal((2, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3)), \
        RNG.standard_normal(3)
    fg.testing.check_grads(lambda x, W, b: nn.conv2d(x, W, b, S, P), (x, W, b), order=2)


@pytest.mark.parametrize("K,S,P", [(2, None, 0), (3, 1, 1), (3, 2, 0)])
def test_pooling_check_grads(K, S, P):
    x = RNG.standard_normal((2, 2, 6, 6))  # distinct values: no ties
    fg.testing.check_grads(lambda x: nn.max_pool2d(x, K, S, P), (x,), order=1)
    fg.testing.check_grads(lambda x: nn.avg_pool2d(x, K, S, P), (x,), order=2)


def test_pooling_gradient_by_hand():
    x = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], np.float64)[None, None]
    g = fg.grad(lambda x: fnp.sum(nn.max_pool2d(x, 2)))(x)[0, 0]
    np.testing.assert_array_equal(g, [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 0]])
    ga = fg.grad(lambda x: fnp.sum(nn.avg_pool2d(x, 2)))(x)[0, 0]
    np.testing.assert_array_equal(ga, np.full((4, 4), 0.25))
    # overlapping windows (stride 1): each pixel gets 1/4 from every window that covers it
    ga = fg.grad(lambda x: fnp.sum(nn.avg_pool2d(x, 2, 1)))(x)[0, 0]
    np.testing.assert_array_equal(ga[0], [0.25, 0.5, 0.5, 0.25])
    # ties: each window's unit of gradient is shared among its tied maxima only
    xt = np.array([[3, 3, 0, 1], [1, 3, 1, 0], [2, 2, 5, 5], [2, 2, 5, 5]], float)[None, None]
    gt = fg.grad(lambda x: fnp.sum(nn.max_pool2d(x, 2)))(xt)[0, 0]
    sums = gt.reshape(2, 2, 2, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(sums, np.ones((2, 2)))
    assert np.all(gt >= 0)
    win_max = np.kron(nn.max_pool2d(xt, 2)[0, 0], np.ones((2, 2)))
    assert np.all(gt[xt[0, 0] < win_max] == 0)


# --- transforms --------------------------------------------------------------------------------


def test_vmap_and_jit_equal_eager():
    x, W, b = RNG.standard_normal((4, 3, 7, 7)), RNG.standard_normal((5, 3, 3, 3)), \
        RNG.standard_normal(5)

    def one(xi, W):  # one image (C, H, W)
        y = nn.conv2d(xi[None], W, b, 2, 1)
        return nn.max_pool2d(nn.relu(y), 2, 1)[0]

    eager = nn.max_pool2d(nn.relu(nn.conv2d(x, W, b, 2, 1)), 2, 1)
    np.testing.assert_allclose(fg.vmap(one, in_axes=(0, None))(x, W), eager, rtol=1e-12)
    np.testing.assert_allclose(fg.jit(one)(x[0], W), eager[0], rtol=1e-12)

    def loss(W, xi):
        return fnp.sum(one(xi, W) ** 2)

    per_ex = fg.vmap(fg.grad(loss), in_axes=(None, 0))(W, x)
    loop = np.stack([fg.grad(loss)(W, x[i]) for i in range(4)])
    np.testing.assert_allclose(per_ex, loop, rtol=1e-10)
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.grad(loss), in_axes=(None, 0)))(W, x), loop,
                               rtol=1e-10)
    # filters batched too (in_axes on W)
    Ws = RNG.standard_normal((2, 5, 3, 3, 3))
    got = fg.vmap(lambda W: nn.conv2d(x, W, None, 1, 0))(Ws)
    np.testing.assert_allclose(got[1], conv_loop(x, Ws[1]), rtol=1e-12)
    # no new primitive: pooling is 9 strided slices folded elementwise, conv one dot_general
    ir = str(fg.make_ir(lambda x: nn.avg_pool2d(x, 3, 2, 1))(x))
    assert ir.count(" slice[") == 9 and ir.count(" add ") == 8
    ir = str(fg.make_ir(lambda x, W: nn.conv2d(x, W, None, 2, 1))(x, W))
    assert ir.count("dot_general") == 1 and ir.count(" slice[") == 9


# --- layers ------------------------------------------------------------------------------------


def test_conv2d_layer_init_and_apply():
    layer = nn.Conv2d(16, 3, stride=1, pad=1)
    x = RNG.standard_normal((2, 8, 10, 10)).astype(np.float32)
    params = layer.init(KEY, x)
    assert params["W"].shape == (16, 8, 3, 3) and params["W"].dtype == np.float32
    np.testing.assert_array_equal(params["b"], np.zeros(16, np.float32))
    y = layer.apply(params, x)
    assert y.shape == (2, 16, 10, 10) and y.dtype == np.float32
    np.testing.assert_allclose(y, conv_loop(x, params["W"], params["b"], 1, 1), rtol=1e-5,
                               atol=1e-5)
    # the book's init: W ~ N(0, 1/(C*KH*KW))
    big = nn.Conv2d(64, 5).init(KEY, np.zeros((1, 32, 8, 8)))["W"]
    assert big.dtype == np.float64
    assert abs(big.var() * 32 * 25 - 1) < 0.05 and abs(big.mean()) < 0.01
    nb = nn.Conv2d(4, (3, 2), stride=(2, 1), use_bias=False).init(KEY, x)
    assert set(nb) == {"W"} and nb["W"].shape == (4, 8, 3, 2)
    assert repr(nn.Conv2d(4, 3, pad=1)) == "Conv2d(4, 3, pad=1)"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(2)" and repr(nn.AvgPool2d(3, 1)) == \
        "AvgPool2d(3, stride=1)"


def test_small_cnn_sequential_trains():
    model = nn.Sequential([nn.Conv2d(4, 3, pad=1), nn.relu, nn.MaxPool2d(2), nn.Conv2d(6, 3),
                           nn.relu, nn.AvgPool2d(2, 1), nn.Flatten(), nn.Linear(3)])
    x = RNG.standard_normal((6, 1, 8, 8)).astype(np.float32)
    t = np.arange(6) % 3
    params = model.init(KEY, x)
    assert set(params) == {"0", "3", "7"} and params["3"]["W"].shape == (6, 4, 3, 3)
    assert model.apply(params, x).shape == (6, 3)

    def loss(p):
        return nn.softmax_cross_entropy(model.apply(p, x), t)

    def sgd(p):
        return fg.tree_util.tree_map(lambda a, g: a - 0.1 * g, p, fg.grad(loss)(p))

    step = fg.jit(sgd)
    l0 = float(loss(params))
    fg.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                          step(params), sgd(params))
    for _ in range(40):
        params = step(params)
    assert float(loss(params)) < 0.3 * l0


def test_errors_teach():
    with pytest.raises(FuncgradError, match=r"\(N, C, H, W\)"):
        nn.conv2d(np.zeros((3, 4, 4)), np.zeros((1, 3, 2, 2)))
    with pytest.raises(FuncgradError, match="C = 3 input channels"):
        nn.conv2d(np.zeros((1, 3, 4, 4)), np.zeros((2, 2, 2, 2)))
    with pytest.raises(FuncgradError, match="bias"):
        nn.conv2d(np.zeros((1, 3, 4, 4)), np.zeros((2, 3, 2, 2)), np.zeros(3))
    with pytest.raises(FuncgradError, match="does not fit"):
        nn.max_pool2d(np.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(FuncgradError, match="pair of ints"):
        nn.Conv2d(3, (1, 2, 3))


def test_docstring_examples_run():
    import doctest
    res = doctest.testmod(nn.conv)
    assert res.failed == 0 and res.attempted > 0


def test_step58_cnn_example_learns():
    import os
    import sys
    root = os.environ.get("FUNCGRAD_MNIST", "")  # set by conftest when the data is found
    if not os.path.exists(os.path.join(root, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("the MNIST test set is not in ../shared/data/mnist ($FUNCGRAD_MNIST)")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    try:
        import step58_cnn as ex
    finally:
        sys.path.pop(0)
    hist = ex.main(epochs=2, limit=600, root=root)["history"]
    assert hist[1]["train_loss"] < hist[0]["train_loss"]
    assert hist[1]["eval_acc"] > 0.3  # chance is 0.1; about 0.6 after these 12 steps
