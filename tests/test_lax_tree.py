"""`fg.lax` and `fg.tree`: the JAX-habit namespaces agree with `jax.lax` / `jax.tree` on values
and gradients, eagerly and under jit and vmap."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import FuncgradError

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp, jlax = jax.numpy, jax.lax

X = np.arange(20.0).reshape(4, 5) / 7.0


@pytest.mark.parametrize("starts", [(0, 0), (1, 2), (3, 4), (-2, 9)])  # the last two clamp
def test_dynamic_slice_and_update_match_jax_values_and_grads(starts):
    ours = fg.lax.dynamic_slice(X, starts, (2, 3))
    np.testing.assert_allclose(ours, jlax.dynamic_slice(X, starts, (2, 3)))
    u = np.full((2, 3), -1.0)
    np.testing.assert_allclose(fg.lax.dynamic_update_slice(X, u, starts),
                               jlax.dynamic_update_slice(X, u, starts))

    def loss(lib, lax):
        return lambda x: lib.sum(lax.dynamic_update_slice(x, lax.dynamic_slice(x, starts, (2, 3))
                                                          ** 2, starts[::-1]) ** 3)
    np.testing.assert_allclose(fg.grad(loss(fnp, fg.lax))(X), jax.grad(loss(jnp, jlax))(X),
                               rtol=1e-12)


def test_dynamic_slice_with_traced_starts_under_jit_and_vmap():
    f = fg.jit(lambda x, i, j: fg.lax.dynamic_slice(x, (i, j), (2, 2)))
    for i, j in [(0, 0), (2, 3), (5, -1)]:
        np.testing.assert_allclose(f(X, i, j), jlax.dynamic_slice(X, (i, j), (2, 2)))
    rows = np.array([0, 1, 3])
    ours = fg.vmap(lambda i: fg.lax.dynamic_index_in_dim(X, i, keepdims=False))(rows)
    np.testing.assert_allclose(ours, X[[0, 1, 3]])


def test_pad_with_interior_and_negative_edges_matches_jax():
    cfg = [(1, -1, 2), (0, 2, 0)]
    np.testing.assert_allclose(fg.lax.pad(X, -3.0, cfg), jlax.pad(X, -3.0, cfg))
    g = fg.grad(lambda x: fnp.sum(fg.lax.pad(x, 0.0, cfg) ** 2))(X)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(jlax.pad(x, 0.0, cfg) ** 2))(X))


def test_elementwise_shape_and_contraction_names():
    np.testing.assert_allclose(fg.lax.rsqrt(X + 1), jlax.rsqrt(X + 1))
    np.testing.assert_allclose(fg.lax.clamp(0.5, X, 2.0), jlax.clamp(0.5, X, 2.0))
    np.testing.assert_allclose(fg.lax.logistic(X), jax.nn.sigmoid(X))
    np.testing.assert_allclose(fg.lax.broadcast_in_dim(X[:, 0], (4, 3), (0,)),
                               jlax.broadcast_in_dim(X[:, 0], (4, 3), (0,)))
    dn = (((1,), (0,)), ((), ()))
    np.testing.assert_allclose(fg.lax.dot_general(X, X.T, dn), jlax.dot_general(X, X.T, dn))
    np.testing.assert_allclose(fg.lax.slice(X, (1, 0), (4, 5), (2, 2)),
                               jlax.slice(X, (1, 0), (4, 5), (2, 2)))
    np.testing.assert_allclose(fg.lax.rev(X, (0, 1)), jlax.rev(X, (0, 1)))
    with pytest.raises(FuncgradError, match="lax never broadcasts"):
        fg.lax.select(X > 1, X, 0.0)


def test_lax_map_and_control_flow_names():
    np.testing.assert_allclose(fg.lax.map(lambda r: fnp.sum(r ** 2), X), np.sum(X ** 2, axis=1))
    g = fg.grad(lambda x: fnp.sum(fg.lax.map(fnp.sin, x)))(X)
    np.testing.assert_allclose(g, np.cos(X))
    assert fg.lax.fori_loop(0, 5, lambda i, c: c + i, 0) == 10
    assert fg.lax.stop_gradient is fg.stop_gradient and fg.lax.scan is fg.scan


def test_tree_namespace_is_tree_util():
    tree = {"b": (1.0, None), "a": [2.0, 3.0]}
    assert fg.tree.leaves(tree) == jax.tree.leaves(tree)
    assert fg.tree.map(lambda v: v * 2, tree) == jax.tree.map(lambda v: v * 2, tree)
    leaves, treedef = fg.tree.flatten(tree)
    assert fg.tree.unflatten(treedef, leaves) == tree
    assert fg.tree.structure(tree) == treedef
    assert fg.device_get is fg.to_numpy


def test_lax_pad_under_jit_and_grad_matches_jax():
    # lax.pad's own `max`/`min` (elementwise) once shadowed the builtins it needs for the config
    import jax
    x = np.arange(4.0)
    for cfg in ([(1, 1, 1)], [(-1, 2, 1)], [(2, -1, 0)]):
        want = np.asarray(jax.lax.pad(x, 0.0, cfg))
        np.testing.assert_array_equal(fg.jit(lambda x, cfg=cfg: fg.lax.pad(x, 0.0, cfg))(x), want)
        g = fg.grad(lambda x, cfg=cfg: fnp.sum(fg.lax.pad(x, 0.0, cfg) ** 2))(x)
        jg = jax.grad(lambda x, cfg=cfg: jax.numpy.sum(jax.lax.pad(x, 0.0, cfg) ** 2))(x)
        np.testing.assert_allclose(g, jg)
