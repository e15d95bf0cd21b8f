"""Special functions (gammaln, digamma, erf, Bessel, incomplete gamma/beta, zeta, ...).

The CPU impls are `scipy.special`'s ufuncs (SciPy is the optional extra `funcgrad[scipy]`,
imported on first use by `rules.scipy_module`), the GPU impls `cupyx.scipy.special`'s. Every
primitive is elementwise over operands of one shape and dtype (`funcgrad.scipy.special`
broadcasts and promotes), batches by broadcasting and has a jvp in every argument where the
derivative is known in closed form; the others raise a teaching error when differentiated.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import cupy_backend, device_of, is_gpu_array, to_numpy
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, FuncgradError, user_frame
from .batching import broadcasting_batcher
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import (
    binop_abstract_eval_for,
    defjvp,
    full_like,
    same_shape_dtype,
    scipy_module,
    unop_abstract_eval,
    xp_of,
)


def _impl_for(name):
    def impl(*xs):
        dev = next((device_of(x) for x in xs if is_gpu_array(x)), None)
        fn = None if dev is None else getattr(cupy_backend.special_module(), name, None)
        if fn is None:  # SciPy: on the CPU, or for what cupyx.scipy.special lacks (iv, ive, jv)
            fn = getattr(scipy_module("special", "the special functions"), name)
            out = fn(*[to_numpy(x) for x in xs]) if dev else fn(*xs)
            out = cupy_backend.to_device(out, dev.index) if dev else out
        else:  # cupyx.scipy.special; host operands (a promoted order or constant) join the
            # device operand's device, since CuPy refuses host arrays
            out = fn(*[cupy_backend.to_device(x, dev.index) if isinstance(x, np.ndarray) else x
                       for x in xs])
        dt = getattr(xs[-1], "dtype", None)
        return out if dt is None else out.astype(dt, copy=False)
    return impl


def _abstract_eval_for(name, arity):
    if arity < 3:
        return unop_abstract_eval if arity == 1 else binop_abstract_eval_for(name)

    def abstract_eval(*avals, **_):
        same_shape_dtype(name, *avals)
        return [avals[-1]]
    return abstract_eval


_C = {"gammaln": "lgamma({0})", "erf": "erf({0})", "erfc": "erfc({0})"}
for _name, _prim in SPECIAL_PRIMS.items():
    _prim.impl = _impl_for(_name)
    _prim.abstract_eval = _abstract_eval_for(_name, SPECIAL_ARITY[_name])
    _prim.batch = broadcasting_batcher(_prim)
    _prim.transpose = NOT_APPLICABLE
    register_c_expr(_prim, _C.get(_name, NOT_APPLICABLE))


def _c(v, x):  # a constant shaped like x
    return full_like(x, v)


def _no_grad(name, arg, why="it is not implemented (it has no closed form)"):
    def fn(*_, **__):
        raise FuncgradError(
            f"{name}: no derivative in `{arg}`: {why}; differentiate only in the other "
            f"arguments, or wrap `{arg}` in fg.lax.stop_gradient, at {user_frame()}")
    return fn


def _over_x(ans_over_x):
    """`f(ans, x) - ans / x` style derivatives (i1, j1, y1, i1e) with the limit 1/2 at x = 0."""
    def fn(t, ans, x):
        zero = eq(x, _c(0, x))
        safe = select(zero, _c(1, x), x)
        return mul(t, select(zero, _c(0.5, x), ans_over_x(ans, x, safe)))
    return fn


_s = special_op
_SQRT_PI, _SQRT_2PI = math.sqrt(math.pi), math.sqrt(2 * math.pi)


def _gauss(x):  # exp(-x^2)
    return exp(neg(mul(x, x)))


def _lbeta(a, b):
    return sub(add(_s("gammaln", a), _s("gammaln", b)), _s("gammaln", add(a, b)))


def _dgammainc_dx(a, x):  # x^(a-1) e^-x / Gamma(a)
    return exp(sub(sub(mul(sub(a, _c(1, a)), log(x)), x), _s("gammaln", a)))


defjvp(gammaln_p, lambda t, ans, x: mul(t, _s("digamma", x)))
defjvp(digamma_p, lambda t, ans, x: mul(t, _s("polygamma", _c(1, x), x)))
defjvp(polygamma_p, _no_grad("polygamma", "n"),
       lambda t, ans, n, x: mul(t, _s("polygamma", add(n, _c(1, n)), x)))
defjvp(erf_p, lambda t, ans, x: mul(t, mul(_c(2 / _SQRT_PI, x), _gauss(x))))
defjvp(erfc_p, lambda t, ans, x: mul(t, mul(_c(-2 / _SQRT_PI, x), _gauss(x))))
defjvp(erfinv_p, lambda t, ans, x: mul(t, mul(_c(_SQRT_PI / 2, x), exp(mul(ans, ans)))))
defjvp(ndtri_p, lambda t, ans, x: mul(t, mul(_c(_SQRT_2PI, x), exp(mul(_c(0.5, x),
                                                                         mul(ans, ans))))))
defjvp(log_ndtr_p, lambda t, ans, x: mul(t, mul(_c(1 / _SQRT_2PI, x), exp(
    sub(mul(_c(-0.5, x), mul(x, x)), ans)))))
defjvp(gammainc_p, lambda t, ans, a, x: mul(t, igamma_grad_a_p.bind1(a, x, order=1)),
       lambda t, ans, a, x: mul(t, _dgammainc_dx(a, x)))
defjvp(gammaincc_p, lambda t, ans, a, x: neg(mul(t, igamma_grad_a_p.bind1(a, x, order=1))),
       lambda t, ans, a, x: neg(mul(t, _dgammainc_dx(a, x))))
defjvp(betainc_p, *(lambda t, ans, a, b, x, i=i: _betainc_moment_d(i, t, ans, a, b, x, p=0, q=0)
                   for i in range(3)))
defjvp(i0_p, lambda t, ans, x: mul(t, _s("i1", x)))
defjvp(i0e_p, lambda t, ans, x: mul(t, sub(_s("i1e", x), mul(sign(x), ans))))
defjvp(i1_p, _over_x(lambda ans, x, s: sub(_s("i0", x), div(ans, s))))
defjvp(i1e_p, _over_x(lambda ans, x, s: sub(_s("i0e", x),
                                            mul(ans, add(sign(x), div(_c(1, x), s))))))
defjvp(j0_p, lambda t, ans, x: neg(mul(t, _s("j1", x))))
defjvp(j1_p, _over_x(lambda ans, x, s: sub(_s("j0", x), div(ans, s))))
defjvp(y0_p, lambda t, ans, x: neg(mul(t, _s("y1", x))))
defjvp(y1_p, lambda t, ans, x: mul(t, sub(_s("y0", x), div(ans, x))))
defjvp(zeta_p, lambda t, ans, x, q: mul(t, zeta_grad_x_p.bind1(x, q, order=1)),
       lambda t, ans, x, q: mul(t, neg(mul(x, _s("zeta", add(x, _c(1, x)), q)))))


# --- Bessel functions of any order, d/da of the incomplete gamma (issue 14) --------------------
# Orders are not differentiable (the derivative in the order has no closed form).
_ORDER = "the order is not differentiable (no closed form)"


def _order_pm1(prim, sign_):
    """d/dx f_v = (f_{v-1} + sign_ f_{v+1}) / 2, the recurrence of I_v (+) and J_v, Y_n (-)."""
    def fn(t, ans, v, x):
        one = _c(1, v)
        lo, hi = prim.bind1(sub(v, one), x), prim.bind1(add(v, one), x)
        return mul(t, mul(_c(0.5, x), add(lo, hi) if sign_ > 0 else sub(lo, hi)))
    return fn


defjvp(iv_p, _no_grad("iv", "v", _ORDER), _order_pm1(iv_p, 1))
defjvp(ive_p, _no_grad("ive", "v", _ORDER), lambda t, ans, v, x: sub(
    _order_pm1(ive_p, 1)(t, ans, v, x), mul(t, mul(sign(x), ans))))  # ive = iv e^-|x|
defjvp(jv_p, _no_grad("jv", "v", _ORDER), _order_pm1(jv_p, -1))
defjvp(yn_p, _no_grad("yn", "n", _ORDER), _order_pm1(yn_p, -1))


# d/da P(a, x) from the series P = sum_k T_k, T_k = x^(a+k) e^-x / Gamma(a+k+1), differentiated
# term by term (order 1: sum_k T_k L_k, L_k = log x - digamma(a+k+1); order 2:
# sum_k T_k (L_k^2 - polygamma(1, a+k+1))); SciPy's gammaln, digamma, polygamma give the terms.
# Enough terms that T_k (ratio x / (a+k+1)) falls below double precision; for x in the thousands
# the sum is slow but exact, and its absolute error is that of P (about 1e-16 log x).

def _igamma_grad_a(a, x, *, order):
    xp = xp_of(a)
    a, x = xp.asarray(a), xp.asarray(x)
    mod = scipy_module("special", "the special functions") if xp is np else \
        cupy_backend.special_module()
    top = float(xp.max(x)) if x.size else 0.0
    k = xp.arange(int(top + 10 * math.sqrt(top) + 60), dtype=a.dtype)
    ak = a[..., None] + k + 1
    lx = xp.log(xp.where(x > 0, x, 1))[..., None]
    lk = lx - mod.digamma(ak)
    terms = xp.exp((ak - 1) * lx - x[..., None] - mod.gammaln(ak)) * (
        lk if order == 1 else lk * lk - mod.polygamma(1, ak))
    return xp.where(x > 0, terms.sum(-1), 0).astype(a.dtype, copy=False)


def _igamma_grad_a_dx(t, ans, a, x, *, order):  # d/dx of d^n/da^n P = d^n/da^n of dP/dx
    la = sub(log(x), _s("digamma", a))
    f = la if order == 1 else sub(mul(la, la), _s("polygamma", _c(1, a), a))
    return mul(t, mul(_dgammainc_dx(a, x), f))


def _igamma_grad_a_da(t, ans, a, x, *, order):
    if order == 2:
        _no_grad("gammainc", "a", "third derivatives in `a` are not implemented")()
    return mul(t, igamma_grad_a_p.bind1(a, x, order=2))


def _series_prim(prim, impl, arity=2):  # the rules of the derivative helpers below
    prim.impl, prim.abstract_eval = impl, _abstract_eval_for(prim.name, arity)
    prim.batch, prim.transpose = broadcasting_batcher(prim), NOT_APPLICABLE
    register_c_expr(prim, NOT_APPLICABLE)


_series_prim(igamma_grad_a_p, _igamma_grad_a)
defjvp(igamma_grad_a_p, _igamma_grad_a_da, _igamma_grad_a_dx)


# betainc in a and b: with K_pq = int_0^x log(t)^p log(1-t)^q t^(a-1) (1-t)^(b-1) dt / B(a, b)
# (betainc = K_00), dK_pq/da = K_(p+1)q - K_pq (digamma(a) - digamma(a+b)), dK_pq/db likewise
# with q + 1 and digamma(b), dK_pq/dx = the integrand at x: derivatives of every order. The
# K_pq with p + q > 0 are integrals SciPy evaluates (scipy.integrate.quad, per element, on the
# host: accurate to about 1e-10, and slow for large arrays).

def _betainc_moment(a, b, x, *, p, q):
    quad = scipy_module("integrate", "the derivatives of betainc in a and b").quad
    lbeta = scipy_module("special", "the special functions").betaln
    xp = xp_of(a)
    dt = np.dtype(getattr(a, "dtype", np.float64))
    a, b, x = (np.asarray(to_numpy(v), np.float64) for v in (a, b, x))

    def one(a, b, x):
        if not 0 < x <= 1:
            return 0.0 if x == 0 else np.nan
        lb = lbeta(a, b)
        return quad(lambda t: np.log(t) ** p * np.log1p(-t) ** q * np.exp(
            (a - 1) * np.log(t) + (b - 1) * np.log1p(-t) - lb), 0, x, epsabs=1e-13,
            epsrel=1e-11, limit=200)[0]
    return xp.asarray(np.vectorize(one, otypes=[np.float64])(a, b, x).astype(dt))


def _betainc_moment_d(i, t, ans, a, b, x, *, p, q):
    """The jvp of K_pq (betainc for p = q = 0) in argument i (a, b, x)."""
    if i == 2:
        lx, l1x = log(x), log1p_p.bind1(neg(x))
        f = exp(sub(add(mul(sub(a, _c(1, a)), lx), mul(sub(b, _c(1, b)), l1x)), _lbeta(a, b)))
        for factor in [lx] * p + [l1x] * q:
            f = mul(f, factor)
        return mul(t, f)
    up = betainc_moment_p.bind1(a, b, x, p=p + (i == 0), q=q + (i == 1))
    dig = sub(_s("digamma", a if i == 0 else b), _s("digamma", add(a, b)))
    return mul(t, sub(up, mul(ans, dig)))


_series_prim(betainc_moment_p, _betainc_moment, 3)
defjvp(betainc_moment_p, *(lambda t, ans, a, b, x, i=i, **pq: _betainc_moment_d(i, t, ans, a, b,
                                                                                 x, **pq)
                           for i in range(3)))


# d/dx zeta(x, q) (no closed form): the Euler-Maclaurin sum zeta = sum_{k<N} (q+k)^-x
# + (q+N)^(1-x) / (x-1) + (q+N)^-x P, P = 1/2 + sum_j c_j, c_j = B_2j / (2j)! (x)_(2j-1) /
# (q+N)^(2j-1), the form JAX differentiates, differentiated term by term once or twice (order;
# N = M = 16; Bernoulli numbers by SciPy). In q: d/dq d^n/dx^n zeta = d^n/dx^n (-x zeta(x+1, q)).

def _zeta_grad_x(x, q, *, order):
    xp, n = xp_of(x), 16
    b = scipy_module("special", "the special functions").bernoulli(2 * n)[2::2]
    s, a = xp.asarray(x, np.float64)[..., None], xp.asarray(q, np.float64)[..., None]
    la = xp.log(a + xp.arange(n))
    head = ((-la) ** order * xp.exp(-s * la)).sum(-1)
    si, ln = s + xp.arange(2 * n - 1), xp.log(a[..., 0] + n)
    s, a, e = s[..., 0], a + n, xp.exp(-s[..., 0] * ln)
    u = s - 1
    c = xp.asarray(b / [math.factorial(2 * j + 2) for j in range(n)]) * xp.cumprod(
        si / a, -1)[..., ::2]  # c_j; c_j' = c_j S1_j, c_j'' = c_j (S1_j^2 - S2_j)
    s1, s2 = xp.cumsum(1 / si, -1)[..., ::2], xp.cumsum(si ** -2.0, -1)[..., ::2]
    p, dp = 0.5 + c.sum(-1), (c * s1).sum(-1)
    if order == 1:
        out = head - e * xp.exp(ln) * (ln / u + 1 / u ** 2) + e * (dp - ln * p)
    else:
        out = head + e * xp.exp(ln) * (ln * ln / u + 2 * ln / u ** 2 + 2 / u ** 3) + e * (
            ln * ln * p - 2 * ln * dp + (c * (s1 * s1 - s2)).sum(-1))
    return out.astype(getattr(x, "dtype", np.float64), copy=False)


def _zeta_grad_x_dx(t, ans, x, q, *, order):
    if order == 2:
        _no_grad("zeta", "x", "third derivatives in `x` are not implemented")()
    return mul(t, zeta_grad_x_p.bind1(x, q, order=2))


_series_prim(zeta_grad_x_p, _zeta_grad_x)
defjvp(zeta_grad_x_p, _zeta_grad_x_dx, lambda t, ans, x, q, *, order: neg(mul(t, add(
    _s("zeta", add(x, _c(1, x)), q) if order == 1 else mul(_c(2, x), zeta_grad_x_p.bind1(
        add(x, _c(1, x)), q, order=1)), mul(x, zeta_grad_x_p.bind1(add(x, _c(1, x)), q,
                                                                    order=order))))))
