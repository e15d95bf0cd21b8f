"""funcgrad.scipy.stats against jax.scipy.stats (values and gradients in every float argument)
or, for the functions JAX lacks, against scipy.stats and finite differences; vmap and jit."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jstats = jax.scipy.stats
sstats = pytest.importorskip("scipy.stats")

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.stats as fstats  # noqa: E402

R = np.random.default_rng(1)
X = R.normal(size=4) * 1.5
POSX = R.uniform(0.2, 3.0, 4)
UNIT = R.uniform(0.1, 0.9, 4)
K = np.array([0.0, 1.0, 3.0, 5.0])
LOC, SCALE = 0.3, 1.7

# dist, functions, args, which args to differentiate (as floats)
SPECS = [
    ("norm", "logpdf pdf cdf logcdf sf logsf", (X, LOC, SCALE), (0, 1, 2)),
    ("norm", "ppf", (UNIT, LOC, SCALE), (0, 1, 2)),
    ("t", "logpdf pdf", (X, 3.5, LOC, SCALE), (0, 1, 2, 3)),
    ("gamma", "logpdf pdf", (POSX, 2.5, 0.1, SCALE), (0, 1, 2, 3)),
    ("gamma", "cdf sf logcdf logsf", (POSX, 2.5, 0.1, SCALE), (0, 2, 3)),
    ("chi2", "logpdf pdf", (POSX, 3.0, 0.1, SCALE), (0, 1, 2, 3)),
    ("chi2", "cdf sf", (POSX, 3.0, 0.1, SCALE), (0, 2, 3)),
    ("beta", "logpdf pdf", (UNIT, 2.0, 3.5), (0, 1, 2)),
    ("beta", "cdf sf logcdf logsf", (UNIT, 2.0, 3.5), (0,)),
    ("expon", "logpdf pdf cdf sf logsf", (POSX, 0.1, SCALE), (0, 1, 2)),
    ("expon", "ppf", (UNIT, 0.1, SCALE), (0, 1, 2)),
    ("laplace", "logpdf pdf cdf", (X, LOC, SCALE), (0, 1, 2)),
    ("logistic", "logpdf pdf cdf sf", (X, LOC, SCALE), (0, 1, 2)),
    ("logistic", "ppf", (UNIT, LOC, SCALE), (0, 1, 2)),
    ("uniform", "logpdf pdf", (UNIT, 0.05, 0.9), (2,)),
    ("uniform", "cdf ppf", (UNIT, 0.05, 0.9), (0, 1, 2)),
    ("cauchy", "logpdf pdf cdf sf logcdf logsf", (X, LOC, SCALE), (0, 1, 2)),
    ("cauchy", "ppf", (UNIT, LOC, SCALE), (0, 1, 2)),
    ("poisson", "logpmf pmf", (K, 2.5), (1,)),
    ("poisson", "cdf", (K, 2.5), ()),
    ("bernoulli", "logpmf pmf", (np.array([0.0, 1.0, 1.0, 0.0]), 0.3), (1,)),
    ("bernoulli", "cdf", (np.array([-1.0, 0.0, 0.5, 1.0]), 0.3), (1,)),
    ("binom", "logpmf pmf", (K, 6.0, 0.35), (1, 2)),
    ("geom", "logpmf pmf", (K + 1.0, 0.35), (1,)),
]
ROWS = [(d, f, a, i) for d, fs, a, i in SPECS for f in fs.split()]


def _oracle(dist, fn):
    jmod = getattr(jstats, dist)
    return (getattr(jmod, fn), jax) if hasattr(jmod, fn) else (None, None)


@pytest.mark.parametrize("dist,fn,args,diff", ROWS, ids=[f"{r[0]}.{r[1]}" for r in ROWS])
def test_matches_jax_or_scipy(dist, fn, args, diff):
    f = getattr(getattr(fstats, dist), fn)
    jf, _ = _oracle(dist, fn)
    want = jf(*args) if jf else getattr(getattr(sstats, dist), fn)(*args)
    np.testing.assert_allclose(f(*args), want, rtol=1e-9, atol=1e-12)
    for i in diff:
        x = np.asarray(args[i], dtype=float)

        def g(x, f=f, i=i):
            return fnp.sum(f(*args[:i], x, *args[i + 1:]))
        if jf is not None:
            want = jax.grad(lambda x: jax.numpy.sum(jf(*args[:i], x, *args[i + 1:])))(x)
            np.testing.assert_allclose(fg.grad(g)(x), want, rtol=1e-7, atol=1e-10,
                                       err_msg=f"d/d arg {i}")
        else:
            fg.testing.check_grads(g, (x,), order=1)


@pytest.mark.parametrize("fn", ["cdf", "sf", "logcdf", "logsf"])
def test_t_cdf_matches_scipy_and_finite_differences(fn):
    f = getattr(fstats.t, fn)
    np.testing.assert_allclose(f(X, 3.5, LOC, SCALE), getattr(sstats.t, fn)(X, 3.5, LOC, SCALE),
                               rtol=1e-9)
    fg.testing.check_grads(lambda x, s: f(x, 3.5, LOC, s), (X, SCALE), order=1)


@pytest.mark.parametrize("dist,args", [("binom", (K, 6.0, 0.35)), ("geom", (K + 1.0, 0.35))])
def test_discrete_cdf_matches_scipy(dist, args):
    np.testing.assert_allclose(getattr(fstats, dist).cdf(*args),
                               getattr(sstats, dist).cdf(*args), rtol=1e-9)


def test_outside_the_support_is_minus_inf_like_jax():
    np.testing.assert_array_equal(fstats.poisson.logpmf(np.array([-1.0, 1.5]), 2.0), -np.inf)
    assert fstats.beta.logpdf(1.5, 2.0, 2.0) == -np.inf and fstats.expon.logpdf(-1.0) == -np.inf
    assert fstats.binom.logpmf(7.0, 6.0, 0.3) == -np.inf and fstats.geom.logpmf(0.0, 0.3) == -np.inf


def test_dirichlet_matches_jax_and_grad_in_alpha():
    alpha = np.array([1.5, 2.0, 3.5])
    x = R.dirichlet(alpha, size=4).T  # (K, n)
    np.testing.assert_allclose(fstats.dirichlet.logpdf(x, alpha), jstats.dirichlet.logpdf(x, alpha))
    np.testing.assert_allclose(fstats.dirichlet.pdf(x[:, 0], alpha),
                               jstats.dirichlet.pdf(x[:, 0], alpha))
    g = fg.grad(lambda a: fnp.sum(fstats.dirichlet.logpdf(x, a)))(alpha)
    np.testing.assert_allclose(
        g, jax.grad(lambda a: jax.numpy.sum(jstats.dirichlet.logpdf(x, a)))(alpha), rtol=1e-8)


def test_multivariate_normal_matches_jax_with_grads_in_mean_and_cov():
    a = R.normal(size=(3, 3))
    cov, mean, x = a @ a.T + 3 * np.eye(3), R.normal(size=3), R.normal(size=(5, 3))
    np.testing.assert_allclose(fstats.multivariate_normal.logpdf(x, mean, cov),
                               jstats.multivariate_normal.logpdf(x, mean, cov), rtol=1e-10)
    np.testing.assert_allclose(fstats.multivariate_normal.pdf(x[0], mean, cov),
                               jstats.multivariate_normal.pdf(x[0], mean, cov), rtol=1e-10)
    got = fg.grad(lambda m, c: fnp.sum(fstats.multivariate_normal.logpdf(x, m, c)),
                  argnums=(0, 1))(mean, cov)
    want = jax.grad(lambda m, c: jax.numpy.sum(jstats.multivariate_normal.logpdf(x, m, c)),
                    argnums=(0, 1))(mean, cov)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-12)


def test_vmap_and_jit_match_eager_in_the_parameters():
    scales = np.array([0.5, 1.0, 2.0])
    eager = np.stack([fstats.t.logpdf(X, 3.0, LOC, s) for s in scales])
    np.testing.assert_allclose(fg.vmap(lambda s: fstats.t.logpdf(X, 3.0, LOC, s))(scales), eager)
    np.testing.assert_allclose(fg.jit(fstats.t.logpdf)(X, 3.0, LOC, 2.0), eager[2])
    np.testing.assert_allclose(fg.jit(fstats.poisson.logpmf)(K, 2.5),
                               fstats.poisson.logpmf(K, 2.5))


def test_float32_parameters_keep_float32():
    x = X.astype(np.float32)
    assert fstats.norm.logpdf(x, 0.0, 1.0).dtype == np.float32
    assert fstats.gamma.logpdf(np.abs(x), 2.0).dtype == np.float32
