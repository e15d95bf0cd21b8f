"""fnp.linalg (solve, inv, det, slogdet, cholesky, eigh) and fg.scipy.linalg.solve_triangular.

The table rows in tests/specs.py (`linalg_*`) already run every function through check_grads,
vmap-versus-loop, staging and the JAX oracle at small shapes; this file adds batched and
broadcast shapes, float32, Hessians against JAX, nested transforms, the batching rule that
shares one matrix across a batch of right-hand sides, and the error messages.
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import primitives as prims
from funcgrad.errors import ShapeError

L = fnp.linalg
solve_triangular = fg.scipy.linalg.solve_triangular


def _mat(rng, shape, negative_det=False):
    """Well-conditioned square matrices; with negative_det, every determinant is negative."""
    n = shape[-1]
    a = rng.uniform(-1, 1, shape) + n * np.eye(n)
    if negative_det:
        a[..., 0, :] *= -1  # the diagonally dominant matrix had det > 0: flip one row
    return a


def _spd(m, a):
    n = a.shape[-1]
    return m.matmul(a, m.swapaxes(a, -1, -2)) + n * np.eye(n)


def _sym(m, a):
    return (a + m.swapaxes(a, -1, -2)) * 0.5


def _spectrum(rng, shape):
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    w = np.arange(shape[-1]) * 1.5 + rng.uniform(-0.25, 0.25, shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


# --- values: traced paths equal numpy.linalg, batched, broadcast, float32 ------------------------

SOLVE_SHAPES = [((3, 3), (3,)), ((3, 3), (3, 2)), ((4, 3, 3), (3,)), ((4, 3, 3), (4, 3, 2)),
                ((4, 3, 3), (3, 2)), ((3, 3), (4, 3, 1)), ((2, 1, 3, 3), (5, 3, 2))]


@pytest.mark.parametrize("sa,sb", SOLVE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_solve_matches_numpy_under_jit_and_jvp(sa, sb, dtype):
    rng = np.random.default_rng(0)
    a, b = _mat(rng, sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    want = np.linalg.solve(a, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got in (fg.jit(L.solve)(a, b), fg.jvp(L.solve, (a, b), (a, b))[0]):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # the tangent of a linear solve along (a, b) itself: d(a^-1 b) = a^-1 (b - a a^-1 b) = 0
    np.testing.assert_allclose(fg.jvp(L.solve, (a, b), (a, b))[1], 0 * want, atol=10 * tol)


UNARY = {
    "inv": (L.inv, np.linalg.inv, _mat),
    "det": (L.det, np.linalg.det, lambda r, s: _mat(r, s, negative_det=True)),
    "slogdet": (lambda a: L.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], _mat),
    "slogdet_sign": (lambda a: L.slogdet(a).sign, lambda a: np.linalg.slogdet(a).sign,
                     lambda r, s: _mat(r, s, negative_det=True)),
    "cholesky": (L.cholesky, np.linalg.cholesky, lambda r, s: _spd(np, r.standard_normal(s))),
    "eigvals": (lambda a: L.eigh(a)[0], lambda a: np.linalg.eigh(a)[0], _spectrum),
    "eigvecs": (lambda a: L.eigh(a)[1], lambda a: np.linalg.eigh(a)[1], _spectrum),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 1, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_matches_numpy_under_jit(name, shape, dtype):
    f, np_f, draw = UNARY[name]
    a = draw(np.random.default_rng(1), shape).astype(dtype)
    want = np_f(a)
    got = fg.jit(f)(a)
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(fg.make_ir(f)(a)(a)[0], want, rtol=tol, atol=tol)


def test_integer_matrices_promote_to_float64_as_in_numpy():
    a, b = np.array([[2, 1], [1, 3]]), np.array([1, 2])
    got = fg.jit(L.solve)(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.linalg.solve(a, b))
    np.testing.assert_allclose(fg.jit(L.det)(a), np.linalg.det(a))


def test_slogdet_is_a_named_pair_and_its_sign_has_zero_gradient():
    a = _mat(np.random.default_rng(2), (3, 3), negative_det=True)
    res = fg.jit(lambda a: L.slogdet(a))(a)
    sign, logabsdet = fg.jvp(lambda a: L.slogdet(a), (a,), (a,))[0]
    assert sign == -1.0 == res[0] and np.isclose(logabsdet, np.linalg.slogdet(a).logabsdet)
    assert np.all(fg.grad(lambda a: L.slogdet(a).sign)(a) == 0)


# --- derivatives: finite differences at batched/broadcast shapes, closed forms ------------------

@pytest.mark.parametrize("sa,sb", SOLVE_SHAPES)
def test_solve_check_grads_batched_and_broadcast(sa, sb):
    rng = np.random.default_rng(3)
    fg.testing.check_grads(L.solve, (_mat(rng, sa), rng.standard_normal(sb)), order=2)


@pytest.mark.parametrize("name", ["inv", "det", "slogdet"])
def test_unary_check_grads_batched(name):
    f, _, draw = UNARY[name]
    fg.testing.check_grads(f, (draw(np.random.default_rng(4), (2, 3, 3)),), order=2)


def test_cholesky_and_eigh_check_grads_batched():
    rng = np.random.default_rng(5)
    fg.testing.check_grads(lambda a: L.cholesky(_spd(fnp, a)), (rng.standard_normal((2, 3, 3)),),
                           order=2)
    s = _spectrum(rng, (2, 3, 3))
    fg.testing.check_grads(lambda a: L.eigh(_sym(fnp, a))[0], (s,), order=2)
    # the sign of an eigenvector is arbitrary: check a sign-invariant function of them
    fg.testing.check_grads(lambda a: L.eigh(_sym(fnp, a))[1] ** 2, (s,), order=2, atol=1e-5)


def test_det_gradient_is_cofactor_matrix_also_for_negative_determinants():
    for neg in (False, True):
        a = _mat(np.random.default_rng(6), (4, 4), negative_det=neg)
        assert (np.linalg.det(a) < 0) == neg
        want = np.linalg.det(a) * np.linalg.inv(a).T
        np.testing.assert_allclose(fg.grad(L.det)(a), want, rtol=1e-12)
        np.testing.assert_allclose(fg.jacfwd(L.det)(a), want, rtol=1e-12)


def test_cholesky_tangent_satisfies_the_product_rule():
    # A = L L^T  =>  dA = dL L^T + L dL^T, with dL lower triangular
    rng = np.random.default_rng(7)
    a, da = _spd(np, rng.standard_normal((3, 3))), rng.standard_normal((3, 3))
    da = da + da.T
    low, dlow = fg.jvp(L.cholesky, (a,), (da,))
    np.testing.assert_allclose(dlow, np.tril(dlow), atol=1e-14)
    np.testing.assert_allclose(dlow @ low.T + low @ dlow.T, da, atol=1e-12)


def test_solve_triangular_reads_one_triangle_only():
    rng = np.random.default_rng(8)
    a, b = _mat(rng, (3, 3)), rng.standard_normal((3, 2))
    for lower, trans in [(True, 0), (False, 0), (True, "T"), (False, 1)]:
        t = np.tril(a) if lower else np.triu(a)
        want = np.linalg.solve(t.T if trans in (1, "T") else t, b)
        f = lambda a, b: solve_triangular(a, b, trans=trans, lower=lower)  # noqa: E731
        np.testing.assert_allclose(f(a, b), want, rtol=1e-12)
        np.testing.assert_allclose(fg.jit(f)(a, b), want, rtol=1e-12)
        g = fg.grad(lambda a: fnp.sum(f(a, b) ** 2))(a)
        other = np.triu(g, 1) if lower else np.tril(g, -1)
        assert np.all(other == 0), "the unread triangle must get a zero gradient"
        fg.testing.check_grads(f, (a, b), order=2)


def test_solve_triangular_matches_scipy():
    sl = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(9)
    a, b = _mat(rng, (4, 4)), rng.standard_normal(4)
    for lower in (True, False):
        for trans in (0, 1):
            np.testing.assert_allclose(solve_triangular(a, b, trans=trans, lower=lower),
                                       sl.solve_triangular(a, b, trans=trans, lower=lower),
                                       rtol=1e-12)


def test_eigh_upper_triangle():
    a = _spectrum(np.random.default_rng(10), (3, 3))
    a_u = np.triu(a) + np.tril(np.full((3, 3), 7.0), -1)  # garbage below: 'U' must ignore it
    w, v = fg.jit(lambda a: L.eigh(a, UPLO="U"))(a_u)
    w_np, v_np = np.linalg.eigh(a_u, UPLO="U")
    np.testing.assert_allclose(w, w_np, rtol=1e-12)
    np.testing.assert_allclose(np.abs(v), np.abs(v_np), rtol=1e-10)


# --- JAX as the oracle: grad, jvp, Hessians -----------------------------------------------------

def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _scalar_fns(jnp):
    """name -> (funcgrad scalar function, its JAX twin, argument drawer)."""
    b = np.random.default_rng(11).standard_normal((2, 3, 2))
    return {
        "solve": (lambda a: fnp.sum(fnp.sin(L.solve(a, b))),
                  lambda a: jnp.sum(jnp.sin(jnp.linalg.solve(a, b))), _mat),
        "inv": (lambda a: fnp.sum(L.inv(a) ** 2), lambda a: jnp.sum(jnp.linalg.inv(a) ** 2),
                _mat),
        "det": (lambda a: fnp.sum(L.det(a)), lambda a: jnp.sum(jnp.linalg.det(a)),
                lambda r, s: _mat(r, s, negative_det=True)),
        "slogdet": (lambda a: fnp.sum(L.slogdet(a)[1]),
                    lambda a: jnp.sum(jnp.linalg.slogdet(a)[1]), _mat),
        "cholesky": (lambda a: fnp.sum(fnp.tanh(L.cholesky(_spd(fnp, a)))),
                     lambda a: jnp.sum(jnp.tanh(jnp.linalg.cholesky(_spd(jnp, a)))),
                     lambda r, s: r.standard_normal(s)),
        "eigh": (lambda a: fnp.sum(fnp.sin(L.eigh(_sym(fnp, a))[0]))
                 + fnp.sum(L.eigh(_sym(fnp, a))[1][..., 0] ** 4),
                 lambda a: jnp.sum(jnp.sin(jnp.linalg.eigh(_sym(jnp, a))[0]))
                 + jnp.sum(jnp.linalg.eigh(_sym(jnp, a))[1][..., 0] ** 4), _spectrum),
        "solve_triangular": (
            lambda a: fnp.sum(fg.scipy.linalg.solve_triangular(a, b, lower=True) ** 3),
            lambda a: jnp.sum(__import__("jax").scipy.linalg.solve_triangular(
                a, b, lower=True) ** 3), _mat),
    }


@pytest.mark.parametrize("name", ["solve", "inv", "det", "slogdet", "cholesky", "eigh",
                                  "solve_triangular"])
def test_grad_jvp_hessian_against_jax(name):
    jax, jnp = _jax()
    f, f_j, draw = _scalar_fns(jnp)[name]
    rng = np.random.default_rng(12)
    a = draw(rng, (2, 3, 3))
    np.testing.assert_allclose(fg.grad(f)(a), jax.grad(f_j)(a), rtol=1e-8, atol=1e-10)
    t = rng.standard_normal(a.shape)
    (y, dy), (y_j, dy_j) = fg.jvp(f, (a,), (t,)), jax.jvp(f_j, (a,), (t,))
    np.testing.assert_allclose([y, dy], [y_j, dy_j], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fg.hessian(f)(a), jax.hessian(f_j)(a), rtol=1e-7, atol=1e-9)


# --- transforms: vmap against loops, nesting, the shared-matrix batching rule --------------------

def test_vmap_over_right_hand_sides_shares_one_matrix():
    rng = np.random.default_rng(13)
    a, bs = _mat(rng, (3, 3)), rng.standard_normal((5, 3, 2))
    want = np.stack([np.linalg.solve(a, b) for b in bs])
    for in_b, b_in in ((0, bs), (2, np.moveaxis(bs, 0, 2)), (1, np.moveaxis(bs, 0, 1))):
        f = fg.vmap(L.solve, in_axes=(None, in_b))
        np.testing.assert_allclose(f(a, b_in), want, rtol=1e-12)
        ir = fg.make_ir(f)(a, b_in)
        solves = [e for e in ir.eqns if e.prim.name == "solve"]
        assert len(solves) == 1 and solves[0].inputs[0].aval.shape == (3, 3), str(ir)
    vecs = rng.standard_normal((5, 3))  # vector right-hand sides too
    np.testing.assert_allclose(fg.vmap(L.solve, in_axes=(None, 0))(a, vecs),
                               np.linalg.solve(a, vecs.T).T, rtol=1e-12)


def test_vmap_of_grad_matches_loop_and_nests_under_jit():
    rng = np.random.default_rng(14)
    a, b = _mat(rng, (4, 3, 3)), rng.standard_normal((4, 3))

    def loss(a, b):
        x = L.solve(a, b)
        return fnp.sum(x ** 2) + L.slogdet(a)[1] + fnp.sum(L.cholesky(_spd(fnp, a)))

    g = fg.grad(loss, argnums=(0, 1))
    loop = [g(a[i], b[i]) for i in range(4)]
    for f in (fg.vmap(g), fg.jit(fg.vmap(g)), fg.vmap(fg.jit(g))):
        ga, gb = f(a, b)
        np.testing.assert_allclose(ga, np.stack([x[0] for x in loop]), rtol=1e-10)
        np.testing.assert_allclose(gb, np.stack([x[1] for x in loop]), rtol=1e-10)
    h = fg.jit(fg.vmap(fg.hessian(lambda a: L.det(a))))(a)
    np.testing.assert_allclose(h[2], fg.hessian(L.det)(a[2]), rtol=1e-10, atol=1e-12)


def test_third_order_and_linearize():
    a = _mat(np.random.default_rng(15), (2, 2))
    # d^3/dt^3 det(a + t e) at 0, for 2x2: det is quadratic, so its third derivative is 0
    e = np.ones((2, 2))
    d3 = fg.grad(fg.grad(fg.grad(lambda t: L.det(a + t * e))))(0.0)
    assert abs(d3) < 1e-10
    y, f_lin = fg.linearize(L.inv, a)
    t = np.random.default_rng(16).standard_normal((2, 2))
    np.testing.assert_allclose(f_lin(t), -y @ t @ y, rtol=1e-12)


# --- errors name the shapes and the fix ---------------------------------------------------------

@pytest.mark.parametrize("traced", [False, True])
def test_errors_name_shapes(traced):
    wrap = fg.jit if traced else (lambda f: f)
    with pytest.raises(ShapeError, match=r"square.*f64\[2,3\]"):
        wrap(L.inv)(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"square.*f64\[3\]"):
        wrap(L.det)(np.ones(3))
    with pytest.raises(ShapeError, match=r"\(3, 3\) needs b of shape \(3,\) or \(\.\.\., 3, k\)"
                                         r".*got \(4,\)"):
        wrap(L.solve)(np.eye(3), np.ones(4))
    with pytest.raises(ShapeError, match=r"got \(3, 4, 2\)"):
        wrap(L.solve)(np.eye(3), np.ones((3, 4, 2)))
    with pytest.raises(ShapeError, match=r"batch dimensions.*\(2, 3, 3\).*\(4, 3, 1\)"):
        wrap(L.solve)(np.ones((2, 3, 3)), np.ones((4, 3, 1)))
    with pytest.raises(ShapeError, match=r"solve_triangular: .*square"):
        wrap(solve_triangular)(np.ones((3, 2)), np.ones(3))


def test_primitive_errors_name_avals():
    with pytest.raises(ShapeError, match=r"real floating-point.*i64\[2,2\].*astype"):
        fg.make_ir(prims.cholesky)(np.eye(2, dtype=np.int64))
    with pytest.raises(ShapeError, match=r"a: f64\[3,3\], b: f32\[3,1\]"):
        fg.make_ir(prims.solve)(np.eye(3), np.ones((3, 1), np.float32))
    with pytest.raises(ShapeError, match=r"a: f64\[2,3,3\], b: f64\[3,1\]"):
        fg.make_ir(prims.solve)(np.ones((2, 3, 3)), np.ones((3, 1)))
