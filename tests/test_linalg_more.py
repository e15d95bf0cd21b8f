"""The rest of `funcgrad.numpy.linalg` (svd, qr, eig, pinv, lstsq, norms, cond, matrix_power,
tensorsolve, ...): values against NumPy eager and under jit, derivatives against JAX, vmap
against a loop, and hypothesis over shapes for the SVD and QR."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp

jax.config.update("jax_enable_x64", True)

R = np.random.default_rng(0)
A = R.normal(size=(4, 3))
W = R.normal(size=(3, 5))
S = R.normal(size=(3, 3)) + 3 * np.eye(3)
B = R.normal(size=(4,))


def test_names_cover_jax_numpy_linalg():
    assert [n for n in dir(jnp.linalg) if not n.startswith("_")
            and not hasattr(fnp.linalg, n)] == []


# (name, f(m, x), argument, differentiable)
CASES = [
    ("svd_s", lambda m, x: m.linalg.svd(x, full_matrices=False)[1], A, True),
    ("svd_reduced_wide", lambda m, x: m.linalg.svd(x, full_matrices=False)[1], W, True),
    ("svd_invariant", lambda m, x: (lambda u, s, vh: (u * s) @ vh)(
        *m.linalg.svd(x, full_matrices=False)), A, True),
    ("svd_u_sq", lambda m, x: m.linalg.svd(x, full_matrices=False)[0] ** 2, A, True),
    ("svd_vh_sq_wide", lambda m, x: m.linalg.svd(x, full_matrices=False)[2] ** 2, W, True),
    ("svdvals", lambda m, x: m.linalg.svdvals(x), W, True),
    ("qr_r_sq", lambda m, x: m.linalg.qr(x)[1] ** 2, A, True),
    ("qr_q_sq", lambda m, x: m.linalg.qr(x)[0] ** 2, A, True),
    ("qr_product", lambda m, x: (lambda q, r: q @ r)(*m.linalg.qr(x)), A, True),
    ("pinv", lambda m, x: m.linalg.pinv(x), A, True),
    ("lstsq", lambda m, x: m.linalg.lstsq(x, B)[0], A, True),
    ("matrix_power", lambda m, x: m.linalg.matrix_power(x, 3), S, True),
    ("matrix_power_neg", lambda m, x: m.linalg.matrix_power(x, -2), S, True),
    ("eigvalsh", lambda m, x: m.linalg.eigvalsh(x + x.T), S, True),
    ("cond", lambda m, x: m.linalg.cond(x), S, True),
    ("cond_fro", lambda m, x: m.linalg.cond(x, "fro"), S, True),
    ("cond_inf", lambda m, x: m.linalg.cond(x, np.inf), S, True),
    ("multi_dot", lambda m, x: m.linalg.multi_dot([x, x.T, x]), A, True),
    ("tensorinv", lambda m, x: m.linalg.tensorinv(m.reshape(
        m.kron(x, x), (3, 3, 3, 3)), ind=2), S, True),
    ("tensorsolve", lambda m, x: m.linalg.tensorsolve(m.reshape(
        m.kron(x, x), (3, 3, 3, 3)), m.ones((3, 3))), S, True),
    ("cross", lambda m, x: m.linalg.cross(x, x[::-1]), S, True),
    ("vecdot_trace_diag", lambda m, x: m.linalg.vecdot(x, x) + m.linalg.trace(x)
     + m.linalg.diagonal(x, offset=1).sum(), S, True),
    ("matrix_transpose", lambda m, x: m.linalg.matrix_transpose(x) @ x, A, True),
    ("matrix_rank", lambda m, x: m.linalg.matrix_rank(x[:, :2] @ x[:, :2].T), A, False),
]
NORMS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]
VNORMS = [None, 0, 1, 2, 3, 0.5, np.inf, -np.inf, -1]
CASES += [(f"matrix_norm_{o}", lambda m, x, o=o: m.linalg.norm(x, o), A, o not in (1, -1, np.inf,
                                                                                     -np.inf))
          for o in NORMS]
CASES += [(f"vector_norm_{o}", lambda m, x, o=o: m.linalg.norm(x, o, axis=1), A, o != 0)
          for o in VNORMS]
CASES += [("matrix_norm_fn", lambda m, x: m.linalg.matrix_norm(x, ord="nuc"), A, True),
          ("vector_norm_fn", lambda m, x: m.linalg.vector_norm(x, ord=3), A, True),
          ("norm_axes_keepdims", lambda m, x: m.linalg.norm(x[None], 2, axis=(2, 1),
                                                            keepdims=True), A, True)]


@pytest.mark.parametrize("name,f,x,diff", CASES, ids=[c[0] for c in CASES])
def test_values_match_jax_eager_and_jit(name, f, x, diff):
    want = np.asarray(f(jnp, jnp.asarray(x)))
    for got in (f(fnp, x), fg.jit(lambda x: f(fnp, x))(x)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name,f,x,diff", [c for c in CASES if c[3]],
                         ids=[c[0] for c in CASES if c[3]])
def test_gradients_match_jax(name, f, x, diff):
    c = np.random.default_rng(3).normal(size=np.shape(f(np, x)))
    g = fg.grad(lambda x: fnp.sum(c * f(fnp, x)))(x)
    gj = jax.grad(lambda x: jnp.sum(c * f(jnp, x)))(jnp.asarray(x))
    np.testing.assert_allclose(g, gj, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["svd_invariant", "qr_product", "svdvals", "qr_r_sq"])
def test_second_order_by_finite_differences(name):
    _, f, x, _ = next(c for c in CASES if c[0] == name)
    fg.testing.check_grads(lambda x: fnp.sum(fnp.sin(f(fnp, x))), (x,), order=2)


@pytest.mark.parametrize("name", ["svd_s", "qr_r_sq", "pinv", "cond", "matrix_norm_nuc",
                                  "eigvalsh"])
def test_vmap_matches_loop(name):
    _, f, x, _ = next(c for c in CASES if c[0] == name)
    xs = np.stack([x, 2 * x + 0.1, x[::-1]])
    out = fg.vmap(lambda x: f(fnp, x))(xs)
    for i in range(3):
        np.testing.assert_allclose(out[i], f(np, xs[i]), rtol=1e-9, atol=1e-10)


def test_full_svd_and_complete_qr_values_and_eig():
    for fn in (lambda a: fnp.linalg.svd(a), lambda a: fnp.linalg.qr(a, "complete")):
        got = fg.jit(fn)(A)
        want = (np.linalg.svd(A) if len(got) == 3 else np.linalg.qr(A, "complete"))
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.abs(g), np.abs(w), atol=1e-10)
    w, v = fg.jit(fnp.linalg.eig)(S)
    np.testing.assert_allclose(S @ v, v * w, atol=1e-10)
    np.testing.assert_allclose(np.sort_complex(fg.jit(fnp.linalg.eigvals)(S)),
                               np.sort_complex(np.linalg.eigvals(S)), atol=1e-10)
    with pytest.raises(fg.FuncgradError, match="svd: derivatives of the full"):
        fg.grad(lambda a: fnp.sum(fnp.linalg.svd(a)[0]))(A)


def test_singular_inputs_give_inf_not_an_exception():
    sing = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert np.isinf(fg.jit(fnp.linalg.cond)(sing)) or fg.jit(fnp.linalg.cond)(sing) > 1e15
    assert int(fg.jit(fnp.linalg.matrix_rank)(sing)) == 1
    np.testing.assert_allclose(fg.jit(fnp.linalg.pinv)(sing), np.linalg.pinv(sing), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 5), n=st.integers(1, 5), batch=st.integers(0, 2), seed=st.integers(0, 99))
def test_hypothesis_svd_and_qr_reconstruct_and_match_numpy(m, n, batch, seed):
    a = np.random.default_rng(seed).normal(size=(batch,) * (batch > 0) + (m, n))
    u, s, vh = fg.jit(lambda a: fnp.linalg.svd(a, full_matrices=False))(a)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-10)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, atol=1e-10)
    q, r = fg.jit(fnp.linalg.qr)(a)
    np.testing.assert_allclose(q @ r, a, atol=1e-10)
    np.testing.assert_allclose(np.abs(r), np.abs(np.linalg.qr(a)[1]), atol=1e-10)


def test_singular_and_indefinite_matrices_give_inf_or_nan_as_jax():
    """NumPy raises LinAlgError; JAX (and funcgrad) put inf (solves) or nan (cholesky) in that
    matrix's place, eagerly, under jit and vmap, leaving the other matrices of a batch alone."""
    sing, good = np.array([[1.0, 2.0], [2.0, 4.0]]), 2.0 * np.eye(2)
    stack = np.stack([sing, good])
    for f in (lambda g: g, fg.jit, fg.vmap):
        inv = f(fnp.linalg.inv)(stack)
        assert np.isinf(inv[0]).all() and np.allclose(inv[1], 0.5 * np.eye(2))
        x = f(lambda a: fnp.linalg.solve(a, np.ones(2)))(stack)
        assert np.isinf(x[0]).all() and np.allclose(x[1], 0.5)
        low = f(fnp.linalg.cholesky)(np.stack([-good, good]))
        assert np.isnan(low[0]).all() and np.allclose(low[1], np.sqrt(2.0) * np.eye(2))
    assert np.isinf(fnp.linalg.inv(sing)).all() and np.isnan(fnp.linalg.cholesky(-good)).all()
    assert np.isinf(fnp.linalg.solve(sing, np.ones((3, 2, 1)))).all()  # broadcast b, eagerly
    assert fnp.linalg.det(sing) == 0.0 and fnp.linalg.slogdet(sing)[1] == -np.inf
    assert not np.isfinite(fg.grad(lambda a: fnp.linalg.slogdet(a)[1])(sing)).any()
