"""examples/scipy_models.py: the Student-t regression and the ODE parameter fit reach the known
answers (the t fit agrees with the same likelihood maximised through scipy.stats)."""
import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy import stats  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "scipy_models.py"


def _load():
    spec = importlib.util.spec_from_file_location("scipy_models", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_student_t_regression_matches_scipy_stats_mle():
    res = _load().student_t_regression()
    assert abs(res["slope"] - 2.0) < 0.1 and abs(res["intercept"] + 1.0) < 0.1
    assert 2.0 < res["df"] < 4.5 and res["nll_t"] < res["nll_norm"] - 0.05
    assert np.max(np.abs(res["grad_at_fit"])) < 1e-4
    rng = np.random.default_rng(0)  # the same data, the same likelihood, through scipy.stats
    x = rng.uniform(-2, 2, 400)
    y = 2.0 * x - 1.0 + 0.5 * rng.standard_t(3.0, 400)
    def nll(p):
        return -np.mean(stats.t.logpdf(y, np.exp(p[3]), p[0] * x + p[1], np.exp(p[2])))
    p = np.array([res["slope"], res["intercept"], np.log(res["scale"]), np.log(res["df"])])
    np.testing.assert_allclose(nll(p), res["nll_t"], rtol=1e-12)
    fd = [(nll(p + e) - nll(p - e)) / 2e-6 for e in np.eye(4) * 1e-6]
    assert np.max(np.abs(fd)) < 1e-4  # a stationary point of SciPy's own likelihood
    ref = minimize(nll, p + 0.05, method="BFGS")  # restarted nearby, SciPy finds the same fit
    np.testing.assert_allclose(ref.x, p, atol=1e-3)


def test_ode_fit_recovers_the_parameters():
    res = _load().ode_fit()
    np.testing.assert_allclose(res["theta"], res["true"], atol=0.01)
    assert res["loss"] < 2e-4  # the noise variance is 1e-4
