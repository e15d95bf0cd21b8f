"""JAX's keywords on funcgrad.numpy, working rather than swallowed: `where=`, `initial=`,
`promote_integers=`, `correction=`, `mean=` on the reductions (and the nan* ones), and the ufunc
objects (`fnp.add.reduce`, `.accumulate`, `.outer`, `.reduceat`, `.at`) — eagerly, under jit and
under grad, against JAX (NumPy where JAX departs from it)."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402

R = np.random.default_rng(0)
A = R.normal(size=(3, 4))
MASK = R.uniform(size=(3, 4)) > 0.4
NANS = A.copy()
NANS[0, 1] = np.nan
INTS = np.arange(12, dtype=np.int8).reshape(3, 4)

REDUCTIONS = [
    ("sum", dict(axis=1, where=MASK)), ("sum", dict(initial=2.0)),
    ("sum", dict(axis=0, where=MASK, initial=1.0, keepdims=True)),
    ("prod", dict(axis=1, where=MASK)), ("mean", dict(axis=1, where=MASK)),
    ("mean", dict(axis=0, dtype=np.float32)),
    ("var", dict(axis=1, where=MASK, ddof=1)), ("std", dict(where=MASK, correction=1)),
    ("max", dict(axis=1, where=MASK, initial=-5.0)), ("min", dict(initial=0.5)),
    ("amax", dict(axis=0, keepdims=True)),
    ("all", dict(axis=0, where=MASK)), ("any", dict(where=MASK)),
    ("nansum", dict(axis=1, where=MASK)), ("nanmean", dict(axis=1, where=MASK)),
    ("nanvar", dict(axis=1)), ("nanstd", dict(axis=0, where=MASK)),
    ("nanmax", dict(axis=1, where=MASK, initial=-9.0)), ("nanmin", dict(axis=0)),
    ("nanprod", dict(initial=2.0)),
]


@pytest.mark.parametrize("name,kw", REDUCTIONS, ids=[f"{n}-{sorted(k)}" for n, k in REDUCTIONS])
def test_reduction_keywords_match_jax(name, kw):
    x = NANS if name.startswith("nan") else (A > 0 if name in ("all", "any") else A)
    want = getattr(jnp, name)(x, **kw)
    for f in (lambda x: getattr(fnp, name)(x, **kw), fg.jit(lambda x: getattr(fnp, name)(x, **kw))):
        got = f(x)
        assert np.shape(got) == want.shape and np.asarray(got).dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def test_grads_through_masked_reductions_match_jax():
    for name, kw in [("sum", dict(where=MASK)), ("var", dict(axis=1, where=MASK)),
                     ("mean", dict(axis=0, where=MASK)), ("prod", dict(axis=1, where=MASK)),
                     ("max", dict(axis=1, where=MASK, initial=-3.0))]:
        f = lambda m: lambda x: m.sum(getattr(m, name)(x, **kw) ** 2)  # noqa: E731
        np.testing.assert_allclose(fg.grad(f(fnp))(A), jax.grad(f(jnp))(A), atol=1e-12)
        np.testing.assert_allclose(fg.jit(fg.grad(f(fnp)))(A), jax.grad(f(jnp))(A), atol=1e-12)


@pytest.mark.parametrize("promote", [True, False])
def test_promote_integers(promote):
    for name in ("sum", "prod"):
        want = getattr(jnp, name)(INTS, promote_integers=promote)
        jitted = fg.jit(getattr(fnp, name), static_argnames="promote_integers")
        for f in (getattr(fnp, name), jitted):
            got = f(INTS, promote_integers=promote)
            assert np.asarray(got).dtype == want.dtype and got == want
    unsigned = np.arange(3, dtype=np.uint8)  # NumPy's accumulator: unsigned stays unsigned
    assert fg.jit(fnp.sum)(unsigned).dtype == fnp.sum(unsigned).dtype == np.uint64


def test_masked_extreme_without_initial_is_refused_with_the_fix():
    with pytest.raises(fg.FuncgradError, match=r"max: `where=` needs `initial=`.*test_numpy_jax"):
        fg.jit(lambda x: fnp.max(x, where=MASK))(A)


BINARY = ["add", "subtract", "multiply", "maximum", "minimum", "logaddexp", "logaddexp2",
          "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"]
IDX = np.array([0, 2, 1, 4])


@pytest.mark.parametrize("name", BINARY)
def test_ufunc_methods_match_jax(name):
    r = np.random.default_rng(1)
    x = r.integers(0, 7, size=(3, 5)) if name.startswith(("bitwise", "logical")) else \
        r.normal(size=(3, 5))
    f, j = getattr(fnp, name), getattr(jnp, name)
    assert isinstance(f, fnp.ufunc) and f.nin == 2 and f.nout == 1 and f.__name__ == name
    calls = [("reduce", (), jnp), ("reduce", (1,), jnp), ("accumulate", (), jnp),
             ("accumulate", (1,), jnp),
             ("reduceat", (IDX, 1), np if name.startswith("logical") else jnp)]  # JAX: ints
    for meth, rest, oracle in calls:
        want = getattr(getattr(oracle, name), meth)(x, *rest)
        for got in (getattr(f, meth)(x, *rest), fg.jit(lambda x: getattr(f, meth)(x, *rest))(x)):
            assert np.asarray(got).dtype == want.dtype, (meth, rest)
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{meth}{rest}")
    np.testing.assert_allclose(f.outer(x[0], x[1:]), j.outer(x[0], x[1:]), rtol=1e-12)
    np.testing.assert_allclose(f(x, x[0]), j(x, x[0]), rtol=1e-12)


def test_ufunc_reduce_keywords_grads_and_at():
    np.testing.assert_allclose(fnp.add.reduce(A, axis=None), jnp.add.reduce(A, axis=None))
    np.testing.assert_allclose(fnp.maximum.reduce(A, (0, 1)), jnp.maximum.reduce(A, (0, 1)))
    np.testing.assert_allclose(fnp.add.reduce(A, 1, where=MASK, keepdims=True),
                               jnp.add.reduce(A, 1, where=MASK, keepdims=True))
    np.testing.assert_allclose(fnp.logaddexp.reduce(A, 0, where=MASK, initial=0.0),
                               jnp.logaddexp.reduce(A, 0, where=MASK, initial=0.0), rtol=1e-12)
    for name in ("multiply", "logaddexp", "subtract"):
        f = lambda m: lambda x: m.sum(getattr(m, name).reduce(x, 1) ** 2)  # noqa: E731
        np.testing.assert_allclose(fg.grad(f(fnp))(A), jax.grad(f(jnp))(A), atol=1e-12)
        g = lambda m: lambda x: m.sum(getattr(m, name).accumulate(x, 1) ** 2)  # noqa: E731
        np.testing.assert_allclose(fg.grad(g(fnp))(A), jax.grad(g(jnp))(A), atol=1e-12)
    idx = np.array([0, 0, 2])  # repeated indices accumulate
    for name in ("add", "subtract"):
        want = getattr(jnp, name).at(A[0], idx, 1.5, inplace=False)
        np.testing.assert_allclose(getattr(fnp, name).at(A[0], idx, 1.5, inplace=False), want)
        np.testing.assert_allclose(
            fg.jit(lambda x: getattr(fnp, name).at(x, idx, 1.5, inplace=False))(A[0]), want)
    with pytest.raises(fg.FuncgradError, match="inplace=False"):
        fnp.add.at(A[0], idx, 1.0)
    with pytest.raises(fg.FuncgradError, match=r"fnp.maximum.at is not supported.*\.at\[idx\]"):
        fnp.maximum.at(A[0], idx, 1.0, inplace=False)
    with pytest.raises(fg.FuncgradError, match="`out=` and `where=` are not supported"):
        fnp.add(A, A, where=MASK)
    with pytest.raises(fg.FuncgradError, match="only binary ufuncs"):
        fnp.negative.reduce(A)


def test_logical_functions_use_truth_values():
    x, y = np.array([2, 0, 3]), np.array([1, 1, 0])
    for name in ("logical_and", "logical_or", "logical_xor"):
        want = getattr(np, name)(x, y)
        for got in (getattr(fnp, name)(x, y), fg.jit(getattr(fnp, name))(x, y)):
            assert np.asarray(got).dtype == np.bool_
            np.testing.assert_array_equal(got, want)
