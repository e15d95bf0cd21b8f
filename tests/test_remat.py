"""`fg.checkpoint`: same values and derivatives; reverse mode saves inputs, not intermediates."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.transforms.autodiff import linearize_flat


def block(x, w):
    h = fnp.tanh(x @ w)
    return fnp.sin(h) * h


def loss(x, w):
    return fnp.sum(fg.checkpoint(block)(x, w) ** 2)


def loss_plain(x, w):
    return fnp.sum(block(x, w) ** 2)


@pytest.fixture
def xw():
    r = np.random.default_rng(0)
    return r.standard_normal((3, 4)), r.standard_normal((4, 5))


def test_eager_call_is_the_function(xw):
    np.testing.assert_array_equal(fg.checkpoint(block)(*xw), block(*xw))


@pytest.mark.parametrize("transform", [
    lambda f: fg.grad(f, argnums=(0, 1)),
    lambda f: fg.jit(fg.grad(f, argnums=(0, 1))),
    lambda f: fg.grad(fg.jit(f), argnums=(0, 1)),
    lambda f: (lambda x, w: fg.jvp(f, (x, w), (np.ones_like(x), np.zeros_like(w)))),
    lambda f: (lambda x, w: fg.hessian(lambda x: f(x, w))(x[0])),
    lambda f: (lambda x, w: fg.vmap(fg.grad(lambda r, w: f(r[None], w)), (0, None))(x, w)),
], ids=["grad", "jit_grad", "grad_jit", "jvp", "hessian", "vmap_grad"])
def test_derivatives_match_the_plain_function(xw, transform):
    got = transform(loss)(*xw)
    want = transform(loss_plain)(*xw)
    for g, w in zip(fg.tree_util.tree_leaves(got), fg.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_check_grads(xw):
    fg.testing.check_grads(loss, xw, order=2)


def test_reverse_mode_saves_only_inputs(xw):
    x, w = xw
    _, lin_plain = linearize_flat(lambda w: [loss_plain(x, w)], [w])
    _, lin_remat = linearize_flat(lambda w: [loss(x, w)], [w])
    saved = lambda lin: sum(np.size(c) for c in lin.consts)  # noqa: E731
    # without remat the backward pass keeps tanh/sin/cos intermediates of shape (3, 5);
    # with it, only the block's inputs (x and w) and the block's output for the outer square
    assert saved(lin_remat) <= x.size + w.size + 15
    assert saved(lin_plain) > saved(lin_remat)
    assert "checkpoint" in str(lin_remat)

