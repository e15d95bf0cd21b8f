"""funcgrad.scipy.linalg (cholesky, cho_factor/cho_solve, block_diag, solve_sylvester, expm,
solve_triangular) and funcgrad.scipy.signal (convolve, correlate, convolve2d) against SciPy
(values) and JAX (gradients), under jit and vmap, with hypothesis over shapes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jsl, jsig = jax.scipy.linalg, jax.scipy.signal
sl = pytest.importorskip("scipy.linalg")
ssig = pytest.importorskip("scipy.signal")

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.linalg as fl  # noqa: E402
import funcgrad.scipy.signal as fs  # noqa: E402

R = np.random.default_rng(3)
A = R.normal(size=(4, 4))
SPD = A @ A.T + 4 * np.eye(4)
B = R.normal(size=(4, 2))


def _grad_close(f, jf, *args, rtol=1e-7, sym=()):
    """Gradients of a random projection agree (for the arguments in `sym`, symmetric matrices
    whose one triangle is read, their symmetric parts: conventions differ off that subspace)."""
    w = jf(*args)
    w = R.normal(size=np.shape(w))
    got = fg.grad(lambda *a: fnp.sum(f(*a) * w), argnums=tuple(range(len(args))))(*args)
    want = jax.grad(lambda *a: jax.numpy.sum(jf(*a) * w), argnums=tuple(range(len(args))))(*args)
    for i, (g, x) in enumerate(zip(got, want)):
        if i in sym:
            g, x = g + np.swapaxes(g, -1, -2), x + np.swapaxes(x, -1, -2)
        np.testing.assert_allclose(g, x, rtol=rtol, atol=1e-10)


@pytest.mark.parametrize("lower", [False, True])
def test_cholesky_and_cho_solve(lower):
    np.testing.assert_allclose(fl.cholesky(SPD, lower), sl.cholesky(SPD, lower), rtol=1e-12)
    x = fl.cho_solve(fl.cho_factor(SPD, lower=lower), B)
    np.testing.assert_allclose(x, sl.cho_solve(sl.cho_factor(SPD, lower=lower), B), rtol=1e-10)
    _grad_close(lambda s, b: fl.cho_solve(fl.cho_factor(s, lower=lower), b),
                lambda s, b: jsl.cho_solve(jsl.cho_factor(s, lower=lower), b), SPD, B, sym=(0,))


@pytest.mark.parametrize("scale", [0.05, 1.0, 20.0])
def test_expm_matches_scipy_and_jax(scale):
    a = A * scale
    want = sl.expm(a)
    np.testing.assert_allclose(fl.expm(a), want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(fg.jit(fl.expm)(a), want, rtol=1e-10,
                               atol=1e-12 * np.abs(want).max())
    if scale <= 1:
        _grad_close(fl.expm, jsl.expm, a, rtol=1e-6)


def test_expm_vmap_matches_a_loop():
    stack = np.stack([A * 0.1, A, A * 3])
    np.testing.assert_allclose(fg.vmap(fl.expm)(stack), np.stack([sl.expm(m) for m in stack]),
                               rtol=1e-9, atol=1e-9)


def test_block_diag_and_solve_sylvester():
    args = (np.ones((2, 2)), 3.0, np.arange(3.0), R.normal(size=(1, 2)))
    np.testing.assert_array_equal(fl.block_diag(*args), sl.block_diag(*args))
    _grad_close(lambda a, b: fl.block_diag(a, b), lambda a, b: jsl.block_diag(a, b),
                np.ones((2, 2)), R.normal(size=(3, 1)))
    q, b = R.normal(size=(4, 3)), R.normal(size=(3, 3))
    x = fl.solve_sylvester(A, b, q)
    np.testing.assert_allclose(x, sl.solve_sylvester(A, b, q), rtol=1e-9)
    fg.testing.check_grads(fl.solve_sylvester, (A, b, q), order=1, modes=("rev",))


def test_solve_triangular_batched_matches_scipy_and_jax():
    t = np.tril(R.normal(size=(3, 4, 4))) + 4 * np.eye(4)
    b = R.normal(size=(3, 4, 2))
    for trans in (0, 1):
        want = np.stack([sl.solve_triangular(ti, bi, trans=trans, lower=True)
                         for ti, bi in zip(t, b)])
        np.testing.assert_allclose(fl.solve_triangular(t, b, trans=trans, lower=True), want,
                                   rtol=1e-12)
        _grad_close(lambda t, b: fl.solve_triangular(t, b, trans=trans, lower=True),
                    lambda t, b: jsl.solve_triangular(t, b, trans=trans, lower=True), t, b)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_convolve_correlate_match_scipy_and_jax(mode, name):
    for s1, s2 in [((9,), (3,)), ((3,), (7,)), ((5, 6), (2, 3)), ((4, 3, 5), (2, 2, 2))]:
        a, b = R.normal(size=s1), R.normal(size=s2)
        f, jf = getattr(fs, name), getattr(jsig, name)
        np.testing.assert_allclose(f(a, b, mode), getattr(ssig, name)(a, b, mode), rtol=1e-10,
                                   atol=1e-12)
        _grad_close(lambda a, b: f(a, b, mode), lambda a, b: jf(a, b, mode), a, b)


def test_convolve2d_jit_and_vmap():
    imgs, k = R.normal(size=(3, 6, 5)), R.normal(size=(3, 3))
    want = np.stack([ssig.convolve2d(im, k, mode="same") for im in imgs])
    np.testing.assert_allclose(fg.vmap(lambda im: fs.convolve2d(im, k, "same"))(imgs), want,
                               rtol=1e-10)
    np.testing.assert_allclose(fg.jit(lambda im: fs.convolve2d(im, k, "valid"))(imgs[0]),
                               ssig.convolve2d(imgs[0], k, "valid"), rtol=1e-10)
    with pytest.raises(fg.FuncgradError, match="boundary='fill'"):
        fs.convolve2d(imgs[0], k, boundary="wrap")


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=2),
       st.lists(st.integers(1, 4), min_size=2, max_size=2), st.sampled_from(["full", "same"]))
def test_convolve_property_over_shapes(s1, s2, mode):
    s2 = s2[:len(s1)]
    a, b = R.normal(size=s1), R.normal(size=s2)
    np.testing.assert_allclose(fs.convolve(a, b, mode), ssig.convolve(a, b, mode), rtol=1e-9,
                               atol=1e-12)
