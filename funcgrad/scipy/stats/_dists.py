"""The distributions of `funcgrad.scipy.stats`: each a `_Dist` namespace built from its logpdf
(or logpmf) and, where it has one, its cdf, sf and ppf; the missing functions are derived
(pdf = exp(logpdf), sf = 1 - cdf, logcdf = log(cdf), ...)."""
from __future__ import annotations

import inspect
import math

import numpy as np

from ... import numpy as fnp
from ...numpy._base import _promote
from ..linalg import solve_triangular
from ..special import (
    betainc,
    betaln,
    expit,
    gammainc,
    gammaincc,
    gammaln,
    log_ndtr,
    logit,
    ndtr,
    ndtri,
    xlog1py,
    xlogy,
)


class _Dist:
    """A distribution's functions as attributes (like the modules of `jax.scipy.stats`)."""

    def __init__(self, name, logpdf, cdf=None, sf=None, ppf=None, logcdf=None, logsf=None,
                 discrete=False):
        self.__name__ = name
        log = "logpmf" if discrete else "logpdf"
        fns = {log: logpdf, log[3:]: lambda *a, **k: fnp.exp(logpdf(*a, **k))}
        if cdf is not None:
            sf = sf or (lambda *a, **k: 1.0 - cdf(*a, **k))
            fns.update(cdf=cdf, sf=sf, logcdf=logcdf or (lambda *a, **k: fnp.log(cdf(*a, **k))),
                       logsf=logsf or (lambda *a, **k: fnp.log(sf(*a, **k))))
        if ppf is not None:
            fns["ppf"] = ppf
        for fn_name, fn in fns.items():
            if fn.__name__ == "<lambda>" and fn_name != "ppf":  # derived: its source's arguments
                fn.__signature__ = inspect.signature(cdf if "cdf" in fn_name or "sf" in fn_name
                                                     else logpdf)
            fn.__name__ = fn.__qualname__ = fn_name
            fn.__doc__ = fn.__doc__ or f"`{name}.{fn_name}`, like `scipy.stats.{name}.{fn_name}`."
            setattr(self, fn_name, fn)

    def __repr__(self):
        return f"<funcgrad.scipy.stats.{self.__name__}>"


def _std(x, loc, scale, *params):
    """(x - loc) / scale, log(scale) and the shape parameters, all in the common float dtype."""
    x, loc, scale, *params = _promote("stats", x, loc, scale, *params, to_float=True)
    return ((x - loc) / scale, fnp.log(scale), *params)


def _inside(cond, value, outside=-np.inf):
    return fnp.where(cond, value, outside)


# --- continuous, location-scale ---------------------------------------------------------------
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _norm_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    return -0.5 * y * y - ls - _LOG_SQRT_2PI


def _on_std(fn):  # fn(y) of the standardised argument
    return lambda x, loc=0.0, scale=1.0: fn(_std(x, loc, scale)[0])


def _norm_ppf(q, loc=0.0, scale=1.0):
    return fnp.add(loc, fnp.multiply(scale, ndtri(q)))


norm = _Dist("norm", _norm_logpdf, cdf=_on_std(ndtr), sf=_on_std(lambda y: ndtr(-y)),
             logcdf=_on_std(log_ndtr), logsf=_on_std(lambda y: log_ndtr(-y)), ppf=_norm_ppf)


def _t_logpdf(x, df, loc=0.0, scale=1.0):
    y, ls, df = _std(x, loc, scale, df)
    half = (df + 1.0) / 2.0
    return (gammaln(half) - gammaln(df / 2.0) - 0.5 * fnp.log(df * math.pi) - ls
            - half * fnp.log1p(y * y / df))


def _t_cdf(x, df, loc=0.0, scale=1.0):
    y, _, df = _std(x, loc, scale, df)
    tail = 0.5 * betainc(fnp.multiply(df, 0.5), 0.5, df / (df + y * y))
    return fnp.where(y > 0, 1.0 - tail, tail)


t = _Dist("t", _t_logpdf, cdf=_t_cdf, sf=lambda x, df, loc=0.0, scale=1.0: _t_cdf(
    fnp.negative(x), df, fnp.negative(loc), scale))


def _gamma_logpdf(x, a, loc=0.0, scale=1.0):
    y, ls, a = _std(x, loc, scale, a)
    return _inside(y >= 0, xlogy(a - 1.0, y) - y - gammaln(a) - ls)


def _gamma_cdf(x, a, loc=0.0, scale=1.0):
    y, _, a = _std(x, loc, scale, a)
    return gammainc(a, fnp.maximum(y, 0.0))


def _gamma_sf(x, a, loc=0.0, scale=1.0):
    y, _, a = _std(x, loc, scale, a)
    return gammaincc(a, fnp.maximum(y, 0.0))


gamma = _Dist("gamma", _gamma_logpdf, cdf=_gamma_cdf, sf=_gamma_sf)
chi2 = _Dist("chi2", lambda x, df, loc=0.0, scale=1.0: _gamma_logpdf(
                 x, fnp.multiply(df, 0.5), loc, fnp.multiply(scale, 2.0)),
             cdf=lambda x, df, loc=0.0, scale=1.0: _gamma_cdf(
                 x, fnp.multiply(df, 0.5), loc, fnp.multiply(scale, 2.0)),
             sf=lambda x, df, loc=0.0, scale=1.0: _gamma_sf(
                 x, fnp.multiply(df, 0.5), loc, fnp.multiply(scale, 2.0)))


def _beta_logpdf(x, a, b, loc=0.0, scale=1.0):
    y, ls, a, b = _std(x, loc, scale, a, b)
    out = xlogy(a - 1.0, y) + xlog1py(b - 1.0, -y) - betaln(a, b) - ls
    return _inside(fnp.logical_and(y >= 0, y <= 1), out)


def _beta_cdf(x, a, b, loc=0.0, scale=1.0):
    y, _, a, b = _std(x, loc, scale, a, b)
    return betainc(a, b, fnp.clip(y, 0.0, 1.0))


beta = _Dist("beta", _beta_logpdf, cdf=_beta_cdf, sf=lambda x, a, b, loc=0.0, scale=1.0: betainc(
    b, a, fnp.clip(1.0 - _std(x, loc, scale)[0], 0.0, 1.0)))


def _expon_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    return _inside(y >= 0, -y - ls)


expon = _Dist("expon", _expon_logpdf,
              cdf=_on_std(lambda y: fnp.where(y >= 0, -fnp.expm1(-y), 0.0)),
              logsf=_on_std(lambda y: fnp.where(y >= 0, -y, 0.0)),
              ppf=lambda q, loc=0.0, scale=1.0: fnp.add(loc, fnp.multiply(
                  scale, -fnp.log1p(fnp.negative(q)))))


def _laplace_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    return -fnp.abs(y) - ls - math.log(2.0)


laplace = _Dist("laplace", _laplace_logpdf, cdf=_on_std(
    lambda y: fnp.where(y < 0, 0.5 * fnp.exp(fnp.minimum(y, 0.0)),
                        1.0 - 0.5 * fnp.exp(-fnp.maximum(y, 0.0)))))


def _logistic_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    a = fnp.abs(y)
    return -a - 2.0 * fnp.log1p(fnp.exp(-a)) - ls


logistic = _Dist("logistic", _logistic_logpdf, cdf=_on_std(expit), sf=_on_std(lambda y: expit(-y)),
                 ppf=lambda q, loc=0.0, scale=1.0: fnp.add(loc, fnp.multiply(scale, logit(q))))


def _uniform_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    return _inside(fnp.logical_and(y >= 0, y <= 1), -ls)


uniform = _Dist("uniform", _uniform_logpdf, cdf=_on_std(lambda y: fnp.clip(y, 0.0, 1.0)),
                ppf=lambda q, loc=0.0, scale=1.0: fnp.add(loc, fnp.multiply(scale, q)))


def _cauchy_logpdf(x, loc=0.0, scale=1.0):
    y, ls = _std(x, loc, scale)
    return -math.log(math.pi) - ls - fnp.log1p(y * y)


cauchy = _Dist("cauchy", _cauchy_logpdf, cdf=_on_std(lambda y: 0.5 + fnp.arctan(y) / math.pi),
               sf=_on_std(lambda y: 0.5 - fnp.arctan(y) / math.pi),
               ppf=lambda q, loc=0.0, scale=1.0: fnp.add(loc, fnp.multiply(
                   scale, fnp.tan(math.pi * (fnp.asarray(q) - 0.5)))))


# --- discrete ---------------------------------------------------------------------------------
def _k(k, loc, *params):
    """k - loc (float) and whether it is an integer, with the parameters promoted alike."""
    k, loc, *params = _promote("stats", k, loc, *params, to_float=True)
    k = k - loc
    return k, fnp.equal(k, fnp.floor(k)), params


def _poisson_logpmf(k, mu, loc=0):
    k, whole, (mu,) = _k(k, loc, mu)
    return _inside(fnp.logical_and(whole, k >= 0), xlogy(k, mu) - gammaln(k + 1.0) - mu)


def _poisson_cdf(k, mu, loc=0):
    k, _, (mu,) = _k(k, loc, mu)
    return fnp.where(k >= 0, gammaincc(fnp.floor(fnp.maximum(k, 0.0)) + 1.0, mu), 0.0)


poisson = _Dist("poisson", _poisson_logpmf, cdf=_poisson_cdf, discrete=True)


def _bernoulli_logpmf(k, p, loc=0):
    k, _, (p,) = _k(k, loc, p)
    ok = fnp.logical_or(fnp.equal(k, 0.0), fnp.equal(k, 1.0))
    return _inside(ok, xlogy(k, p) + xlog1py(1.0 - k, -p))


def _bernoulli_cdf(k, p, loc=0):
    k, _, (p,) = _k(k, loc, p)
    return fnp.where(k < 0, 0.0, fnp.where(k < 1, 1.0 - p, 1.0))


bernoulli = _Dist("bernoulli", _bernoulli_logpmf, cdf=_bernoulli_cdf, discrete=True)


def _binom_logpmf(k, n, p, loc=0):
    k, whole, (n, p) = _k(k, loc, n, p)
    out = (gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0) + xlogy(k, p)
           + xlog1py(n - k, -p))
    return _inside(fnp.logical_and(whole, fnp.logical_and(k >= 0, k <= n)), out)


def _binom_cdf(k, n, p, loc=0):
    k, _, (n, p) = _k(k, loc, n, p)
    j = fnp.floor(fnp.clip(k, 0.0, n))
    inner = betainc(fnp.maximum(n - j, 1e-300), j + 1.0, 1.0 - p)
    return fnp.where(k < 0, 0.0, fnp.where(k >= n, 1.0, inner))


binom = _Dist("binom", _binom_logpmf, cdf=_binom_cdf, discrete=True)


def _geom_logpmf(k, p, loc=0):
    k, whole, (p,) = _k(k, loc, p)
    return _inside(fnp.logical_and(whole, k >= 1), xlog1py(k - 1.0, -p) + fnp.log(p))


def _geom_cdf(k, p, loc=0):
    k, _, (p,) = _k(k, loc, p)
    return fnp.where(k < 1, 0.0, -fnp.expm1(fnp.floor(fnp.maximum(k, 1.0)) * fnp.log1p(-p)))


geom = _Dist("geom", _geom_logpmf, cdf=_geom_cdf, discrete=True)


# --- multivariate -----------------------------------------------------------------------------
def _dirichlet_logpdf(x, alpha):
    """x: (K,) or (K, ...) points on the simplex (the first axis sums to 1); alpha: (K,)."""
    x, alpha = fnp.asarray(x), fnp.asarray(alpha)
    alpha = fnp.reshape(alpha, fnp.shape(alpha) + (1,) * (fnp.ndim(x) - fnp.ndim(alpha)))
    norm_c = fnp.sum(gammaln(alpha), axis=0) - gammaln(fnp.sum(alpha, axis=0))
    return fnp.sum(xlogy(alpha - 1.0, x), axis=0) - norm_c


dirichlet = _Dist("dirichlet", _dirichlet_logpdf)


def _mvn_logpdf(x, mean, cov, allow_singular=None):
    """x: (..., d); mean: (d,); cov: (d, d), symmetric positive definite."""
    x, mean, cov = (fnp.asarray(v, dtype=float) if not hasattr(v, "dtype") else v
                    for v in (x, mean, cov))
    chol = fnp.linalg.cholesky(cov)
    d = fnp.shape(chol)[-1]
    diff = fnp.moveaxis(fnp.reshape(x - mean, (-1, d)), 0, -1)  # (d, n)
    y = solve_triangular(chol, diff, lower=True)
    out = (-0.5 * fnp.sum(y * y, axis=0) - fnp.sum(fnp.log(fnp.diagonal(chol)))
           - d * _LOG_SQRT_2PI)
    return fnp.reshape(out, fnp.shape(x)[:-1])


multivariate_normal = _Dist("multivariate_normal", _mvn_logpdf)
