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


F32 = A.astype(np.float32)
CONTRACTIONS = [("matmul", (F32, F32.T)), ("dot", (F32, F32.T)), ("tensordot", (F32, F32, 2)),
                ("inner", (F32, F32)), ("vdot", (F32, F32)), ("vecdot", (F32, F32)),
                ("convolve", (F32[0], F32[1, :3])), ("correlate", (F32[0], F32[1, :2]))]


@pytest.mark.parametrize("name,args", CONTRACTIONS, ids=[c[0] for c in CONTRACTIONS])
def test_contraction_keywords_match_jax(name, args):
    for kw in ({}, dict(precision="highest"), dict(preferred_element_type=np.float64)):
        want = getattr(jnp, name)(*args, **kw)
        for f in (lambda *q: getattr(fnp, name)(*q, *args[2:], **kw),
                  fg.jit(lambda x, y: getattr(fnp, name)(x, y, *args[2:], **kw))):
            got = f(*args[:2])
            assert np.asarray(got).dtype == want.dtype, kw
            np.testing.assert_allclose(got, want, rtol=1e-5)
    ints = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    want = jnp.matmul(ints, ints.T, preferred_element_type=np.int32)
    for got in (fnp.matmul(ints, ints.T, preferred_element_type=np.int32),
                fg.jit(lambda a: fnp.matmul(a, a.T, preferred_element_type=np.int32))(ints)):
        assert np.asarray(got).dtype == np.int32 and np.array_equal(got, want)
    np.testing.assert_allclose(fnp.vdot(A + 1j * A, A), jnp.vdot(A + 1j * A, A))  # conjugates


def test_einsum_keywords():
    want = jnp.einsum("ij,kj->ik", F32, F32, preferred_element_type=np.float64)
    for got in (fnp.einsum("ij,kj->ik", F32, F32, preferred_element_type=np.float64,
                           optimize=True),
                fg.jit(lambda a: fnp.einsum("ij,kj->ik", a, a, precision="high",
                                            preferred_element_type=np.float64))(F32)):
        assert np.asarray(got).dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(fg.FuncgradError, match="out_sharding"):
        fnp.einsum("ij->i", A, out_sharding="x")


@pytest.mark.parametrize("mode", ["clip", "wrap", "fill"])
def test_take_modes_match_jax(mode):
    idx = np.array([0, -1, 5, -6, 2])
    for axis in (None, 0, 1):
        for fill in ((None, -7.0) if mode == "fill" else (None,)):
            want = jnp.take(A, idx, axis=axis, mode=mode, fill_value=fill)
            for f in (lambda x: fnp.take(x, idx, axis=axis, mode=mode, fill_value=fill),
                      fg.jit(lambda x: fnp.take(x, idx, axis=axis, mode=mode, fill_value=fill))):
                np.testing.assert_array_equal(f(A), want)
    ind = np.array([[0, -1, 5], [1, 2, -9], [3, 3, 3]])
    want = (np.take_along_axis(A, np.mod(ind, 4), axis=1) if mode == "wrap"  # JAX has no wrap
            else jnp.take_along_axis(A, ind, axis=1, mode=mode))
    np.testing.assert_array_equal(fnp.take_along_axis(A, ind, axis=1, mode=mode), want)
    np.testing.assert_array_equal(
        fg.jit(lambda x: fnp.take_along_axis(x, ind, axis=1, mode=mode))(A), want)
    g = fg.grad(lambda x: fnp.sum(fnp.take(x, idx, axis=1, mode=mode, fill_value=0.0) ** 2))(A)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(
        jnp.take(x, idx, axis=1, mode=mode, fill_value=0.0) ** 2))(A))


def test_static_size_results_match_jax():
    cond = np.array([True, False, False, True])
    for kw in (dict(axis=1), dict(axis=1, size=3, fill_value=-1.0), dict(size=2)):
        want = jnp.compress(cond, A, **kw)
        np.testing.assert_array_equal(fnp.compress(cond, A, **kw), want)
        if "size" in kw:
            np.testing.assert_array_equal(
                fg.jit(lambda c, a: fnp.compress(c, a, **kw))(cond, A), want)
    for got in (fnp.where(A > 0, size=3, fill_value=-1),
                fg.jit(lambda a: fnp.where(a > 0, size=3, fill_value=-1))(A)):
        for g, w in zip(got, jnp.where(A > 0, size=3, fill_value=-1)):
            np.testing.assert_array_equal(g, w)
    with pytest.raises(fg.FuncgradError, match="pass x and y"):
        fnp.where(A > 0, A, size=2)


def test_stacking_dtype_sort_descending_and_renamed_parameters():
    ints = np.arange(3)
    for name in ("concatenate", "stack", "hstack", "vstack", "dstack"):
        want = getattr(jnp, name)([ints, ints], dtype=np.float32)
        for got in (getattr(fnp, name)([ints, ints], dtype=np.float32),
                    fg.jit(lambda x: getattr(fnp, name)([x, x], dtype=np.float32))(ints)):
            assert np.asarray(got).dtype == np.float32
            np.testing.assert_array_equal(got, want)
    x = np.array([[3.0, 1, np.nan, 1, 2], [0, 0, 5, -1, 0]])
    for axis in (-1, 0, None):
        for f in (lambda m, x: m.argsort(x, axis=axis, descending=True),
                  lambda m, x: m.sort(x, axis=axis, descending=True)):
            np.testing.assert_array_equal(f(fnp, x), f(jnp, x))
            np.testing.assert_array_equal(fg.jit(lambda x: f(fnp, x))(x), f(jnp, x))
    assert fnp.argsort(x, dtype=np.int32).dtype == np.int32
    np.testing.assert_array_equal(fnp.clip(A, min=-0.5, max=0.5), jnp.clip(A, min=-0.5, max=0.5))
    np.testing.assert_array_equal(fg.jit(lambda a: fnp.reshape(a, shape=(4, 3)))(A),
                                  A.reshape(4, 3))
    assert fnp.real(A + 2j).dtype == np.float64 and fnp.conj(A).shape == A.shape
    np.testing.assert_array_equal(fnp.repeat(A, 2, axis=0, total_repeat_length=6),
                                  np.repeat(A, 2, axis=0))
    np.testing.assert_array_equal(fnp.polymul([0, 0, 1, 2], [1, 1], trim_leading_zeros=True),
                                  jnp.polymul(np.array([0, 0, 1, 2]), np.array([1, 1]),
                                              trim_leading_zeros=True))
    with pytest.raises(fg.FuncgradError, match="weights= is not supported"):
        fnp.quantile(A, 0.5, weights=np.ones_like(A))


def test_creation_functions_take_device_and_shape():
    assert fnp.zeros_like(A, shape=(2,)).shape == (2,)
    np.testing.assert_array_equal(fnp.full_like(A, 2, dtype=int, shape=(2, 2)), np.full((2, 2), 2))
    assert fnp.array([1, 2], ndmin=3).shape == (1, 1, 2)
    assert fnp.asarray(A, device="cpu") is not None and fnp.ones(3, device="cpu").shape == (3,)
    with pytest.raises(fg.FuncgradError, match="out_sharding"):
        fnp.zeros_like(A, out_sharding="x")
    np.testing.assert_array_equal(fg.jit(lambda a: fnp.full_like(a, a[0, 0]))(A),
                                  np.full_like(A, A[0, 0]))


@pytest.mark.gpu
def test_device_keyword_makes_arrays_on_the_gpu():
    from funcgrad.backend import cupy_backend
    cp = cupy_backend.cupy_module()
    for got in (fnp.zeros(3, device="gpu"), fnp.asarray(A, device="gpu"),
                fnp.ones_like(A, device="gpu"), fnp.array([1.0, 2.0], device="gpu"),
                fnp.astype(A, np.float32, device="gpu"), fnp.arange(4, device="gpu")):
        assert cp.get_array_module(got).__name__ == "cupy"
    assert fnp.zeros_like(fnp.asarray(A, device="gpu"), device="cpu").__class__ is np.ndarray


X = np.array([3, 1, 3, 2, 1, 7.0, np.nan, np.nan])
Y = np.array([9.0, 1, 3])
SETS = {  # name: (funcgrad, jax, arguments)
    "unique": (lambda m, x: m.unique(x, size=7), (X,)),
    "unique_all_outputs": (lambda m, x: m.unique(x, True, True, True, size=7), (X,)),
    "unique_fill": (lambda m, x: m.unique(x, size=8, fill_value=-1), (X,)),
    "unique_2d_inverse": (lambda m, x: m.unique(x, return_inverse=True, size=3),
                          (np.array([[1, 2], [2, 1]]),)),
    "unique_counts": (lambda m, x: tuple(m.unique_counts(x, size=6)), (X,)),
    "unique_all": (lambda m, x: tuple(m.unique_all(x, size=8)), (X,)),
    "unique_inverse": (lambda m, x: tuple(m.unique_inverse(x, size=8)), (X,)),
    "unique_values": (lambda m, x: m.unique_values(x, size=8), (X,)),
    "union1d": (lambda m, a, b: m.union1d(a, b, size=9), (X[:6], Y)),
    "setdiff1d": (lambda m, a, b: m.setdiff1d(a, b, size=5), (X[:6], Y)),
    "intersect1d": (lambda m, a, b: m.intersect1d(a, b, size=4), (X[:6], Y)),
    "setxor1d": (lambda m, a, b: m.setxor1d(a, b, size=5), (X[:6], Y)),
    "argwhere": (lambda m, a: m.argwhere(a, size=4), (np.array([[0, 1], [1, 1]]),)),
    "flatnonzero": (lambda m, a: m.flatnonzero(a > 2, size=5), (X[:6],)),
    "extract": (lambda m, a: m.extract(a > 2, a, size=5), (X[:6],)),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_functions_with_size_match_jax_eagerly_and_traced(name):
    f, args = SETS[name]
    want = f(jnp, *args)
    for got in (f(fnp, *args), fg.jit(lambda *a: f(fnp, *a))(*args)):
        got, wants = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        assert len(got) == len(wants)
        for g, w in zip(got, wants):
            assert np.shape(g) == w.shape
            np.testing.assert_array_equal(g, w)


def test_set_functions_without_size_are_numpys_and_refuse_traced_values():
    np.testing.assert_array_equal(fnp.unique(X), np.unique(X))
    np.testing.assert_array_equal(fnp.setdiff1d(X, Y), np.setdiff1d(X, Y))
    with pytest.raises(fg.FuncgradError, match=r"unique: on traced values pass size="):
        fg.jit(fnp.unique)(X)
