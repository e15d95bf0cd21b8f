"""Issue 14, the remaining SciPy pieces: scipy.linalg lu/lu_factor/lu_solve/sqrtm/solve_banded,
scipy.special iv/ive/jv(jn)/yn and the derivatives of gammainc/gammaincc in `a` and of
betainc in `a` and `b`. Values against
SciPy, derivatives against JAX where JAX defines them (else finite differences), under jit, vmap
and both autodiff modes, float32 and float64."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp, jsl, jss = jax.numpy, jax.scipy.linalg, jax.scipy.special
sl = pytest.importorskip("scipy.linalg")
ss = pytest.importorskip("scipy.special")

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.linalg as fl  # noqa: E402
import funcgrad.scipy.special as fs  # noqa: E402
from funcgrad.errors import FuncgradError  # noqa: E402

R = np.random.default_rng(14)
A = R.normal(size=(4, 4))
B = R.normal(size=(4, 2))
SPD = A @ A.T + np.eye(4)


def _proj(x, seed=0):
    return np.random.default_rng(seed).normal(size=np.shape(x))


def _grads_match(f, jf, *args, rtol=1e-8, atol=1e-10):
    """Reverse and forward mode (and reverse under jit) of a random projection match JAX's."""
    w = _proj(jf(*args))
    nums = tuple(range(len(args)))
    want = jax.grad(lambda *a: jnp.sum(jf(*a) * w), argnums=nums)(*args)
    loss = lambda *a: fnp.sum(f(*a) * w)  # noqa: E731
    for got in (fg.grad(loss, argnums=nums)(*args), fg.jit(fg.grad(loss, argnums=nums))(*args)):
        for g, x in zip(got, want):
            np.testing.assert_allclose(g, x, rtol=rtol, atol=atol)
    jac = fg.jacfwd(lambda a: f(a, *args[1:]))(args[0])
    np.testing.assert_allclose(jac, jax.jacfwd(lambda a: jf(a, *args[1:]))(args[0]),
                               rtol=rtol, atol=atol)


# --- lu, lu_factor, lu_solve ---------------------------------------------------------------------

@pytest.mark.parametrize("permute_l", [False, True])
def test_lu_values_match_scipy(permute_l):
    for got, want in zip(fl.lu(A, permute_l=permute_l), sl.lu(A, permute_l=permute_l)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for got, want in zip(fg.jit(lambda a: fl.lu(a, permute_l=permute_l))(A),
                         sl.lu(A, permute_l=permute_l)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_lu_factor_matches_scipy_and_pivots_are_int32():
    lu, piv = fl.lu_factor(A)
    lu_s, piv_s = sl.lu_factor(A)
    np.testing.assert_allclose(lu, lu_s, rtol=1e-12)
    np.testing.assert_array_equal(piv, piv_s)
    assert np.asarray(piv).dtype == np.int32


def test_lu_derivatives_match_jax():
    _grads_match(lambda a: fl.lu(a)[1] + fl.lu(a)[2], lambda a: jsl.lu(a)[1] + jsl.lu(a)[2], A)
    _grads_match(lambda a: fl.lu_factor(a)[0], lambda a: jsl.lu_factor(a)[0], A)
    fg.testing.check_grads(lambda a: fl.lu(a, permute_l=True)[0], (A,), order=2)


def test_lu_of_a_stack_and_under_vmap():
    stack = R.normal(size=(3, 4, 4))
    for got, want in zip(fl.lu(stack), jax.vmap(jsl.lu)(stack)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for got, want in zip(fg.vmap(fl.lu)(stack), jax.vmap(jsl.lu)(stack)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    g = fg.vmap(fg.grad(lambda a: fnp.sum(fl.lu(a)[2] ** 2)))(stack)
    want = jax.vmap(jax.grad(lambda a: jnp.sum(jsl.lu(a)[2] ** 2)))(stack)
    np.testing.assert_allclose(g, want, rtol=1e-9)


@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("b", [B, B[:, 0]], ids=["matrix", "vector"])
def test_lu_solve_values_and_grads(trans, b):
    want = sl.lu_solve(sl.lu_factor(A), b, trans=trans)
    np.testing.assert_allclose(fl.lu_solve(fl.lu_factor(A), b, trans=trans), want, rtol=1e-10)
    f = fg.jit(lambda a, b: fl.lu_solve(fl.lu_factor(a), b, trans=trans))
    np.testing.assert_allclose(f(A, b), want, rtol=1e-10)
    _grads_match(lambda a, b: fl.lu_solve(fl.lu_factor(a), b, trans=trans),
                 lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans=trans), A, b)


def test_lu_solve_vmaps_over_b_and_over_the_factorisation():
    bs = R.normal(size=(5, 4))
    fac = fl.lu_factor(A)
    np.testing.assert_allclose(fg.vmap(lambda b: fl.lu_solve(fac, b))(bs),
                               np.linalg.solve(A, bs.T).T, rtol=1e-10)
    stack = R.normal(size=(3, 4, 4)) + 4 * np.eye(4)
    got = fg.vmap(lambda a, b: fl.lu_solve(fl.lu_factor(a), b))(stack, bs[:3])
    np.testing.assert_allclose(got, np.linalg.solve(stack, bs[:3, :, None])[..., 0], rtol=1e-10)


def test_lu_float32():
    a32 = A.astype(np.float32)
    p, low, up = fl.lu(a32)
    assert np.asarray(low).dtype == np.float32
    np.testing.assert_allclose(np.asarray(p) @ low @ up, a32, rtol=1e-5, atol=1e-5)
    x = fl.lu_solve(fl.lu_factor(a32), B[:, 0].astype(np.float32))
    assert np.asarray(x).dtype == np.float32
    np.testing.assert_allclose(x, np.linalg.solve(A, B[:, 0]), rtol=1e-4)


def test_lu_solve_errors_name_the_problem():
    with pytest.raises(ValueError, match="trans must be"):
        fl.lu_solve(fl.lu_factor(A), B, trans=3)
    with pytest.raises(ValueError, match="lu_solve: expected lu of shape"):
        fl.lu_solve(fl.lu_factor(A), np.ones(3))
    with pytest.raises(Exception, match="square"):
        fl.lu(np.ones((2, 3)))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=st.integers(0, 1000))
def test_lu_reconstructs_any_square_matrix(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    p, low, up = fl.lu(a)
    np.testing.assert_allclose(np.asarray(p) @ low @ up, a, atol=1e-10)
    assert np.allclose(np.triu(low, 1), 0) and np.allclose(np.diag(low), 1)
    assert np.allclose(np.tril(up, -1), 0)


# --- sqrtm ---------------------------------------------------------------------------------------

def test_sqrtm_values_match_scipy_and_jax():
    np.testing.assert_allclose(fl.sqrtm(SPD), sl.sqrtm(SPD), rtol=1e-10)
    np.testing.assert_allclose(fg.jit(fl.sqrtm)(SPD), np.real(jsl.sqrtm(SPD)), rtol=1e-8)
    nonsym = np.triu(A) + 5 * np.eye(4)  # real positive eigenvalues, not symmetric
    x = fl.sqrtm(nonsym)
    np.testing.assert_allclose(x @ x, nonsym, rtol=1e-10, atol=1e-12)


def test_sqrtm_derivative_solves_the_sylvester_equation():
    fg.testing.check_grads(fl.sqrtm, (SPD,), order=2, modes=("fwd", "rev"))
    da = _proj(SPD, 1)
    x, dx = fg.jvp(fl.sqrtm, (SPD,), (da,))
    np.testing.assert_allclose(x @ dx + dx @ x, da, atol=1e-10)
    np.testing.assert_allclose(dx, sl.solve_sylvester(x, x, da), atol=1e-10)


def test_sqrtm_stack_vmap_and_float32():
    stack = np.stack([SPD, 2 * SPD + np.eye(4)])
    want = np.stack([sl.sqrtm(m) for m in stack])
    np.testing.assert_allclose(fl.sqrtm(stack), want, rtol=1e-10)
    np.testing.assert_allclose(fg.vmap(fl.sqrtm)(stack), want, rtol=1e-10)
    g = fg.vmap(fg.grad(lambda a: fnp.sum(fl.sqrtm(a))))(stack)
    np.testing.assert_allclose(g[0], fg.grad(lambda a: fnp.sum(fl.sqrtm(a)))(stack[0]), rtol=1e-10)
    x32 = fl.sqrtm(SPD.astype(np.float32))
    assert np.asarray(x32).dtype == np.float32
    np.testing.assert_allclose(x32, want[0], rtol=1e-4)


def test_sqrtm_without_a_real_root_is_nan():
    assert np.isnan(np.asarray(fl.sqrtm(-np.eye(2)))).all()


# --- solve_banded --------------------------------------------------------------------------------

def _banded(l_, u, n, seed=0):
    ab = np.random.default_rng(seed).normal(size=(l_ + u + 1, n))
    ab[u] += 6.0  # diagonally dominant
    return ab


@pytest.mark.parametrize("l_and_u", [(1, 1), (0, 2), (2, 0), (1, 2)])
def test_solve_banded_matches_scipy(l_and_u):
    ab = _banded(*l_and_u, 5)
    for b in (R.normal(size=5), R.normal(size=(5, 3))):
        want = sl.solve_banded(l_and_u, ab, b)
        np.testing.assert_allclose(fl.solve_banded(l_and_u, ab, b), want, rtol=1e-10)
        np.testing.assert_allclose(fg.jit(lambda ab, b: fl.solve_banded(l_and_u, ab, b))(ab, b),
                                   want, rtol=1e-10)


def test_solve_banded_is_differentiable_in_ab_and_b():
    ab, b = _banded(1, 2, 5), R.normal(size=5)
    fg.testing.check_grads(lambda ab, b: fl.solve_banded((1, 2), ab, b), (ab, b), order=2)
    g = fg.grad(lambda ab: fnp.sum(fl.solve_banded((1, 2), ab, b)))(ab)
    assert g[0, 0] == 0 and g[-1, -1] == 0  # entries outside the matrix have no effect
    abs_ = np.stack([ab, _banded(1, 2, 5, 1)])
    got = fg.vmap(lambda ab: fl.solve_banded((1, 2), ab, b))(abs_)
    np.testing.assert_allclose(got, [sl.solve_banded((1, 2), m, b) for m in abs_], rtol=1e-10)
    with pytest.raises(ValueError, match=r"ab must have shape \(l \+ u \+ 1, n\)"):
        fl.solve_banded((1, 1), ab, b)


# --- Bessel functions of any order -------------------------------------------------------------

X = np.linspace(0.3, 6.0, 9)


@pytest.mark.parametrize("name,order", [("iv", 1.5), ("ive", 2.0), ("jv", 2.5), ("jn", 3),
                                        ("yn", 2)])
def test_bessel_values_and_derivatives(name, order):
    f, want_f = getattr(fs, name), getattr(ss, name)
    np.testing.assert_allclose(f(order, X), want_f(order, X), rtol=1e-12)
    np.testing.assert_allclose(fg.jit(f)(order, X), want_f(order, X), rtol=1e-12)
    fg.testing.check_grads(lambda x: f(order, x), (X,), order=2, modes=("fwd", "rev"))
    h = 1e-6  # the recurrence against a central difference of SciPy's own function
    d = fg.vmap(fg.grad(lambda x: f(order, x)))(X)
    np.testing.assert_allclose(d, (want_f(order, X + h) - want_f(order, X - h)) / (2 * h),
                               rtol=1e-6, atol=1e-9)
    assert np.asarray(f(order, X.astype(np.float32))).dtype == np.float32


def test_bessel_integer_order_matches_jax_bessel_jn():
    want = jss.bessel_jn(X, v=3)
    np.testing.assert_allclose(fs.jn(3, X), want[3], rtol=1e-10)
    g = fg.vmap(fg.grad(lambda x: fs.jn(2, x)))(X)
    np.testing.assert_allclose(g, jax.vmap(jax.grad(lambda x: jss.bessel_jn(x, v=2)[2]))(X),
                               rtol=1e-8)
    assert fs.jn is fs.jv


def test_bessel_ive_at_negative_x_and_broadcast_orders():
    np.testing.assert_allclose(fs.ive(1.0, -X), ss.ive(1.0, -X), rtol=1e-12)
    fg.testing.check_grads(lambda x: fs.ive(1.0, x), (-X,), order=2)
    orders = np.array([[0.0], [1.0], [2.5]])
    np.testing.assert_allclose(fs.iv(orders, X), ss.iv(orders, X), rtol=1e-12)


@pytest.mark.parametrize("name", ["iv", "ive", "jv", "yn"])
def test_bessel_order_is_not_differentiable(name):
    with pytest.raises(FuncgradError, match="the order is not differentiable"):
        fg.grad(getattr(fs, name))(1.0, 2.0)


# --- gammainc / gammaincc in the shape argument ---------------------------------------------------

@pytest.mark.parametrize("a", [0.3, 1.0, 2.5, 8.0])
def test_gammainc_derivative_in_a_matches_jax(a):
    x = np.array([0.05, 0.7, 2.0, 6.0, 25.0])
    aa = np.full_like(x, a)
    for f, jf in ((fs.gammainc, jss.gammainc), (fs.gammaincc, jss.gammaincc)):
        want = jax.vmap(jax.grad(jf, argnums=(0, 1)))(aa, x)
        for got in (fg.vmap(fg.grad(f, argnums=(0, 1)))(aa, x),
                    fg.jit(fg.vmap(fg.grad(f, argnums=(0, 1))))(aa, x)):
            np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-13)
        t = fg.jvp(lambda a: f(a, x), (aa,), (np.ones_like(x),))[1]
        np.testing.assert_allclose(t, want[0], rtol=1e-9, atol=1e-13)


def test_gammainc_second_derivatives_in_a_by_finite_differences():
    a, x = np.array([0.7, 2.0, 5.0]), np.array([0.5, 2.5, 4.0])
    fg.testing.check_grads(fs.gammainc, (a, x), order=2, modes=("fwd", "rev"))
    with pytest.raises(FuncgradError, match="third derivatives in `a`"):
        fg.grad(fg.grad(fg.grad(lambda a: fs.gammainc(a, 2.0))))(1.5)


def test_gammainc_derivative_in_a_float32():
    g = fg.grad(fs.gammainc)(np.float32(2.0), np.float32(1.5))
    assert np.asarray(g).dtype == np.float32
    np.testing.assert_allclose(g, jax.grad(jss.gammainc)(2.0, 1.5), rtol=1e-5)


# --- betainc in a and b (JAX refuses: finite differences of SciPy's betainc are the oracle) ------

BA, BB, BX = np.array([0.5, 2.0, 5.0, 1.2]), np.array([0.7, 3.0, 1.5, 8.0]), np.array(
    [0.2, 0.5, 0.9, 0.05])


def test_betainc_derivatives_in_a_and_b_match_finite_differences_of_scipy():
    h = 1e-6
    got = fg.vmap(fg.grad(fs.betainc, argnums=(0, 1, 2)))(BA, BB, BX)
    for i, g in enumerate(got):
        up, dn = [BA, BB, BX], [BA, BB, BX]
        up[i], dn[i] = up[i] + h, dn[i] - h
        np.testing.assert_allclose(g, (ss.betainc(*up) - ss.betainc(*dn)) / (2 * h), rtol=1e-6,
                                   atol=1e-9)
    with pytest.raises(ValueError, match="Betainc gradient with respect to a and b"):
        jax.grad(jss.betainc)(2.0, 3.0, 0.4)  # what JAX does


def test_betainc_second_order_jit_vmap_float32():
    fg.testing.check_grads(fs.betainc, (BA, BB, BX), order=2, modes=("fwd", "rev"))
    want = fg.vmap(fg.grad(fs.betainc, argnums=(0, 1)))(BA, BB, BX)
    got = fg.jit(fg.vmap(fg.grad(fs.betainc, argnums=(0, 1))))(BA, BB, BX)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    g32 = fg.grad(fs.betainc)(np.float32(2.0), np.float32(3.0), np.float32(0.4))
    assert np.asarray(g32).dtype == np.float32
    np.testing.assert_allclose(g32, fg.grad(fs.betainc)(2.0, 3.0, 0.4), rtol=1e-5)


def test_zeta_derivative_in_q_matches_jax():
    # (the derivative in x: tests/test_scipy_special.py::test_zeta_derivative_in_x_matches_jax)
    g = fg.grad(fs.zeta, argnums=1)(3.0, 1.5)
    np.testing.assert_allclose(g, jax.grad(jss.zeta, argnums=1)(3.0, 1.5), rtol=1e-10)
