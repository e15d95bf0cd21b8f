"""Derivatives of the general eigendecomposition `fnp.linalg.eig` / `eigvals` (real and complex
input, complex outputs) against JAX (`jax.lax.linalg.eig` with eigenvector derivatives enabled),
in forward and reverse mode, under jit and vmap, and by finite differences. Eigenvectors enter
through functions invariant to their phase (|v|, v diag(w) v^-1), as a derivative needs."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402


def _jeig(a):
    return jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)


def _matrix(dtype, n=4, seed=0):
    """A non-normal matrix whose eigenvalues are well separated (derivatives need gaps)."""
    r = np.random.default_rng(seed)
    q = np.eye(n) + 0.3 * r.normal(size=(n, n))
    w = np.arange(1.0, n + 1) * 1.5 * np.where(np.arange(n) % 2, -1, 1)
    if np.dtype(dtype).kind == "c":
        q, w = q + 0.3j * r.normal(size=(n, n)), w + 0.5j * r.normal(size=n)
    return (q @ np.diag(w) @ np.linalg.inv(q)).astype(dtype)


def _loss(eig, m, a):
    w, v = eig(a)
    weights = m.arange(1.0, w.shape[-1] + 1)
    return (m.sum(weights * m.abs(w) ** 2) + m.sum(m.real(w) * weights)
            + m.sum(m.abs(v) ** 3))


TOL = {np.float32: 2e-3, np.float64: 1e-9, np.complex64: 2e-3, np.complex128: 1e-9}


@pytest.mark.parametrize("dtype", sorted(TOL, key=str))
def test_grad_of_eigenvalues_and_vectors_matches_jax(dtype):
    a = _matrix(dtype)
    want = jax.grad(lambda a: _loss(_jeig, jnp, a))(a)
    loss = lambda a: _loss(fnp.linalg.eig, fnp, a)  # noqa: E731
    for got in (fg.grad(loss)(a), fg.jit(fg.grad(loss))(a)):
        assert np.asarray(got).dtype == dtype
        np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * abs(want).max())


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_jacobians_forward_and_reverse_match_jax(dtype):
    a = _matrix(dtype, n=3, seed=1)
    holo = np.dtype(dtype).kind == "c"
    for ours in (fg.jacfwd, fg.jacrev):
        got = ours(fnp.linalg.eigvals, holomorphic=holo)(a) if holo else ours(
            lambda a: fnp.real(fnp.linalg.eigvals(a)))(a)
        want = (jax.jacfwd(jnp.linalg.eigvals, holomorphic=True)(a) if holo
                else jax.jacfwd(lambda a: jnp.real(jnp.linalg.eigvals(a)))(a))
        np.testing.assert_allclose(got, want, atol=1e-9)
    if not holo:  # eigenvector moduli (|v| is not holomorphic: real input only)
        got = fg.jacrev(lambda a: fnp.abs(fnp.linalg.eig(a)[1]))(a)
        np.testing.assert_allclose(got, jax.jacfwd(lambda a: jnp.abs(_jeig(a)[1]))(a), atol=1e-9)
    # the reconstruction v diag(w) v^-1 is `a` itself: its derivative is the identity
    recon = lambda a: (lambda w, v: v @ fnp.diag(w) @ fnp.linalg.inv(v))(*fnp.linalg.eig(a))  # noqa
    da = np.random.default_rng(2).normal(size=a.shape).astype(dtype)
    _, t = fg.jvp(recon, (a,), (da,))
    np.testing.assert_allclose(t, da, atol=1e-9)


def test_vmap_and_finite_differences():
    stack = np.stack([_matrix(np.float64, seed=s) for s in range(3)])
    loss = lambda a: _loss(fnp.linalg.eig, fnp, a)  # noqa: E731
    np.testing.assert_allclose(fg.vmap(fg.grad(loss))(stack),
                               jax.vmap(jax.grad(lambda a: _loss(_jeig, jnp, a)))(stack),
                               rtol=1e-9, atol=1e-9)
    fg.testing.check_grads(lambda a: fnp.sum(fnp.abs(fnp.linalg.eigvals(a))), (stack[0],),
                           order=2)
    fg.testing.check_grads(loss, (stack[1],), order=1)


def test_eigenvector_columns_keep_unit_norm_to_first_order():
    a, da = _matrix(np.float64, seed=3), np.random.default_rng(4).normal(size=(4, 4))
    _, (dw, dv) = fg.jvp(fnp.linalg.eig, (a,), (da,))
    _, v = np.linalg.eig(a)
    np.testing.assert_allclose(np.real(np.sum(np.conj(v) * dv, axis=0)), 0.0, atol=1e-12)


FUNCS = {  # phase-invariant functions of eig; complex input: the holomorphic ones only
    "eigvals": (fnp.linalg.eigvals, lambda a: _jeig(a)[0], True),
    "vectors_abs2": (lambda a: fnp.abs(fnp.linalg.eig(a)[1]) ** 2,
                     lambda a: jnp.abs(_jeig(a)[1]) ** 2, False),
    "reconstruction": (lambda a: (lambda w, v: (v * w[None]) @ fnp.linalg.inv(v))(
                           *fnp.linalg.eig(a)),
                       lambda a: (lambda w, v: (v * w[None]) @ jnp.linalg.inv(v))(*_jeig(a)), True),
}


def _parts(f, m):  # a complex-valued f of a real input as the real and imaginary parts
    return lambda a: m.stack([m.real(f(a)), m.imag(f(a))])


@pytest.mark.parametrize("name, dtype", [(n, d) for n in sorted(FUNCS) for d in TOL
                                         if FUNCS[n][2] or np.dtype(d).kind != "c"])
def test_jacobians_in_every_dtype_match_jax_under_jit(name, dtype):
    f, jf, _ = FUNCS[name]
    a, holo = _matrix(dtype, seed=5), np.dtype(dtype).kind == "c"
    if not holo:
        f, jf = _parts(f, fnp), _parts(jf, jnp)
    tol = TOL[dtype]
    for ours, theirs in ((fg.jacfwd, jax.jacfwd), (fg.jacrev, jax.jacrev)):
        want, g = theirs(jf, holomorphic=holo)(a), ours(f, holomorphic=holo)
        for got in (g(a), fg.jit(g)(a)):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1, abs(want).max()))


def test_second_order_of_eigenvalues_matches_jax():
    a = _matrix(np.float64, seed=6)
    f = lambda a: fnp.sum(fnp.real(fnp.linalg.eigvals(a)) ** 3)  # noqa: E731
    want = jax.hessian(lambda a: jnp.sum(jnp.real(_jeig(a)[0]) ** 3))(a)
    np.testing.assert_allclose(fg.hessian(f)(a), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fg.jit(fg.hessian(f))(a), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_input_values_match_numpy_up_to_order_and_phase(dtype):
    a, tol = _matrix(dtype, seed=7), TOL[dtype]
    nw, nv = np.linalg.eig(a)
    for w, v in (fnp.linalg.eig(a), fg.jit(fnp.linalg.eig)(a)):
        w, v = np.asarray(w), np.asarray(v)
        assert w.dtype == dtype and v.dtype == dtype
        i, j = np.argsort(w.real), np.argsort(nw.real)
        np.testing.assert_allclose(w[i], nw[j], rtol=tol, atol=tol)
        np.testing.assert_allclose(np.abs(v[:, i]), np.abs(nv[:, j]), rtol=tol, atol=tol)
        phase = np.sum(np.conj(nv[:, j]) * v[:, i], axis=0)  # v = nv * phase, |phase| = 1
        np.testing.assert_allclose(np.abs(phase), 1.0, rtol=tol)


def test_repeated_eigenvalues_give_nonfinite_eigenvector_derivatives_as_jax():
    a, da = np.diag([1.0, 1.0, 2.0]), np.ones((3, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        dv = fg.jvp(lambda a: fnp.linalg.eig(a)[1], (a,), (da,))[1]
    assert not np.all(np.isfinite(dv))
    assert not np.all(np.isfinite(jax.jvp(lambda a: _jeig(a)[1], (a,), (da,))[1]))


@pytest.mark.gpu
def test_eig_values_and_grads_on_gpu_arrays():
    a = _matrix(np.complex128, seed=8)
    loss = lambda a: _loss(fnp.linalg.eig, fnp, a)  # noqa: E731
    ag = fg.device_put(a, "gpu")
    for got, want in ((fg.jit(fnp.linalg.eigvals)(ag), fnp.linalg.eigvals(a)),
                      (fg.grad(loss)(ag), fg.grad(loss)(a))):
        assert type(got).__module__.startswith("cupy")  # the result stays on the device
        np.testing.assert_allclose(fg.to_numpy(got), want, rtol=1e-9, atol=1e-9)
