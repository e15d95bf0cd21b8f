"""Argument by argument: every public function of funcgrad.numpy, .numpy.linalg, .numpy.fft and
funcgrad.scipy.* has its `jax` counterpart's parameter names in the same order, so calls written
against JAX (positional or by keyword) mean the same here.

Compared: the functions funcgrad defines (NumPy's own helpers that funcgrad re-exports, such as
fft.fftfreq, keep NumPy's signature and are not compared). Omissions are listed with a reason.
The top-level funcgrad.numpy matches too, with one omission (`FNP_OMISSIONS`, with its reason).
"""
from __future__ import annotations

import importlib
import inspect

import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("scipy")

import funcgrad.numpy as fnp  # noqa: E402, F401
import funcgrad.scipy.integrate  # noqa: E402, F401
import funcgrad.scipy.linalg  # noqa: E402, F401
import funcgrad.scipy.signal  # noqa: E402, F401
import funcgrad.scipy.special  # noqa: E402, F401
import funcgrad.scipy.stats  # noqa: E402, F401

_XLA = "JAX-only XLA control (precision/preferred_element_type/out_sharding); not accepted"
_ORDER = ("NumPy's positional order kept (JAX moves rtol first); a positional tol/rcond keeps "
          "NumPy's meaning")
OMISSIONS = {
    "numpy.linalg.matrix_rank": _ORDER,
    "numpy.linalg.pinv": _ORDER,
    "numpy.linalg.svd": "subset_by_index needs a partial SVD (LAPACK's ?gesvdx), not wired",
    "scipy.stats.bernoulli.cdf": "funcgrad also takes SciPy's `loc` (JAX's cdf has none)",
    "scipy.stats.multivariate_normal.pdf": "funcgrad also takes SciPy's `allow_singular` (as "
                                           "its logpdf, and JAX's logpdf, do)",
    "scipy.stats.logistic.ppf": "JAX names its argument x; SciPy (and every other ppf) says q",
}

MODULES = [("funcgrad.numpy.linalg", "jax.numpy.linalg"), ("funcgrad.numpy.fft", "jax.numpy.fft"),
           ("funcgrad.scipy.special", "jax.scipy.special"),
           ("funcgrad.scipy.linalg", "jax.scipy.linalg"),
           ("funcgrad.scipy.signal", "jax.scipy.signal"),
           ("funcgrad.scipy.integrate", "jax.experimental.ode")]


def _names(f):
    try:
        return [p for p in inspect.signature(f).parameters]
    except (TypeError, ValueError):
        return None


def _pairs(fg_mod: str, jax_mod: str):
    """(short name, funcgrad function, jax function) for the public functions both define."""
    f_mod, j_mod = importlib.import_module(fg_mod), importlib.import_module(jax_mod)
    for name in sorted(dir(f_mod)):
        f, j = getattr(f_mod, name), getattr(j_mod, name, None)
        if (name.startswith("_") or j is None or inspect.isclass(f) or inspect.ismodule(f)
                or not callable(f) or not getattr(f, "__module__", "").startswith("funcgrad")):
            continue
        yield f"{fg_mod.removeprefix('funcgrad.')}.{name}", f, j


def _stats_pairs():
    stats = importlib.import_module("funcgrad.scipy.stats")
    for dist in sorted(n for n in dir(stats) if not n.startswith("_")):
        try:
            j_mod = importlib.import_module(f"jax.scipy.stats.{dist}")
        except ImportError:
            continue
        for meth in sorted(n for n in dir(getattr(stats, dist)) if not n.startswith("_")):
            if hasattr(j_mod, meth):
                yield (f"scipy.stats.{dist}.{meth}", getattr(getattr(stats, dist), meth),
                       getattr(j_mod, meth))


def _mismatches(pairs):
    out, count = {}, 0
    for name, f, j in pairs:
        fn, jn = _names(f), _names(j)
        if fn is None or jn is None:
            continue
        count += 1
        if fn != jn:
            out[name] = (fn, jn)
    return out, count


def _only_omissions(bad: dict, omissions: dict) -> None:
    """Every mismatch is a listed omission, and every listed omission is still a mismatch."""
    unexplained = {k: v for k, v in bad.items() if k not in omissions}
    assert not unexplained, "\n".join(f"{k}: funcgrad {f} vs jax {j}"
                                      for k, (f, j) in unexplained.items())
    stale = set(omissions) - set(bad)
    assert not stale, f"listed as omissions but now matching JAX (remove them): {sorted(stale)}"


def test_linalg_fft_scipy_signatures_match_jax():
    pairs = [p for m in MODULES for p in _pairs(*m)] + list(_stats_pairs())
    bad, count = _mismatches(pairs)
    assert count >= 90, count  # the comparison really ran over the surface
    _only_omissions(bad, OMISSIONS)


def test_new_issue14_functions_take_jax_arguments_by_keyword():
    import numpy as np

    import funcgrad.scipy.linalg as fl
    import funcgrad.scipy.special as fs
    a = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(fs.gammainc(a=2.0, x=1.5), fs.gammainc(2.0, 1.5))
    np.testing.assert_allclose(fs.iv(v=1.0, x=2.0), fs.iv(1.0, 2.0))
    np.testing.assert_allclose(fs.log_ndtr(x=0.3, series_order=5), fs.log_ndtr(0.3))
    np.testing.assert_allclose(fl.lu_solve(lu_and_piv=fl.lu_factor(a, check_finite=False),
                                           b=np.ones(2), trans=0, overwrite_b=False),
                               np.linalg.solve(a, np.ones(2)))
    np.testing.assert_allclose(fl.solve_sylvester(A=a, B=a, C=a), np.eye(2) * 0.5, atol=1e-12)
    np.testing.assert_allclose(fl.expm(A=a * 0.0, max_squarings=4), np.eye(2))
    np.testing.assert_allclose(fl.solve_triangular(a, np.ones(2), lower=True,
                                                   unit_diagonal=True), [1.0, 0.0])
    np.testing.assert_allclose(fnp.linalg.cholesky(a, upper=True),
                               np.linalg.cholesky(a).T)
    np.testing.assert_allclose(fs.logsumexp(np.array([0.0, 50.0]), where=np.array([True, False])),
                               0.0)
    with pytest.raises(TypeError):
        fs.gammainc(2.0, 1.5, 3.0)


# Top-level funcgrad.numpy (funcgrad/numpy/*.py other than linalg.py): the same parameter names
# in the same order as jax.numpy, every JAX keyword working (tests/test_numpy_jax_keywords.py),
# except these, each with its reason.
FNP_OMISSIONS = {
    "numpy.einsum": "JAX's private `_dot_general` hook (a function XLA's contraction is built "
                    "with) has no meaning here; every public keyword is taken",
}


def test_top_level_numpy_signatures_match_jax():
    bad, count = _mismatches(_pairs("funcgrad.numpy", "jax.numpy"))
    assert count >= 250, count
    _only_omissions(bad, FNP_OMISSIONS)


def test_jax_parameter_names_and_keywords_of_top_level_numpy():
    import numpy as np

    import funcgrad as fg
    jnp = jax.numpy
    a = np.arange(1.0, 7.0).reshape(2, 3)
    for f in (lambda m: m, fg.jit):  # eager NumPy path, and traced
        np.testing.assert_allclose(f(lambda a: fnp.divide(x1=a, x2=2.0))(a), a / 2)
        np.testing.assert_allclose(f(lambda a: fnp.power(x1=a, x2=2))(a), a ** 2)
        np.testing.assert_allclose(f(lambda a: fnp.fmax(x1=a, x2=3.0))(a), np.fmax(a, 3.0))
        np.testing.assert_allclose(f(lambda a: fnp.flip(m=a, axis=0))(a), a[::-1])
        np.testing.assert_allclose(f(lambda a: fnp.tile(A=a, reps=2))(a), np.tile(a, 2))
        np.testing.assert_allclose(f(lambda a: fnp.argmax(a, 1, None, True))(a),
                                   jnp.argmax(a, 1, None, True))
        np.testing.assert_allclose(f(lambda a: fnp.cumsum(a, 1, np.float32))(a),
                                   jnp.cumsum(a, 1, np.float32))
        np.testing.assert_allclose(f(lambda a: fnp.around(a / 7, 2, out=None))(a),
                                   jnp.around(a / 7, 2))
        np.testing.assert_allclose(f(lambda a: fnp.nanargmin(a, 0, keepdims=True))(a),
                                   jnp.nanargmin(a, 0, keepdims=True))
    assert fnp.size(a, axis=1) == 3 and fnp.size(a, (0, 1)) == 6
    assert fg.jit(lambda a: fnp.cumsum(a, dtype=np.float32))(a).dtype == np.float32
    for call in (lambda a: fnp.ptp(a, out=np.zeros(())), lambda a: fnp.outer(a, a, out=a)):
        with pytest.raises(fg.FuncgradError, match="`out=` is not supported"):
            fg.jit(call)(a)
