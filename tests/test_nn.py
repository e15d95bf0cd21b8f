"""funcgrad.nn: the layer contract, layers, initializers, activations, losses and metrics."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad.core import FuncgradError
from funcgrad.ir import eval_ir
from funcgrad.pytree import tree_leaves, tree_map, tree_structure

KEY = fg.random.key(0)
RNG = np.random.default_rng(0)
X = RNG.standard_normal((8, 5)).astype(np.float32)


def staged(f, *args):
    """Run `f` through full staging (make_ir, what jit uses) and evaluate the IR."""
    ir = fg.make_ir(f)(*args)
    outs = eval_ir(ir, tree_leaves(args))
    from funcgrad.pytree import tree_flatten, tree_unflatten
    return tree_unflatten(tree_flatten(f(*args))[1], outs)


def assert_trees_close(a, b, **kw):
    assert tree_structure(a) == tree_structure(b)
    for x, y in zip(tree_leaves(a), tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


# --- initializers -----------------------------------------------------------------------------

FAN_INITS = {  # name -> (kind, variance as a function of fan_in, fan_out)
    "lecun_normal": ("normal", lambda i, o: 1 / i),
    "lecun_uniform": ("uniform", lambda i, o: 1 / i),
    "glorot_normal": ("normal", lambda i, o: 2 / (i + o)),
    "glorot_uniform": ("uniform", lambda i, o: 2 / (i + o)),
    "he_normal": ("normal", lambda i, o: 2 / i),
    "he_uniform": ("uniform", lambda i, o: 2 / i),
}


@pytest.mark.parametrize("name", list(FAN_INITS))
def test_fan_initializers_variance_and_bounds(name):
    init = getattr(nn.initializers, name)
    kind, var = FAN_INITS[name]
    w = init(KEY, (200, 300))
    assert w.shape == (200, 300) and w.dtype == np.float32
    want = var(200, 300)
    assert abs(w.var() / want - 1) < 0.05 and abs(w.mean()) < 0.01 * math.sqrt(want) * 10
    if kind == "uniform":
        assert np.max(np.abs(w)) <= math.sqrt(3 * want) + 1e-7
    np.testing.assert_array_equal(w, init(fg.random.key(0), (200, 300)))  # deterministic
    assert init(KEY, (3, 4), np.float64).dtype == np.float64
    # conv layout (out, in, kh, kw): fan_in = in*kh*kw
    wc = init(KEY, (64, 16, 3, 3))
    assert abs(wc.var() / var(16 * 9, 64 * 9) - 1) < 0.1


def test_simple_initializers():
    np.testing.assert_array_equal(nn.initializers.zeros(KEY, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(nn.initializers.ones(KEY, 4), np.ones(4))
    np.testing.assert_array_equal(nn.initializers.constant(KEY, (2,), value=0.5), [0.5, 0.5])
    n = nn.initializers.normal(KEY, (10000,), stddev=0.1)
    assert abs(n.std() - 0.1) < 0.005 and n.dtype == np.float32
    u = nn.initializers.uniform(KEY, (10000,), minval=-1.0, maxval=1.0)
    assert u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.03
    assert nn.initializers.compute_fans((7, 9)) == (7, 9)
    assert nn.initializers.compute_fans((8, 3, 5, 5)) == (75, 200)


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (9, 3), (6, 2, 3)])
def test_orthogonal(shape):
    w = nn.initializers.orthogonal(KEY, shape, np.float64)
    m = w.reshape(-1, shape[-1])
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)
    with pytest.raises(FuncgradError, match="at least 2"):
        nn.initializers.orthogonal(KEY, (3,))


# --- activations ------------------------------------------------------------------------------

def test_activations_against_formulas_and_jax():
    jnn = pytest.importorskip("jax.nn")
    x = np.linspace(-6, 6, 41)
    np.testing.assert_allclose(nn.relu(x), np.maximum(x, 0))
    np.testing.assert_allclose(nn.leaky_relu(x, 0.1), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(nn.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.tanh(x), np.tanh(x))
    gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(nn.gelu(x), gelu, rtol=1e-12, atol=1e-15)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(nn.gelu(x32), np.asarray(jnn.gelu(x32, approximate=True)),
                               rtol=1e-5, atol=1e-6)
    z = RNG.standard_normal((4, 6))
    np.testing.assert_allclose(nn.softmax(z), np.asarray(jnn.softmax(z)), rtol=1e-6)
    np.testing.assert_allclose(nn.softmax(z, axis=0).sum(0), np.ones(6), rtol=1e-12)
    np.testing.assert_allclose(nn.log_softmax(z), np.asarray(jnn.log_softmax(z)), rtol=1e-6)
    assert nn.sigmoid(np.float32(3)).dtype == np.float32


def test_relu_gradient_at_zero_and_activation_grads():
    g = fg.grad(lambda x: fnp.sum(nn.relu(x)))(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    x = np.array([-1.3, -0.2, 0.4, 1.7])
    for f in (nn.sigmoid, nn.tanh, nn.gelu, partial(nn.leaky_relu, negative_slope=0.2),
              nn.softmax, nn.log_softmax):
        fg.testing.check_grads(f, (x,), order=2)


def test_softmax_stable_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    s = nn.softmax(z)
    np.testing.assert_allclose(s, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    ls = nn.log_softmax(z)
    assert np.all(np.isfinite(ls)) and abs(ls[0, 0]) < 1e-12


# --- losses and metrics -----------------------------------------------------------------------

def _np_sce(z, t):
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.mean(logp[np.arange(len(t)), t])


def test_softmax_cross_entropy_formula_int_and_one_hot():
    z = RNG.standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, 2, 0])
    loss = nn.softmax_cross_entropy(z, t)
    np.testing.assert_allclose(loss, _np_sce(z, t), rtol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(z, np.eye(4)[t]), loss, rtol=1e-12)
    # the gradient is (softmax(z) - onehot) / N
    g = fg.grad(nn.softmax_cross_entropy)(z, t)
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(g, (e / e.sum(-1, keepdims=True) - np.eye(4)[t]) / 6, atol=1e-12)
    fg.testing.check_grads(lambda z: nn.softmax_cross_entropy(z, t), (z,), order=2)
    # leading axes: (batch, time, classes)
    z3 = RNG.standard_normal((2, 3, 4))
    t3 = np.array([[0, 1, 2], [3, 0, 1]])
    np.testing.assert_allclose(nn.softmax_cross_entropy(z3, t3),
                               _np_sce(z3.reshape(6, 4), t3.reshape(6)), rtol=1e-12)


def test_softmax_cross_entropy_against_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z = RNG.standard_normal((5, 3)).astype(np.float32)
    t = np.array([2, 0, 1, 1, 0])

    def jloss(z):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), t[:, None], axis=1))
    np.testing.assert_allclose(nn.softmax_cross_entropy(z, t), float(jloss(z)), rtol=1e-6)
    np.testing.assert_allclose(fg.grad(nn.softmax_cross_entropy)(z, t),
                               np.asarray(jax.grad(jloss)(z)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_stable_at_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype)
    t = np.array([1, 0, 2])
    loss, g = fg.value_and_grad(nn.softmax_cross_entropy)(z, t)
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    # per row: 1e4 + 1e4;  (1e4 + log 2) + 1e4;  log 2 + 1e4
    np.testing.assert_allclose(loss, (5e4 + 2 * math.log(2)) / 3, rtol=1e-6)
    assert g.dtype == dtype and np.all(np.abs(g) <= 1 / 3 + 1e-6)


def test_softmax_cross_entropy_bad_labels():
    with pytest.raises(FuncgradError, match="labels must be"):
        nn.softmax_cross_entropy(np.zeros((4, 3)), np.zeros((4, 2)))


def test_mean_squared_error_and_sigmoid_cross_entropy():
    y, t = RNG.standard_normal((7, 1)), RNG.standard_normal((7, 1))
    np.testing.assert_allclose(nn.mean_squared_error(y, t), np.sum((y - t) ** 2) / 7)
    fg.testing.check_grads(nn.mean_squared_error, (y, t), order=2)
    with pytest.raises(FuncgradError, match="shapes differ"):
        nn.mean_squared_error(y, t[:, 0])
    x = np.array([-1e4, -3.0, 0.0, 2.0, 1e4])
    lab = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    p = 1 / (1 + np.exp(-x[1:4]))
    mid = -(lab[1:4] * np.log(p) + (1 - lab[1:4]) * np.log(1 - p))
    want = (1e4 + mid.sum() + 1e4) / 5
    loss, g = fg.value_and_grad(nn.sigmoid_cross_entropy)(x, lab)
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    np.testing.assert_allclose(g, (1 / (1 + np.exp(-np.clip(x, -50, 50))) - lab) / 5, atol=1e-12)
    xs = np.array([-3.0, -0.4, 0.3, 2.0])  # away from the kink of |x| at 0
    ts = np.array([0.0, 1.0, 0.3, 1.0])
    fg.testing.check_grads(lambda x: nn.sigmoid_cross_entropy(x, ts), (xs,), order=2)


def test_accuracy():
    z = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    t = np.array([1, 0, 0, 0])
    np.testing.assert_allclose(nn.accuracy(z, t), 0.75)
    np.testing.assert_allclose(nn.accuracy(z, np.eye(2)[t]), 0.75)
    np.testing.assert_allclose(staged(nn.accuracy, z, t), 0.75)
    with pytest.raises(FuncgradError, match="accuracy"):
        nn.accuracy(z, np.array([1, 0]))


# --- layers -----------------------------------------------------------------------------------

def test_linear_formula_shapes_and_default_init():
    lin = nn.Linear(7)
    p = lin.init(KEY, X[:1])
    assert p["W"].shape == (5, 7) and p["b"].shape == (7,) and p["W"].dtype == np.float32
    np.testing.assert_array_equal(p["b"], 0)
    np.testing.assert_allclose(lin.apply(p, X), X @ p["W"] + p["b"], rtol=1e-6)
    np.testing.assert_allclose(lin(p, X[0]), X[0] @ p["W"] + p["b"], rtol=1e-6)
    # the book's init: W ~ N(0, 1/in_size)
    w = nn.Linear(500).init(KEY, np.zeros((1, 400)))["W"]
    assert abs(w.std() * math.sqrt(400) - 1) < 0.02
    nb = nn.Linear(3, use_bias=False).init(KEY, X)
    assert set(nb) == {"W"}
    wi = nn.Linear(3, w_init=nn.initializers.zeros).init(KEY, X)["W"]
    np.testing.assert_array_equal(wi, 0)
    assert nn.Linear(3).init(KEY, X.astype(np.float64))["W"].dtype == np.float64
    assert nn.Linear(3).init(KEY, np.zeros((1, 5), np.uint8))["W"].dtype == np.float32
    with pytest.raises(FuncgradError, match="features"):
        lin.apply(p, X[:, :4])
    with pytest.raises(FuncgradError, match="in_size=4"):
        nn.Linear(3, in_size=4).init(KEY, X)


def test_linear_gradients():
    lin = nn.Linear(3)
    p = tree_map(lambda a: a.astype(np.float64), lin.init(KEY, X))
    x = X.astype(np.float64)
    fg.testing.check_grads(lambda p, x: lin.apply(p, x), (p, x), order=2)
    g = fg.grad(lambda p: fnp.sum(lin.apply(p, x)))(p)
    np.testing.assert_allclose(g["W"], np.repeat(x.sum(0)[:, None], 3, axis=1), rtol=1e-12)
    np.testing.assert_allclose(g["b"], [8.0, 8.0, 8.0])


def test_init_is_deterministic_and_key_dependent():
    model = nn.MLP([10, 3])
    p1, p2 = model.init(KEY, X), model.init(fg.random.key(0), X)
    assert_trees_close(p1, p2, rtol=0, atol=0)
    p3 = model.init(fg.random.key(1), X)
    assert not np.array_equal(p1["0"]["W"], p3["0"]["W"])
    assert not np.array_equal(p1["0"]["W"][:, :3], p1["1"]["W"][:5])  # layers differ


def test_mlp_default_sigmoid_and_given_activation():
    model = nn.MLP((10, 1))
    p = model.init(KEY, X)
    assert set(p) == {"0", "1"} and p["0"]["W"].shape == (5, 10) and p["1"]["W"].shape == (10, 1)
    h = 1 / (1 + np.exp(-(X @ p["0"]["W"] + p["0"]["b"])))
    np.testing.assert_allclose(model.apply(p, X), h @ p["1"]["W"] + p["1"]["b"], rtol=1e-5,
                               atol=1e-6)
    relu_mlp = nn.MLP([6, 4, 2], activation=nn.relu)
    q = relu_mlp.init(KEY, X)
    h1 = np.maximum(X @ q["0"]["W"] + q["0"]["b"], 0)
    h2 = np.maximum(h1 @ q["1"]["W"] + q["1"]["b"], 0)
    np.testing.assert_allclose(relu_mlp.apply(q, X), h2 @ q["2"]["W"] + q["2"]["b"], rtol=1e-5)
    assert "relu" in repr(relu_mlp)


def test_sequential_params_keys_and_equivalence():
    model = nn.Sequential([nn.Linear(6), nn.relu, nn.Linear(2)])
    p = model.init(KEY, X[:1])
    assert set(p) == {"0", "2"} and p["0"]["W"].shape == (5, 6) and p["2"]["W"].shape == (6, 2)
    want = np.maximum(X @ p["0"]["W"] + p["0"]["b"], 0) @ p["2"]["W"] + p["2"]["b"]
    np.testing.assert_allclose(model.apply(p, X), want, rtol=1e-5)
    np.testing.assert_allclose(staged(lambda p, x: model.apply(p, x), p, X), want, rtol=1e-5)
    # a training step: grads have the params' structure
    g = fg.grad(lambda p: nn.softmax_cross_entropy(model.apply(p, X), np.arange(8) % 2))(p)
    assert tree_structure(g) == tree_structure(p)
    # nested Sequential and Flatten
    img = RNG.standard_normal((3, 2, 4, 4)).astype(np.float32)
    net = nn.Sequential([nn.Flatten(), nn.Sequential([nn.Linear(5), nn.tanh]), nn.Linear(2)])
    q = net.init(KEY, img)
    assert q["1"]["0"]["W"].shape == (32, 5)
    assert net.apply(q, img).shape == (3, 2)
    with pytest.raises(FuncgradError, match="neither a layer nor"):
        nn.Sequential([nn.Linear(2), 3])


def test_model_under_vmap_per_example():
    model = nn.MLP([4, 3], activation=nn.tanh)
    p = model.init(KEY, X)
    per_example = fg.vmap(lambda x: model.apply(p, x))(X)
    np.testing.assert_allclose(per_example, model.apply(p, X), rtol=1e-5, atol=1e-6)
    # per-example gradients: vmap over grad
    t = np.arange(8) % 3

    def loss(p, x, t):
        return nn.softmax_cross_entropy(model.apply(p, x[None]), t[None])
    grads = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(p, X, t)
    assert grads["0"]["W"].shape == (8, 5, 4)
    g0 = fg.grad(loss)(p, X[0], t[0])
    np.testing.assert_allclose(grads["0"]["W"][0], g0["0"]["W"], rtol=1e-5, atol=1e-7)
    # vmap over keys: an ensemble of initialisations
    ens = fg.vmap(lambda k: model.init(k, X))(fg.random.split(KEY, 3))
    assert ens["0"]["W"].shape == (3, 5, 4)
    k1 = fg.random.split(KEY, 3)[1]
    np.testing.assert_array_equal(ens["1"]["W"][1], model.init(k1, X)["1"]["W"])


def test_init_and_apply_under_make_ir():
    model = nn.Sequential([nn.Linear(4), nn.relu, nn.Dropout(0.3), nn.Linear(2)])
    p_eager = model.init(KEY, X)
    p_staged = staged(lambda k, x: model.init(k, x), KEY, X)
    assert_trees_close(p_staged, p_eager, rtol=0, atol=0)
    f = lambda p, x, k: model.apply(p, x, train=True, key=k)  # noqa: E731
    np.testing.assert_allclose(staged(f, p_eager, X, KEY), f(p_eager, X, KEY), rtol=1e-6)


def test_dropout():
    d = nn.Dropout(0.25)
    x = np.ones((200, 100), np.float32)
    y = d.apply({}, x, train=True, key=KEY)
    zeros = np.mean(y == 0)
    assert abs(zeros - 0.25) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)  # inverted dropout
    assert abs(y.mean() - 1) < 0.02  # mean preserved
    np.testing.assert_array_equal(d.apply({}, x), x)  # identity in inference
    np.testing.assert_array_equal(d.apply({}, x, train=False, key=KEY), x)
    np.testing.assert_array_equal(y, d.apply({}, x, train=True, key=fg.random.key(0)))
    assert not np.array_equal(y, d.apply({}, x, train=True, key=fg.random.key(1)))
    with pytest.raises(FuncgradError, match="needs a\\s+PRNG key") as e:
        d.apply({}, x, train=True)
    assert "test_nn.py" in str(e.value)
    model = nn.Sequential([nn.Linear(3), nn.Dropout(0.5)])
    p = model.init(KEY, X)
    with pytest.raises(FuncgradError, match="PRNG key"):
        model.apply(p, X, train=True)
    np.testing.assert_array_equal(nn.Dropout(1.0).apply({}, x, train=True, key=KEY), 0)
    np.testing.assert_array_equal(nn.Dropout(0.0).apply({}, x, train=True), x)
    with pytest.raises(FuncgradError, match="rate"):
        nn.Dropout(1.5)
    # gradient flows through the kept entries only, scaled
    g = fg.grad(lambda x: fnp.sum(d.apply({}, x, train=True, key=KEY)))(x)
    np.testing.assert_allclose(g, (y != 0) / 0.75, rtol=1e-6)


def test_batchnorm_train_eval_and_running_stats():
    bn = nn.BatchNorm(momentum=0.9)
    x = (RNG.standard_normal((64, 3)) * [1.0, 2.0, 0.5] + [0.0, 3.0, -1.0]).astype(np.float32)
    with pytest.raises(FuncgradError, match="init_with_state"):
        bn.init(KEY, x)
    p, s = bn.init_with_state(KEY, x)
    np.testing.assert_array_equal(p["gamma"], 1)
    np.testing.assert_array_equal(s["var"], 1)
    p = {"gamma": np.array([1.0, 2.0, 3.0], np.float32), "beta": np.array([0.0, 1.0, -1.0],
                                                                           np.float32)}
    y, s1 = bn.apply_with_state(p, s, x, train=True)
    xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(y, xhat * p["gamma"] + p["beta"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s1["mean"], 0.1 * x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s1["var"], 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    # inference uses the running statistics and leaves them unchanged
    y_eval, s2 = bn.apply_with_state(p, s1, x, train=False)
    want = (x - s1["mean"]) / np.sqrt(s1["var"] + 1e-5) * p["gamma"] + p["beta"]
    np.testing.assert_allclose(y_eval, want, rtol=1e-4, atol=1e-5)
    assert_trees_close(s2, s1, rtol=0, atol=0)
    with pytest.raises(FuncgradError, match="apply_with_state"):
        bn.apply(p, x)
    # many training steps: running averages converge to the data statistics
    st = s
    for _ in range(100):
        _, st = bn.apply_with_state(p, st, x, train=True)
    np.testing.assert_allclose(st["mean"], x.mean(0), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(st["var"], x.var(0, ddof=1), rtol=1e-3)


def test_batchnorm_nchw_grads_and_staging():
    bn = nn.BatchNorm()
    x = RNG.standard_normal((4, 3, 2, 2))
    p, s = bn.init_with_state(KEY, x)
    assert p["gamma"].shape == (3,)
    y, s1 = bn.apply_with_state(p, s, x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    fg.testing.check_grads(lambda p, x: bn.apply_with_state(p, s, x, train=True)[0], (p, x),
                           order=1)
    out = staged(lambda p, s, x: bn.apply_with_state(p, s, x, train=True), p, s, x)
    assert_trees_close(out, (y, s1), rtol=1e-10, atol=1e-12)
    # state is not differentiated: grad of the running stats wrt params is zero
    g = fg.grad(lambda p: fnp.sum(bn.apply_with_state(p, s, x, train=True)[1]["mean"]))(p)
    np.testing.assert_array_equal(g["gamma"], 0)


def test_sequential_with_state():
    model = nn.Sequential([nn.Linear(4), nn.BatchNorm(), nn.relu, nn.Dropout(0.5),
                           nn.Linear(2)])
    params, state = model.init_with_state(KEY, X)
    assert set(params) == {"0", "1", "4"} and set(state) == {"1"}
    with pytest.raises(FuncgradError, match="init_with_state"):
        model.init(KEY, X)
    y, new_state = model.apply_with_state(params, state, X, train=True, key=KEY)
    assert y.shape == (8, 2)
    assert not np.allclose(new_state["1"]["mean"], state["1"]["mean"])
    y_eval, st_eval = model.apply_with_state(params, new_state, X)
    assert_trees_close(st_eval, new_state, rtol=0, atol=0)

    def loss(p, s, x, k):
        y, s = model.apply_with_state(p, s, x, train=True, key=k)
        return nn.softmax_cross_entropy(y, np.arange(8) % 2), s
    (l_, s_), g = fg.value_and_grad(loss, has_aux=True)(params, state, X, KEY)
    assert tree_structure(g) == tree_structure(params)
    ir = fg.make_ir(lambda p, s, x, k: fg.value_and_grad(loss, has_aux=True)(p, s, x, k))(
        params, state, X, KEY)
    outs = eval_ir(ir, tree_leaves((params, state, X, KEY)))
    np.testing.assert_allclose(outs[0], l_, rtol=1e-5)


def test_layernorm():
    ln = nn.LayerNorm()
    x = RNG.standard_normal((5, 6)) * 3 + 2
    p = ln.init(KEY, x)
    y = ln.apply(p, x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), x.var(-1) / (x.var(-1) + 1e-5), rtol=1e-10)
    p2 = {"gamma": np.arange(6.0), "beta": np.ones(6)}
    np.testing.assert_allclose(ln.apply(p2, x), y * p2["gamma"] + 1, rtol=1e-10)
    fg.testing.check_grads(ln.apply, (p2, x), order=2)
    np.testing.assert_allclose(fg.vmap(lambda r: ln.apply(p2, r))(x), ln.apply(p2, x),
                               rtol=1e-12)
    np.testing.assert_allclose(staged(ln.apply, p2, x), ln.apply(p2, x), rtol=1e-12)


def test_embedding_gather_and_grad():
    emb = nn.Embedding(10, 4)
    p = emb.init(KEY, np.zeros((1,), np.int64))
    assert p["W"].shape == (10, 4) and p["W"].dtype == np.float32
    ids = np.array([[1, 2], [3, 1]])
    out = emb.apply(p, ids)
    np.testing.assert_array_equal(out, p["W"][ids])
    g = fg.grad(lambda p: fnp.sum(emb.apply(p, ids) * np.arange(4.0, dtype=np.float32)))(p)
    want = np.zeros((10, 4), np.float32)
    np.add.at(want, ids.ravel(), np.arange(4.0))
    np.testing.assert_array_equal(g["W"], want)
    np.testing.assert_array_equal(staged(emb.apply, p, ids), out)
    np.testing.assert_array_equal(fg.vmap(lambda i: emb.apply(p, i))(ids), out)
    with pytest.raises(FuncgradError, match="integers"):
        emb.apply(p, np.zeros(2))


def test_summary_and_count():
    model = nn.Sequential([nn.Linear(3), nn.relu, nn.Linear(2)])
    p = model.init(KEY, X)
    text = nn.summary(p)
    lines = text.splitlines()
    assert lines[0].split() == ["path", "shape", "dtype", "count"]
    assert "['0']['W']" in text and "(5, 3)" in text and "f32" in text
    assert lines[-1].split()[-1] == str(5 * 3 + 3 + 3 * 2 + 2)
    assert nn.count_params(p) == 26
    bn = nn.Sequential([nn.Linear(3), nn.BatchNorm()])
    params, state = bn.init_with_state(KEY, X)
    assert "state ['1']['mean']" in nn.summary(params, state)


def test_apply_is_pure_and_params_are_plain_dicts():
    model = nn.MLP([3, 2])
    p = model.init(KEY, X)
    assert type(p) is dict and all(type(v) is dict for v in p.values())
    before = tree_map(np.copy, p)
    model.apply(p, X)
    fg.grad(lambda p: fnp.sum(model.apply(p, X)))(p)
    assert_trees_close(p, before, rtol=0, atol=0)


def test_jitted_training_step_matches_eager():
    model = nn.Sequential([nn.Linear(6), nn.BatchNorm(), nn.relu, nn.Dropout(0.2),
                           nn.Linear(3)])
    params, state = model.init_with_state(KEY, X)
    t = np.arange(8) % 3

    def step(p, s, x, k):
        def loss(p):
            y, s2 = model.apply_with_state(p, s, x, train=True, key=k)
            return nn.softmax_cross_entropy(y, t), s2
        (val, s2), g = fg.value_and_grad(loss, has_aux=True)(p)
        p = tree_map(lambda a, b: a - 0.1 * b, p, g)
        return p, s2, val

    jstep = fg.jit(step)
    pe, se, pj, sj = params, state, params, state
    for i in range(3):
        k = fg.random.fold_in(KEY, i)
        pe, se, le = step(pe, se, X, k)
        pj, sj, lj = jstep(pj, sj, X, k)
        np.testing.assert_allclose(lj, le, rtol=1e-5)
    assert_trees_close(pj, pe, rtol=1e-4, atol=1e-6)
    assert_trees_close(sj, se, rtol=1e-4, atol=1e-6)


def test_layer_reprs_show_the_configuration():
    assert repr(nn.Linear(3)) == "Linear(3)"
    assert repr(nn.Sequential([nn.Linear(3, use_bias=False, w_init=nn.initializers.he_normal),
                               nn.relu, nn.Dropout(0.1)])) == \
        "Sequential([Linear(3, use_bias=False, w_init=he_normal), relu, Dropout(0.1)])"
    assert repr(nn.BatchNorm(momentum=0.99)) == "BatchNorm(momentum=0.99)"
    assert repr(nn.MLP([3, 2], activation=nn.relu)) == "MLP([3, 2], activation=relu)"


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 5), st.floats(0.1, 1e4), st.integers(0, 2**31))
def test_softmax_cross_entropy_property(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * scale
    t = rng.integers(0, c, n)
    loss, g = fg.value_and_grad(nn.softmax_cross_entropy)(z, t)
    np.testing.assert_allclose(loss, _np_sce(z, t), rtol=1e-10, atol=1e-10)
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(g, (e / e.sum(-1, keepdims=True) - np.eye(c)[t]) / n,
                               atol=1e-12)
    np.testing.assert_allclose(g.sum(-1), 0, atol=1e-12)


def test_truncated_normal_initializer():
    w = nn.initializers.truncated_normal(KEY, (20000,), stddev=0.1)
    assert w.dtype == np.float32 and np.abs(w).max() <= 0.2 + 1e-6
    assert abs(w.std() - 0.1 * 0.8796) < 0.003  # std of N(0,1) truncated to [-2, 2]


@pytest.mark.parametrize("modname", ["funcgrad.nn", "funcgrad.nn.module", "funcgrad.nn.layers",
                                     "funcgrad.nn.initializers", "funcgrad.nn.functional"])
def test_docstring_examples_run(modname):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(modname))
    assert res.failed == 0 and res.attempted > 0
