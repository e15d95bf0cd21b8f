"""`funcgrad.scipy.stats`: distributions like `jax.scipy.stats` / `scipy.stats`.

Each distribution is a namespace of functions with SciPy's signatures (`norm.logpdf(x, loc=0,
scale=1)`, `poisson.logpmf(k, mu, loc=0)`, ...): pdf/logpdf/cdf/logcdf/sf/logsf (pmf/logpmf for
the discrete ones), ppf where the quantile has a closed form. They broadcast their arguments and
are differentiable in the parameters (the incomplete gamma and beta functions behind some cdfs
are differentiable in x only).
"""
from ._dists import (  # noqa: F401
    bernoulli,
    beta,
    binom,
    cauchy,
    chi2,
    dirichlet,
    expon,
    gamma,
    geom,
    laplace,
    logistic,
    multivariate_normal,
    norm,
    poisson,
    t,
    uniform,
)
