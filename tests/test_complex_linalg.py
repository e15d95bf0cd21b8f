"""Complex linear algebra (issue 14): solve, inv, det, slogdet, cholesky, qr, svd, eigh, eig,
matmul and solve_triangular on complex64/complex128, with gradients of real-valued losses
(`sum(w * abs(f)**2)`) and, where the function is holomorphic, holomorphic Jacobians, all against
JAX; under jit and vmap. Gauge-dependent outputs (eigenvectors, singular vectors) enter through
gauge-invariant functions (|v|^2, U V^H), as they must for a derivative to exist."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.linalg as fl  # noqa: E402

TOL = {np.complex64: 2e-3, np.complex128: 1e-9}


def _rc(shape, dtype=np.complex128, seed=0):
    r = np.random.default_rng(seed)
    return (r.normal(size=shape) + 1j * r.normal(size=shape)).astype(dtype)


def _square(n=3, dtype=np.complex128, seed=0):
    return (_rc((n, n), dtype, seed) + 3 * np.eye(n)).astype(dtype)


def _h(m, x):
    return m.conj(m.swapaxes(x, -1, -2))


B = _rc((3, 2), seed=1)
CASES = {  # name: (funcgrad f, jax f, argument maker, holomorphic)
    "solve": (lambda a: fnp.linalg.solve(a, B.astype(a.dtype)),
              lambda a: jnp.linalg.solve(a, B.astype(a.dtype)), _square, True),
    "inv": (fnp.linalg.inv, jnp.linalg.inv, _square, True),
    "det": (fnp.linalg.det, jnp.linalg.det, _square, True),
    "slogdet_logabs": (lambda a: fnp.linalg.slogdet(a)[1], lambda a: jnp.linalg.slogdet(a)[1],
                       _square, False),
    "slogdet_sign": (lambda a: fnp.real(fnp.linalg.slogdet(a)[0] * (1 + 2j)),  # |sign| is 1
                     lambda a: jnp.real(jnp.linalg.slogdet(a)[0] * (1 + 2j)), _square, False),
    "cholesky": (lambda a: fnp.linalg.cholesky(a @ _h(fnp, a) + np.eye(3)),
                 lambda a: jnp.linalg.cholesky(a @ _h(jnp, a) + np.eye(3)), _square, False),
    "eigh_values": (lambda a: fnp.linalg.eigh(a + _h(fnp, a))[0],
                    lambda a: jnp.linalg.eigh(a + _h(jnp, a))[0], _square, False),
    "eigh_vectors_abs2": (lambda a: fnp.abs(fnp.linalg.eigh(a + _h(fnp, a))[1]) ** 2,
                          lambda a: jnp.abs(jnp.linalg.eigh(a + _h(jnp, a))[1]) ** 2,
                          _square, False),
    "eig_values": (lambda a: fnp.sort(fnp.abs(fnp.linalg.eigvals(a))),  # sorted: LAPACK builds
                   lambda a: jnp.sort(jnp.abs(jnp.linalg.eigvals(a))), _square, False),  # differ
    "eig_reconstruction": (lambda a: (lambda w, v: (v * w[None]) @ fnp.linalg.inv(v))(
                               *fnp.linalg.eig(a)),
                           lambda a: (lambda w, v: (v * w[None]) @ jnp.linalg.inv(v))(
                               *jax.lax.linalg.eig(a, compute_left_eigenvectors=False,
                                                   enable_eigvec_derivs=True)), _square, True),
    "qr": (lambda a: fnp.linalg.qr(a)[1], lambda a: jnp.linalg.qr(a)[1], _square, True),
    "qr_tall_q": (lambda a: fnp.linalg.qr(a)[0], lambda a: jnp.linalg.qr(a)[0],
                  lambda dtype=np.complex128: _rc((4, 2), dtype), True),
    "svd_values": (lambda a: fnp.linalg.svd(a)[1], lambda a: jnp.linalg.svd(a)[1], _square, False),
    "svd_u_vh": (lambda a: (lambda u, s, vh: u @ vh)(*fnp.linalg.svd(a)),
                 lambda a: (lambda u, s, vh: u @ vh)(*jnp.linalg.svd(a)), _square, False),
    "svd_wide": (lambda a: (lambda u, s, vh: u @ vh)(*fnp.linalg.svd(a, full_matrices=False)),
                 lambda a: (lambda u, s, vh: u @ vh)(*jnp.linalg.svd(a, full_matrices=False)),
                 lambda dtype=np.complex128: _rc((2, 4), dtype), False),
    "pinv": (fnp.linalg.pinv, jnp.linalg.pinv, lambda dtype=np.complex128: _rc((3, 2), dtype),
             False),
    "matmul": (lambda a: a @ a, lambda a: a @ a, _square, True),
    "solve_triangular": (lambda a: fl.solve_triangular(a, B.astype(a.dtype), lower=True),
                         lambda a: jax.scipy.linalg.solve_triangular(a, B.astype(a.dtype),
                                                                     lower=True), _square, True),
}


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_complex_linalg_matches_jax(name, dtype):
    f, jf, make, holomorphic = CASES[name]
    a = make(dtype=dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(f(a), jf(a), rtol=tol, atol=tol)
    np.testing.assert_allclose(fg.jit(f)(a), jf(a), rtol=tol, atol=tol)
    w = np.random.default_rng(5).uniform(0.5, 1.5, np.shape(jf(a)))  # no constant losses
    loss = lambda a: fnp.sum(w * fnp.abs(f(a)) ** 2)  # noqa: E731
    want = jax.grad(lambda a: jnp.sum(w * jnp.abs(jf(a)) ** 2))(a)
    for got in (fg.grad(loss)(a), fg.jit(fg.grad(loss))(a)):
        assert np.asarray(got).dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    if holomorphic:
        for ours, theirs in ((fg.jacfwd, jax.jacfwd), (fg.jacrev, jax.jacrev)):
            want = theirs(jf, holomorphic=True)(a)
            np.testing.assert_allclose(ours(f, holomorphic=True)(a), want, rtol=tol,
                                       atol=tol * np.abs(want).max())


def test_complex_linalg_under_vmap():
    stack = np.stack([_square(seed=s) for s in range(3)])
    np.testing.assert_allclose(fg.vmap(fnp.linalg.det)(stack), np.linalg.det(stack), rtol=1e-10)
    g = fg.vmap(fg.grad(lambda a: fnp.abs(fnp.linalg.det(a)) ** 2))(stack)
    want = jax.vmap(jax.grad(lambda a: jnp.abs(jnp.linalg.det(a)) ** 2))(stack)
    np.testing.assert_allclose(g, want, rtol=1e-9)
    w = fg.vmap(lambda a: fnp.linalg.eigh(a + _h(fnp, a))[0])(stack)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(stack + _h(np, stack)), rtol=1e-10)
    assert np.asarray(w).dtype == np.float64  # a Hermitian matrix's eigenvalues are real


def test_complex_results_have_numpys_dtypes():
    a = _square(dtype=np.complex64)
    sign, logabs = fg.jit(fnp.linalg.slogdet)(a)
    assert np.asarray(sign).dtype == np.complex64 and np.asarray(logabs).dtype == np.float32
    assert np.asarray(fg.jit(fnp.linalg.svd)(a)[1]).dtype == np.float32


def test_complex_eig_values_and_vectors():
    a = _square()
    w, v = fg.jit(fnp.linalg.eig)(a)
    np.testing.assert_allclose(a @ v, v * w, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.sort_complex(w), np.sort_complex(np.linalg.eigvals(a)),
                               rtol=1e-10)
