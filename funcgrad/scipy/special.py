"""`funcgrad.scipy.special`: special functions like `scipy.special` / `jax.scipy.special`.

The elementwise functions SciPy computes (gammaln, digamma, erf, Bessel, incomplete gamma and
beta, zeta, ...) are primitives (`funcgrad.primitives.special`) whose CPU impls are SciPy's, so
they need the extra `pip install funcgrad[scipy]`; the rest are composed of them here. Every
function broadcasts its arguments, promotes integers to float and is differentiable (to any
order) in every argument where the derivative has a closed form.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from .. import numpy as fnp
from .. import primitives as prims
from ..numpy._base import _promote


def _special(name, params, doc):
    """The primitive `name` as a function of the arguments `params` (SciPy's and JAX's names)."""
    sig = inspect.Signature([inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                             for p in params.split()])

    def f(*args, **kwargs):
        xs = sig.bind(*args, **kwargs).args
        return prims.special_op(name, *_promote(name, *xs, to_float=True))
    f.__name__ = f.__qualname__ = name
    f.__signature__ = sig
    f.__doc__ = f"{doc}, like `scipy.special.{name}` (computed by SciPy)."
    return f


gammaln = _special("gammaln", "x", "`log|Gamma(x)|`")
digamma = psi = _special("digamma", "x", "The digamma function `d/dx gammaln(x)`")
polygamma = _special("polygamma", "n x", "`polygamma(n, x)`, the n-th derivative of digamma")
erf = _special("erf", "x", "The error function")
erfc = _special("erfc", "x", "The complementary error function `1 - erf(x)`")
erfinv = _special("erfinv", "x", "The inverse of erf")
ndtri = _special("ndtri", "p", "The inverse of the standard normal CDF")
_log_ndtr = _special("log_ndtr", "x", "The log of the standard normal CDF")
gammainc = _special("gammainc", "a x", "The regularized lower incomplete gamma `P(a, x)`")
gammaincc = _special("gammaincc", "a x", "The regularized upper incomplete gamma `Q(a, x)`")
betainc = _special("betainc", "a b x", "The regularized incomplete beta `I_x(a, b)`")
i0, i0e = _special("i0", "x", "The modified Bessel `I_0`"), _special("i0e", "x",
                                                                   "`exp(-|x|) I_0(x)`")
i1, i1e = _special("i1", "x", "The modified Bessel `I_1`"), _special("i1e", "x",
                                                                   "`exp(-|x|) I_1(x)`")
j0, j1 = _special("j0", "x", "The Bessel `J_0`"), _special("j1", "x", "The Bessel `J_1`")
y0, y1 = _special("y0", "x", "The Bessel `Y_0`"), _special("y1", "x", "The Bessel `Y_1`")
_hurwitz = _special("zeta", "x q", "The Hurwitz zeta function")


def log_ndtr(x, series_order=3):
    """The log of the standard normal CDF, like `scipy.special.log_ndtr` (computed by SciPy to
    full precision; `series_order`, JAX's asymptotic-series length, is accepted and unused)."""
    return _log_ndtr(x)


def zeta(x, q=None):
    """The Hurwitz zeta `sum_k (k + q)^-x` (Riemann's for q=None), like `scipy.special.zeta`;
    differentiable in q."""
    return _hurwitz(x, 1.0 if q is None else q)


def gammasgn(x):
    """The sign of Gamma(x): 1 for x > 0, else (-1)^ceil(-x)."""
    (x,) = _promote("gammasgn", x, to_float=True)
    odd = fnp.equal(fnp.mod(fnp.floor(x), 2.0), 1.0)
    return fnp.where(fnp.logical_and(fnp.less(x, 0.0), odd), -1.0, 1.0).astype(x.dtype)


def gamma(x):
    """The gamma function, `gammasgn(x) * exp(gammaln(x))`."""
    return gammasgn(x) * fnp.exp(gammaln(x))


def rgamma(x):
    """`1 / gamma(x)` (zero at the poles)."""
    return gammasgn(x) * fnp.exp(-gammaln(x))


def betaln(a, b):
    """`log|B(a, b)|`."""
    return gammaln(a) + gammaln(b) - gammaln(fnp.add(a, b))


def beta(a, b):
    """The beta function `Gamma(a) Gamma(b) / Gamma(a + b)`."""
    sgn = gammasgn(a) * gammasgn(b) * gammasgn(fnp.add(a, b))
    return sgn * fnp.exp(betaln(a, b))


def multigammaln(a, d):
    """The log of the multivariate gamma function of dimension `d` (an int)."""
    d = int(d)
    out = d * (d - 1) / 4 * math.log(math.pi)
    return out + sum(gammaln(fnp.subtract(a, j / 2)) for j in range(d))


def expit(x):
    """The logistic sigmoid `1 / (1 + exp(-x))`."""
    return fnp.logistic(x)


def logit(x):
    """`log(x / (1 - x))`, the inverse of expit."""
    return fnp.log(x) - fnp.log1p(fnp.negative(x))


def ndtr(x):
    """The standard normal CDF."""
    (x,) = _promote("ndtr", x, to_float=True)
    return 0.5 * erfc(x * -math.sqrt(0.5))


def erfcinv(x):
    """The inverse of erfc."""
    return ndtri(fnp.multiply(x, 0.5)) * -math.sqrt(0.5)


def _safe_x_log(log_fn, x, y):
    x, y = _promote("xlogy", x, y, to_float=True)
    zero = fnp.equal(x, 0.0)
    return fnp.where(zero, 0.0, x * log_fn(fnp.where(zero, 1.0, y)))


def xlogy(x, y):
    """`x * log(y)`, 0 where x == 0."""
    return _safe_x_log(fnp.log, x, y)


def xlog1py(x, y):
    """`x * log1p(y)`, 0 where x == 0."""
    return _safe_x_log(fnp.log1p, x, y)


def entr(x):
    """`-x log x` for x > 0, 0 at 0, -inf for x < 0."""
    (x,) = _promote("entr", x, to_float=True)
    return fnp.where(fnp.less(x, 0.0), -np.inf, -xlogy(x, x))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """`log(sum(b * exp(a)))`, shifted by the (gradient-stopped) max so it never overflows, like
    `scipy.special.logsumexp`; `return_sign=True` returns `(log|s|, sign(s))`; `where` (a
    boolean mask, as in JAX) leaves the masked-out entries out of the sum."""
    if where is not None:
        a = fnp.where(where, a, -np.inf)
    if b is not None:
        a, b = fnp.broadcast_arrays(*_promote("logsumexp", a, b, to_float=True))
        a = fnp.where(fnp.not_equal(b, 0.0), a, -np.inf)
    m = fnp.stop_gradient(fnp.max(a, axis=axis, keepdims=True))
    m = fnp.where(fnp.isfinite(m), m, 0.0)
    e = fnp.exp(fnp.subtract(a, m))
    s = fnp.sum(e if b is None else e * b, axis=axis, keepdims=True)
    sgn = fnp.sign(s)
    out = fnp.log(fnp.abs(s) if return_sign else s) + m
    if not keepdims:
        out, sgn = fnp.squeeze(out, axis=axis), fnp.squeeze(sgn, axis=axis)
    return (out, fnp.stop_gradient(sgn)) if return_sign else out


def log_softmax(x, axis=None):
    """`x - logsumexp(x, axis, keepdims=True)`."""
    return fnp.subtract(x, logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=None):
    """`exp(x) / sum(exp(x), axis)`, shifted by the max."""
    e = fnp.exp(fnp.subtract(x, fnp.stop_gradient(fnp.max(x, axis=axis, keepdims=True))))
    return e / fnp.sum(e, axis=axis, keepdims=True)


# --- Bessel functions of any order (issue 14): orders are not differentiable ------------------
iv = _special("iv", "v x", "The modified Bessel function `I_v(x)` of real order v")
ive = _special("ive", "v x", "`exp(-|x|) I_v(x)`")
jv = jn = _special("jv", "v x", "The Bessel function `J_v(x)` of real order v (alias `jn`)")
yn = _special("yn", "n x", "The Bessel function `Y_n(x)` of integer order n")
