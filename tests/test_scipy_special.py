"""funcgrad.scipy.special against jax.scipy.special (values, grad, second derivatives), vmap vs
a loop, jit vs eager, finite differences, and the error naming the SciPy extra."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jsp = jax.scipy.special
sp = pytest.importorskip("scipy.special")

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.special as fsp  # noqa: E402
from funcgrad.core import FuncgradError  # noqa: E402

R = np.random.default_rng(0)
POS = R.uniform(0.5, 4.0, 5)       # positive arguments (gamma family, incomplete gamma, ...)
UNIT = R.uniform(0.05, 0.95, 5)    # in (0, 1) (erfinv's domain is (-1, 1))
REAL = R.normal(size=5) * 2
BIG = R.uniform(1.5, 4.0, 5)       # > 1 (zeta's x)

# name, args, which args are differentiated (jax oracle: same name in jax.scipy.special)
SPECS = [
    ("gammaln", (POS,), (0,)), ("digamma", (POS,), (0,)), ("erf", (REAL,), (0,)),
    ("erfc", (REAL,), (0,)), ("erfinv", (UNIT * 2 - 1,), (0,)), ("ndtri", (UNIT,), (0,)),
    ("log_ndtr", (REAL,), (0,)), ("ndtr", (REAL,), (0,)), ("expit", (REAL,), (0,)),
    ("logit", (UNIT,), (0,)), ("gamma", (REAL,), (0,)), ("gammasgn", (REAL,), ()),
    ("i0", (REAL,), (0,)), ("i0e", (REAL,), (0,)), ("i1", (REAL,), (0,)),
    ("i1e", (REAL,), (0,)), ("entr", (UNIT,), (0,)), ("polygamma", (np.full(5, 2), POS), (1,)),
    ("gammainc", (POS, BIG), (1,)), ("gammaincc", (POS, BIG), (1,)),
    ("betainc", (POS, BIG, UNIT), (2,)), ("zeta", (BIG, POS), (1,)), ("beta", (POS, BIG), (0, 1)),
    ("betaln", (POS, BIG), (0, 1)), ("xlogy", (REAL, POS), (0, 1)),
    ("xlog1py", (REAL, UNIT), (0, 1)), ("multigammaln", (BIG + 2, 3), (0,)),
]


def _fns(name):
    return getattr(fsp, name), getattr(jsp, name)


@pytest.mark.parametrize("name,args,diff", SPECS, ids=[s[0] for s in SPECS])
def test_values_and_derivatives_match_jax(name, args, diff):
    f, jf = _fns(name)
    np.testing.assert_allclose(f(*args), jf(*args), rtol=1e-8, atol=1e-12)
    for i in diff:
        def g(x, f=f):  # d/dx_i of the sum, and its second derivative
            return fnp.sum(f(*args[:i], x, *args[i + 1:]))

        def jg(x, jf=jf):
            return jax.numpy.sum(jf(*args[:i], x, *args[i + 1:]))
        np.testing.assert_allclose(fg.grad(g)(args[i]), jax.grad(jg)(args[i]), rtol=1e-7,
                                   atol=1e-10, err_msg=f"{name} grad in arg {i}")
        hess = fg.grad(lambda x, g=g: fnp.sum(fg.grad(g)(x)))(args[i])
        jhess = jax.grad(lambda x, jg=jg: jax.numpy.sum(jax.grad(jg)(x)))(args[i])
        np.testing.assert_allclose(hess, jhess, rtol=1e-6, atol=1e-9,
                                   err_msg=f"{name} second derivative in arg {i}")


@pytest.mark.parametrize("name,args,diff", SPECS, ids=[s[0] for s in SPECS])
def test_vmap_and_jit_match_eager(name, args, diff):
    f = getattr(fsp, name)
    eager = f(*args)
    arr = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def one(*xs):
        full = list(args)
        for i, x in zip(arr, xs):
            full[i] = x
        return f(*full)
    np.testing.assert_allclose(fg.vmap(one)(*[args[i] for i in arr]), eager, rtol=1e-12)
    np.testing.assert_allclose(fg.jit(one)(*[args[i] for i in arr]), eager, rtol=1e-12)


@pytest.mark.parametrize("name", ["j0", "j1", "y0", "y1", "i1", "i1e"])
def test_bessel_against_scipy_and_finite_differences(name):
    x = POS + 0.3
    f = getattr(fsp, name)
    np.testing.assert_allclose(f(x), getattr(sp, name)(x), rtol=1e-12)
    fg.testing.check_grads(f, (x,), order=2)


@pytest.mark.parametrize("name", ["i1", "i1e", "j1"])
def test_first_order_bessel_derivative_at_zero_is_one_half(name):
    assert np.isclose(fg.grad(getattr(fsp, name))(0.0), 0.5)


def test_float32_stays_float32_and_integers_promote():
    x = np.linspace(0.5, 3, 4, dtype=np.float32)
    assert fsp.gammaln(x).dtype == np.float32
    assert fsp.erf(fg.jit(lambda v: v)(x)).dtype == np.float32
    assert fsp.gammaln(np.arange(1, 4)).dtype == np.float64
    np.testing.assert_allclose(fsp.gammaln(np.arange(1, 4)), sp.gammaln([1.0, 2.0, 3.0]))


def test_erfcinv_psi_rgamma_and_riemann_zeta():
    np.testing.assert_allclose(fsp.erfcinv(UNIT), sp.erfcinv(UNIT), rtol=1e-10)
    np.testing.assert_allclose(fsp.psi(POS), sp.psi(POS))
    np.testing.assert_allclose(fsp.rgamma(REAL), sp.rgamma(REAL), rtol=1e-10)
    np.testing.assert_allclose(fsp.zeta(BIG), sp.zeta(BIG), rtol=1e-10)
    fg.testing.check_grads(fsp.erfcinv, (UNIT,), order=2)


def test_xlogy_is_zero_where_x_is_zero():
    assert fsp.xlogy(0.0, 0.0) == 0.0 and fsp.xlog1py(0.0, -1.0) == 0.0
    assert fsp.entr(0.0) == 0.0 and fsp.entr(-1.0) == -np.inf


@pytest.mark.parametrize("kw", [{}, {"axis": 1}, {"axis": 0, "keepdims": True},
                                {"axis": 1, "b": np.array([1.0, 2.0, 0.5])},
                                {"axis": 1, "b": np.array([1.0, -2.0, 0.5]), "return_sign": True}])
def test_logsumexp_matches_jax(kw):
    a = R.normal(size=(4, 3))
    got, want = fsp.logsumexp(a, **kw), jsp.logsumexp(a, **kw)
    for g, w in (zip(got, want) if kw.get("return_sign") else [(got, want)]):
        np.testing.assert_allclose(g, w, rtol=1e-10)
    first = (lambda t: t[0]) if kw.get("return_sign") else (lambda t: t)
    g = fg.grad(lambda a: fnp.sum(first(fsp.logsumexp(a, **kw))))(a)
    jg = jax.grad(lambda a: jax.numpy.sum(first(jsp.logsumexp(a, **kw))))(a)
    np.testing.assert_allclose(g, jg, rtol=1e-8)


def test_softmax_and_log_softmax_match_jax():
    a = R.normal(size=(3, 4)) * 30
    for name in ("softmax", "log_softmax"):
        f, jf = _fns(name)
        np.testing.assert_allclose(f(a, axis=0), jf(a, axis=0), rtol=1e-10, atol=1e-12)
        w = R.normal(size=(3, 4))
        g = fg.grad(lambda a, f=f: fnp.sum(f(a) * w))(a)
        np.testing.assert_allclose(g, jax.grad(lambda a, jf=jf: jax.numpy.sum(jf(a) * w))(a),
                                   rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name,arg", [("iv", 0), ("yn", 0), ("polygamma", 0)])
def test_derivative_without_closed_form_is_a_teaching_error(name, arg):
    # gammainc in `a` and betainc in `a`, `b` are differentiable now: test_scipy_more.py
    args = {"iv": (1.0, 2.0), "yn": (1.0, 2.0), "polygamma": (1.0, 2.0)}[name]
    f = getattr(fsp, name)
    with pytest.raises(FuncgradError, match="derivative in .*stop_gradient"):
        fg.grad(lambda x: f(*args[:arg], x, *args[arg + 1:]))(args[arg])


def test_missing_scipy_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    with pytest.raises(FuncgradError, match=r"pip install funcgrad\[scipy\]"):
        fsp.gammaln(np.ones(2))


def test_zeta_derivative_in_x_matches_jax():
    # JAX differentiates its Euler-Maclaurin sum; funcgrad the same sum, term by term
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.special as js
    x, q = np.array([1.3, 1.5, 2.0, 3.7, 10.0]), np.array([5.0, 0.3, 1.5, 2.0, 0.9])
    f = fsp.zeta
    np.testing.assert_allclose(fg.vmap(fg.grad(f))(x, q), jax.vmap(jax.grad(js.zeta))(x, q),
                               rtol=1e-12)
    # d/dq d/dx, and jit
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.grad(fg.grad(f), 1)))(x, q),
                               jax.vmap(jax.grad(jax.grad(js.zeta), 1))(x, q), rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(fg.grad(fg.grad(f)))(x, q),
                               jax.vmap(jax.grad(jax.grad(js.zeta)))(x, q), rtol=1e-10)
    fg.testing.check_grads(f, (x, q), order=2)
    with pytest.raises(FuncgradError, match="third derivatives in `x`"):
        fg.grad(fg.grad(fg.grad(f)))(2.0, 1.5)
