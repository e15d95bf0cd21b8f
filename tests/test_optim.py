"""funcgrad.nn.optim: first steps against hand-computed formulas, state threading, schedules,
dtype preservation and traceability under fg.make_ir (full staging)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.nn import optim
from funcgrad.pytree import tree_flatten, tree_leaves, tree_map, tree_structure

P0 = {"w": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([0.25, -0.75])}
G1 = {"w": np.array([[0.3, -1.0], [2.0, 0.1]]), "b": np.array([-0.5, 0.2])}
G2 = {"w": np.array([[-0.7, 0.4], [1.5, -0.2]]), "b": np.array([0.9, 0.6])}


def run(opt, grads_seq, params=P0):
    """Apply ``opt`` for each gradient in ``grads_seq``; return the list of params after."""
    state = opt.init(params)
    out = []
    for g in grads_seq:
        u, state = opt.update(g, state, params)
        params = optim.apply_updates(params, u)
        out.append(params)
    return out, state


def close(a, b, **kw):
    la, lb = tree_leaves(a), tree_leaves(b)
    assert tree_structure(a) == tree_structure(b)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, **kw)


def lmap(f, *trees):
    return tree_map(f, *trees)


# --- first steps vs formulas ------------------------------------------------------------------

def test_sgd_two_steps():
    (p1, p2), _ = run(optim.sgd(0.1), [G1, G2])
    e1 = lmap(lambda p, g: p - 0.1 * g, P0, G1)
    close(p1, e1)
    close(p2, lmap(lambda p, g: p - 0.1 * g, e1, G2))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_two_steps(nesterov):
    lr, mu = 0.1, 0.9
    (p1, p2), state = run(optim.momentum(lr, mu, nesterov=nesterov), [G1, G2])
    v1 = G1
    v2 = lmap(lambda g, v: mu * v + g, G2, v1)
    if nesterov:
        e1 = lmap(lambda p, g, v: p - lr * (g + mu * v), P0, G1, v1)
        e2 = lmap(lambda p, g, v: p - lr * (g + mu * v), e1, G2, v2)
    else:
        e1 = lmap(lambda p, v: p - lr * v, P0, v1)
        e2 = lmap(lambda p, v: p - lr * v, e1, v2)
    close(p1, e1)
    close(p2, e2)
    close(state[0].trace, v2)  # state threading: the buffer is v2


def test_book_momentum_sgd_equivalence():
    # book's MomentumSGD: v <- a v - lr g; W <- W + v
    lr, a = 0.05, 0.8
    w, v = P0, lmap(np.zeros_like, P0)
    for g in (G1, G2, G1):
        v = lmap(lambda v, g: a * v - lr * g, v, g)
        w = lmap(lambda w, v: w + v, w, v)
    ps, _ = run(optim.momentum(lr, a), [G1, G2, G1])
    close(ps[-1], w)


def test_sgd_weight_decay_coupled():
    lr, mu, wd = 0.1, 0.9, 0.01
    (p1, p2), _ = run(optim.sgd(lr, momentum=mu, weight_decay=wd), [G1, G2])
    d1 = lmap(lambda g, p: g + wd * p, G1, P0)
    e1 = lmap(lambda p, v: p - lr * v, P0, d1)
    d2 = lmap(lambda g, p: g + wd * p, G2, e1)
    v2 = lmap(lambda d, v: d + mu * v, d2, d1)
    close(p2, lmap(lambda p, v: p - lr * v, e1, v2))


def test_sgd_decoupled_weight_decay_is_seed_003():
    # seed 003's SGD: v = mu v + lr g; p -= wd p; p -= v
    lr, mu, wd = 0.01, 0.9, 5e-4
    p, v = P0, lmap(np.zeros_like, P0)
    for g in (G1, G2, G1):
        v = lmap(lambda v, g: mu * v + lr * g, v, g)
        p = lmap(lambda p: p - wd * p, p)
        p = lmap(lambda p, v: p - v, p, v)
    ps, _ = run(optim.sgd(lr, momentum=mu, weight_decay=wd, decoupled_weight_decay=True),
                [G1, G2, G1])
    close(ps[-1], p, rtol=1e-12)


def _adam_ref(params, grads, lr, b1, b2, eps, wd=0.0, decoupled=False):
    m = lmap(np.zeros_like, params)
    v = lmap(np.zeros_like, params)
    out = []
    for k, g in enumerate(grads, start=1):
        if wd and not decoupled:
            g = lmap(lambda g, p: g + wd * p, g, params)
        m = lmap(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = lmap(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        step = lmap(lambda m, v: (m / (1 - b1 ** k)) / (np.sqrt(v / (1 - b2 ** k)) + eps), m, v)
        if wd and decoupled:
            step = lmap(lambda s, p: s + wd * p, step, params)
        params = lmap(lambda p, s: p - lr * s, params, step)
        out.append(params)
    return out


def test_adam_first_step_is_lr_times_sign():
    (p1,), _ = run(optim.adam(0.01), [G1])
    close(p1, lmap(lambda p, g: p - 0.01 * np.sign(g), P0, G1), rtol=1e-6)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_three_steps(wd):
    ps, state = run(optim.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, weight_decay=wd), [G1, G2, G1])
    ref = _adam_ref(P0, [G1, G2, G1], 0.02, 0.8, 0.99, 1e-6, wd=wd)
    for a, b in zip(ps, ref):
        close(a, b, rtol=1e-12)
    adam_state = state[-2]
    assert isinstance(adam_state, optim.ScaleByAdamState)
    assert int(adam_state.count) == 3 and adam_state.count.dtype == np.int32


def test_adamw_decoupled():
    ps, _ = run(optim.adamw(0.02, weight_decay=0.1), [G1, G2, G1])
    ref = _adam_ref(P0, [G1, G2, G1], 0.02, 0.9, 0.999, 1e-8, wd=0.1, decoupled=True)
    for a, b in zip(ps, ref):
        close(a, b, rtol=1e-12)
    # decoupled: p <- p(1 - lr wd) - lr adam_step
    (p1,), _ = run(optim.adamw(0.02, weight_decay=0.1), [G1])
    close(p1, lmap(lambda p, g: p * (1 - 0.002) - 0.02 * np.sign(g), P0, G1), rtol=1e-6)


def test_adamw_mask_skips_bias():
    opt = optim.adamw(0.1, weight_decay=0.5, mask=lambda p: {"w": True, "b": False})
    (p1,), _ = run(opt, [G1])
    np.testing.assert_allclose(p1["b"], P0["b"] - 0.1 * np.sign(G1["b"]), rtol=1e-6)
    np.testing.assert_allclose(p1["w"], P0["w"] * 0.95 - 0.1 * np.sign(G1["w"]), rtol=1e-6)


def test_adagrad_two_steps():
    lr, eps = 0.5, 1e-10
    (p1, p2), state = run(optim.adagrad(lr, eps=eps), [G1, G2])
    h1 = lmap(lambda g: g * g, G1)
    e1 = lmap(lambda p, g, h: p - lr * g / (np.sqrt(h) + eps), P0, G1, h1)
    h2 = lmap(lambda h, g: h + g * g, h1, G2)
    close(p2, lmap(lambda p, g, h: p - lr * g / (np.sqrt(h) + eps), e1, G2, h2))
    close(state[0].sum_of_squares, h2)


def test_adagrad_initial_accumulator():
    (p1,), _ = run(optim.adagrad(0.1, initial_accumulator_value=0.5), [G1])
    close(p1, lmap(lambda p, g: p - 0.1 * g / (np.sqrt(0.5 + g * g) + 1e-10), P0, G1))


def test_adadelta_two_steps():
    lr, rho, eps = 1.0, 0.95, 1e-6   # the book's AdaDelta
    (p1, p2), _ = run(optim.adadelta(lr, rho=rho, eps=eps), [G1, G2])
    p, a, b = P0, lmap(np.zeros_like, P0), lmap(np.zeros_like, P0)
    for g in (G1, G2):
        a = lmap(lambda a, g: rho * a + (1 - rho) * g * g, a, g)
        d = lmap(lambda a, b, g: np.sqrt((b + eps) / (a + eps)) * g, a, b, g)
        b = lmap(lambda b, d: rho * b + (1 - rho) * d * d, b, d)
        p = lmap(lambda p, d: p - lr * d, p, d)
    close(p2, p)


@pytest.mark.parametrize("centered,mom", [(False, None), (True, None), (False, 0.9),
                                          (True, 0.5)])
def test_rmsprop_three_steps(centered, mom):
    lr, a, eps = 0.01, 0.9, 1e-8
    ps, _ = run(optim.rmsprop(lr, decay=a, eps=eps, centered=centered, momentum=mom),
                [G1, G2, G1])
    p = P0
    v, m, buf = lmap(np.zeros_like, P0), lmap(np.zeros_like, P0), lmap(np.zeros_like, P0)
    for g in (G1, G2, G1):
        v = lmap(lambda v, g: a * v + (1 - a) * g * g, v, g)
        m = lmap(lambda m, g: a * m + (1 - a) * g, m, g)
        s = lmap(lambda g, v, m: g / (np.sqrt(v - (m * m if centered else 0)) + eps), g, v, m)
        if mom:
            buf = lmap(lambda b, s: mom * b + s, buf, s)
            s = buf
        p = lmap(lambda p, s: p - lr * s, p, s)
    close(ps[-1], p, rtol=1e-12)


def test_clip_by_global_norm():
    n = math.sqrt(sum(float(np.sum(g ** 2)) for g in tree_leaves(G1)))
    clip = optim.clip_by_global_norm(1.0)
    u, s = clip.update(G1, clip.init(P0))
    close(u, lmap(lambda g: g / n, G1))
    np.testing.assert_allclose(float(optim.global_norm(u)), 1.0)
    big = optim.clip_by_global_norm(10 * n)
    u, _ = big.update(G1, big.init(P0))
    close(u, G1)      # below the threshold: unchanged
    z, _ = clip.update(lmap(np.zeros_like, G1), clip.init(P0))
    close(z, lmap(np.zeros_like, G1))  # no division by zero


def test_chain_scale_and_identity():
    opt = optim.chain(optim.identity(), optim.scale(-0.5), optim.scale(2.0))
    u, s = opt.update(G1, opt.init(P0))
    close(u, lmap(lambda g: -g, G1))
    assert s == (optim.EmptyState(),) * 3
    with pytest.raises(fg.FuncgradError, match="GradientTransformation"):
        optim.chain(optim.scale(1.0), 0.5)


def test_add_decayed_weights_needs_params():
    opt = optim.adamw(1e-3)
    with pytest.raises(fg.FuncgradError, match="params"):
        opt.update(G1, opt.init(P0))


def test_nesterov_without_momentum_is_an_error():
    with pytest.raises(fg.FuncgradError, match="nesterov"):
        optim.sgd(0.1, nesterov=True)


# --- dtypes and pytrees -----------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optim.adam(optim.warmup_cosine_decay(0.0, 1e-2, 2, 10)),
    lambda: optim.adamw(1e-3),
    lambda: optim.adagrad(),
    lambda: optim.adadelta(),
    lambda: optim.rmsprop(centered=True, momentum=0.9),
    lambda: optim.chain(optim.clip_by_global_norm(0.1),
                        optim.sgd(optim.exponential_decay(0.1, 2, 0.5))),
])
def test_float32_params_stay_float32(make):
    opt = make()
    p = tree_map(lambda x: x.astype(np.float32), P0)
    g = tree_map(lambda x: x.astype(np.float32), G1)
    state = opt.init(p)
    for _ in range(3):
        u, state = opt.update(g, state, p)
        p = optim.apply_updates(p, u)
    assert all(x.dtype == np.float32 for x in tree_leaves(p))
    assert all(x.dtype == np.float32 for x in tree_leaves(u))
    for x in tree_leaves(state):
        assert x.dtype in (np.float32, np.int32), x.dtype


def test_nested_tree_with_lists_tuples_and_none():
    params = {"layers": [{"W": np.ones((2, 2)), "b": None}, (np.zeros(3),)], "s": np.array(2.0)}
    grads = tree_map(lambda x: np.full_like(x, 0.5), params)
    opt = optim.adam(0.1)
    state = opt.init(params)
    u, state = opt.update(grads, state, params)
    new = optim.apply_updates(params, u)
    assert tree_structure(new) == tree_structure(params)
    assert new["layers"][0]["b"] is None
    np.testing.assert_allclose(new["s"], 1.9)


# --- schedules --------------------------------------------------------------------------------

def test_constant_schedule():
    s = optim.constant(0.3)
    assert float(s(0)) == 0.3 and float(s(1000)) == 0.3


def test_exponential_decay():
    s = optim.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
    for k in (0, 1, 5, 10, 25):
        np.testing.assert_allclose(float(s(k)), 0.5 ** (k / 10))
    st_ = optim.exponential_decay(1.0, 10, 0.5, staircase=True, transition_begin=5)
    assert [float(st_(k)) for k in (0, 5, 14, 15, 25)] == [1.0, 1.0, 1.0, 0.5, 0.25]
    lo = optim.exponential_decay(1.0, 1, 0.5, end_value=0.2)
    np.testing.assert_allclose(float(lo(10)), 0.2)


def test_cosine_decay():
    s = optim.cosine_decay(2.0, decay_steps=100, alpha=0.1)
    for k in (0, 25, 50, 100, 150):
        c = 0.5 * (1 + math.cos(math.pi * min(k, 100) / 100))
        np.testing.assert_allclose(float(s(k)), 2.0 * (0.9 * c + 0.1))


def test_warmup_cosine_decay():
    s = optim.warmup_cosine_decay(0.0, 1.0, warmup_steps=10, decay_steps=110, end_value=0.01)
    np.testing.assert_allclose([float(s(k)) for k in (0, 5, 10)], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(float(s(60)), 0.01 + 0.99 * 0.5)
    np.testing.assert_allclose(float(s(110)), 0.01)
    np.testing.assert_allclose(float(s(500)), 0.01)


def test_piecewise_constant():
    s = optim.piecewise_constant(0.1, {100: 0.1, 200: 0.5})
    np.testing.assert_allclose([float(s(k)) for k in (0, 99, 100, 199, 200, 999)],
                               [0.1, 0.1, 0.01, 0.01, 0.005, 0.005])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 300))
def test_schedules_trace_to_the_same_values(k):
    scheds = [optim.constant(0.3), optim.exponential_decay(1.0, 7, 0.9, staircase=True),
              optim.cosine_decay(1.0, 200, alpha=0.05, exponent=2.0),
              optim.warmup_cosine_decay(0.1, 1.0, 20, 250),
              optim.piecewise_constant(1.0, {50: 0.5, 150: 0.1})]
    kk = np.array(k, np.int32)
    for s in scheds:
        ir = fg.make_ir(s)(kk)
        np.testing.assert_allclose(ir(kk)[0], s(kk), rtol=1e-12)


def test_schedule_as_learning_rate_uses_count_from_zero():
    lrs = []

    def sched(count):
        lrs.append(count)
        return 0.1 * (count + 1.0)
    (p1, p2), state = run(optim.sgd(sched), [G1, G2])
    assert [int(c) for c in lrs] == [0, 1]
    e1 = lmap(lambda p, g: p - 0.1 * g, P0, G1)
    close(p2, lmap(lambda p, g: p - 0.2 * g, e1, G2))
    assert int(state[0].count) == 2


# --- traceability under make_ir (full staging) --------------------------------------------------

ALL = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd_wd_nesterov": lambda: optim.sgd(0.1, 0.9, nesterov=True, weight_decay=0.01),
    "seed003": lambda: optim.sgd(0.1, 0.9, weight_decay=0.01, decoupled_weight_decay=True),
    "adam_sched": lambda: optim.adam(optim.cosine_decay(0.01, 5)),
    "adamw": lambda: optim.adamw(0.01),
    "adagrad": lambda: optim.adagrad(0.1),
    "adadelta": lambda: optim.adadelta(),
    "rmsprop": lambda: optim.rmsprop(centered=True, momentum=0.5),
    "clip_chain": lambda: optim.chain(optim.clip_by_global_norm(0.5),
                                      optim.adam(optim.piecewise_constant(0.1, {1: 0.5}))),
    "warmup": lambda: optim.sgd(optim.warmup_cosine_decay(0.0, 0.1, 1, 4), momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_step_stages_fully_and_matches_eager(name):
    opt = ALL[name]()

    def step(params, state, grads):
        u, state = opt.update(grads, state, params)
        return optim.apply_updates(params, u), state

    params, state = P0, opt.init(P0)
    eager_p, eager_s = params, state
    for g in (G1, G2, G1):
        ir = fg.make_ir(step)(params, state, g)   # staged at concrete step k: no branching
        leaves, _ = tree_flatten((params, state, g))
        out = ir(*leaves)
        eager_p, eager_s = step(eager_p, eager_s, g)
        e_leaves, e_tree = tree_flatten((eager_p, eager_s))
        assert len(out) == len(e_leaves)
        for a, b in zip(out, e_leaves):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        params, state = e_tree.unflatten(out)


def test_one_ir_serves_every_step():
    # the count is data, not a Python constant: the IR staged at step 0 is valid at step 5
    opt = optim.adam(optim.warmup_cosine_decay(0.0, 0.1, 2, 8))

    def step(params, state, grads):
        u, state = opt.update(grads, state, params)
        return optim.apply_updates(params, u), state

    state = opt.init(P0)
    ir = fg.make_ir(step)(P0, state, G1)
    p_ir, s_ir, p_e, s_e = P0, state, P0, state
    for k in range(6):
        g = G1 if k % 2 else G2
        leaves, _ = tree_flatten((p_ir, s_ir, g))
        p_ir, s_ir = tree_structure((p_e, s_e)).unflatten(ir(*leaves))
        p_e, s_e = step(p_e, s_e, g)
    close(p_ir, p_e, rtol=1e-12)
    assert int(s_ir[0].count) == 6


def test_training_loop_with_grad_decreases_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3

    def loss(p):
        return fnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    params = {"w": np.zeros(3), "b": np.zeros(())}
    opt = optim.adam(0.1)
    state = opt.init(params)
    first = float(loss(params))
    for _ in range(200):
        g = fg.grad(loss)(params)
        u, state = opt.update(g, state, params)
        params = optim.apply_updates(params, u)
    assert float(loss(params)) < 1e-3 * first
    np.testing.assert_allclose(params["w"], [1.0, -2.0, 0.5], atol=1e-2)


def test_jitted_step_matches_eager_and_traces_once():
    opt = optim.chain(optim.clip_by_global_norm(1.0),
                      optim.adamw(optim.warmup_cosine_decay(0.0, 0.05, 2, 10)))
    traces = []

    def step(params, state, grads):
        traces.append(1)
        u, state = opt.update(grads, state, params)
        return optim.apply_updates(params, u), state

    jstep = fg.jit(step)
    p32 = tree_map(lambda x: x.astype(np.float32), P0)
    pj, sj = p32, opt.init(p32)
    pe, se = p32, opt.init(p32)
    for k in range(5):
        g = tree_map(lambda x: x.astype(np.float32), G1 if k % 2 else G2)
        pj, sj = jstep(pj, sj, g)
        pe, se = step(pe, se, g)
    close(pj, pe, rtol=1e-6, atol=1e-7)
    assert all(x.dtype == np.float32 for x in tree_leaves(pj))
    assert len(traces) == 5 + 1   # 5 eager calls + a single trace for all jitted steps


def test_spiral_training_with_loader_and_sgd():
    # the book's spiral setup (MLP 10-3, sigmoid, SGD lr 1.0, batch 30), written by hand
    from funcgrad import data
    x, t = data.spiral()
    rng = np.random.default_rng(0)
    params = {"l1": {"W": (rng.normal(size=(2, 10)) * np.sqrt(1 / 2)).astype(np.float32),
                     "b": np.zeros(10, np.float32)},
              "l2": {"W": (rng.normal(size=(10, 3)) * np.sqrt(1 / 10)).astype(np.float32),
                     "b": np.zeros(3, np.float32)}}

    def loss(p, xb, tb):
        h = fnp.logistic(xb @ p["l1"]["W"] + p["l1"]["b"])
        z = h @ p["l2"]["W"] + p["l2"]["b"]
        z = z - fnp.max(z, axis=1, keepdims=True)
        logp = z - fnp.log(fnp.sum(fnp.exp(z), axis=1, keepdims=True))
        return -fnp.mean(fnp.sum(logp * (tb[:, None] == np.arange(3)), axis=1))

    opt = optim.sgd(1.0)

    @fg.jit
    def step(p, s, xb, tb):
        val, g = fg.value_and_grad(loss)(p, xb, tb)
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s, val

    state = opt.init(params)
    loader = data.DataLoader((x, t), batch_size=30, key=fg.random.key(0))
    epoch_losses = []
    for _ in range(300):
        total = 0.0
        for xb, tb in loader:
            params, state, val = step(params, state, xb, tb)
            total += float(val) * len(tb)
        epoch_losses.append(total / len(t))
    assert 1.0 < epoch_losses[0] < 1.2          # near log(3) at the start
    assert epoch_losses[-1] < 0.3               # the book's 300 epochs fit the spiral
    xt, tt = data.spiral(train=False)
    assert float(loss(params, xt, tt)) < 0.4    # and it generalises to the test split


def test_vmap_over_an_ensemble_of_optimizer_states():
    opt = optim.adam(optim.cosine_decay(0.1, 10))

    def step(p, s, g):
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s

    P = {"w": np.linspace(-1, 1, 12).reshape(4, 3)}
    G = {"w": np.arange(12.0).reshape(4, 3) - 5.5}
    S = fg.vmap(opt.init)(P)
    for _ in range(2):
        P2, S = fg.vmap(step)(P, S, G)
        P = P2
    for i in range(4):
        p, s = {"w": np.linspace(-1, 1, 12).reshape(4, 3)[i]}, None
        s = opt.init(p)
        for _ in range(2):
            p, s = step(p, s, {"w": G["w"][i]})
        np.testing.assert_allclose(P["w"][i], p["w"], rtol=1e-12)
    assert S[0].count.tolist() == [2, 2, 2, 2]


@pytest.mark.parametrize("make", [lambda: optim.sgd(0.1, momentum=0.9),
                                  lambda: optim.adam(0.05), lambda: optim.rmsprop(0.05)])
def test_differentiating_through_two_optimizer_steps(make):
    # meta-gradient: d/dp0 of the loss after two inner steps (grad of grad, through the update)
    opt = make()
    x = np.array([[1.0, 2.0], [-0.5, 0.3], [0.2, -1.0]])
    y = np.array([0.5, -1.0, 2.0])

    def inner_loss(p):
        return fnp.mean((fnp.tanh(x @ p) - y) ** 2)

    def outer(p0):
        p, s = p0, opt.init(p0)
        for _ in range(2):
            u, s = opt.update(fg.grad(inner_loss)(p), s, p)
            p = optim.apply_updates(p, u)
        return inner_loss(p)

    fg.testing.check_grads(outer, (np.array([0.3, -0.2]),), order=1, modes=("rev",))
