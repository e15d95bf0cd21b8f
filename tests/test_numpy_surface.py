"""The wider `funcgrad.numpy` surface: exp2/log2/log10/cbrt, fmax/fmin, logaddexp, isnan/isinf,
trunc, nan_to_num, count_nonzero, cumprod, sort/argsort, take_along_axis, diag/diagonal/trace,
roll, triu/tril, broadcast_arrays, stacking and atleast_*.

The table-driven tests (tests/specs.py) check derivatives and JAX agreement on smooth inputs;
here the traced paths (`jit`, `vmap`) meet NumPy on the awkward ones: NaN and infinities, ties,
integer and boolean dtypes, float32 with weak Python scalars, empty diagonals, repeated axes.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.numpy import _base as numpy_base
from funcgrad.numpy import extra, polynomial, rearrange, statistics
from funcgrad.numpy import indexing as numpy_indexing
from funcgrad.numpy import shapes as numpy_shapes
from funcgrad.numpy import ufuncs as numpy_ufuncs

F64 = np.array([1.5, -0.5, np.nan, np.inf, -np.inf, 0.0, -2.5, 3.0])
F32 = F64.astype(np.float32)
I32 = np.array([3, -2, 0, 7, 0, 1], dtype=np.int32)
M = np.arange(12.0).reshape(3, 4) - 5.0
TIES = np.array([[2.0, 1.0, 2.0, np.nan, 1.0], [0.0, 0.0, -1.0, 3.0, -1.0]])

# (name, function, arguments, NumPy reference): the function runs eagerly on plain arrays and
# traced under `jit`; both must equal the reference in value and dtype
CASES = [
    ("positive_i32", fnp.positive, (I32,), np.positive),
    ("positive_f32", fnp.positive, (F32,), np.positive),
    ("exp2_f32", fnp.exp2, (F32[:2],), np.exp2),
    ("exp2_int", fnp.exp2, (I32,), np.exp2),
    ("log2_f32", fnp.log2, (np.float32([0.25, 8.0, 3.0]),), np.log2),
    ("log10_int", fnp.log10, (np.array([1, 10, 1000]),), np.log10),
    ("cbrt_negative", fnp.cbrt, (np.array([-27.0, -0.001, 8.0, 0.0]),), np.cbrt),
    ("cbrt_f32", fnp.cbrt, (np.float32([-8.0, 2.0]),), np.cbrt),
    ("cbrt_int", fnp.cbrt, (I32,), np.cbrt),
    ("isnan", fnp.isnan, (F64,), np.isnan),
    ("isnan_int", fnp.isnan, (I32,), np.isnan),
    ("isinf_f32", fnp.isinf, (F32,), np.isinf),
    ("isinf_int", fnp.isinf, (I32,), np.isinf),
    ("isfinite", fnp.isfinite, (F64,), np.isfinite),
    ("trunc", fnp.trunc, (np.array([-1.7, -0.5, 0.5, 2.9, -0.0, np.inf]),), np.trunc),
    ("trunc_int", fnp.trunc, (I32,), np.trunc),
    ("fmax_nan", fnp.fmax, (F64, F64[::-1]), np.fmax),
    ("fmin_nan", fnp.fmin, (F64, F64[::-1]), np.fmin),
    ("fmax_f32_weak", lambda x: fnp.fmax(x, 2.0), (F32,), lambda x: np.fmax(x, 2.0)),
    ("fmin_broadcast", fnp.fmin, (F64[:4].reshape(4, 1), F64[4:]), np.fmin),
    ("fmax_int", fnp.fmax, (I32, I32[::-1]), np.fmax),
    ("logaddexp_extremes", fnp.logaddexp, (np.array([1000.0, -1000.0, -np.inf, np.inf, 0.0]),
                                           np.array([999.0, -1001.0, -np.inf, np.inf, np.nan])),
     np.logaddexp),
    ("logaddexp_f32_weak", lambda x: fnp.logaddexp(x, 1.0), (np.float32([80.0, -3.0]),),
     lambda x: np.logaddexp(x, 1.0)),
    ("logaddexp_int", fnp.logaddexp, (I32, I32), np.logaddexp),
    ("nan_to_num", fnp.nan_to_num, (F64,), np.nan_to_num),
    ("nan_to_num_f32", fnp.nan_to_num, (F32,), np.nan_to_num),
    ("nan_to_num_fills", lambda x: fnp.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0), (F32,),
     lambda x: np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0)),
    ("nan_to_num_int", fnp.nan_to_num, (I32,), np.nan_to_num),
    ("count_nonzero", fnp.count_nonzero, (F64,), np.count_nonzero),
    ("count_nonzero_axis", lambda x: fnp.count_nonzero(x, axis=1, keepdims=True),
     (np.array([[0.0, 1.0, np.nan], [0.0, 0.0, -2.0]]),),
     lambda x: np.count_nonzero(x, axis=1, keepdims=True)),
    ("cumprod_int32", fnp.cumprod, (I32,), np.cumprod),
    ("cumprod_bool", lambda x: fnp.cumprod(x, axis=0), (np.array([[True, False], [True, True]]),),
     lambda x: np.cumprod(x, axis=0)),
    ("cumprod_uint8", fnp.cumprod, (np.array([3, 2, 1], np.uint8),), np.cumprod),
    ("cumprod_dtype", lambda x: fnp.cumprod(x, dtype=np.float32), (I32,),
     lambda x: np.cumprod(x, dtype=np.float32)),
    ("cumprod_zeros_long", lambda x: fnp.cumprod(x, axis=-1),
     (np.where(np.arange(37) % 11 == 5, 0.0, 1.0 + np.arange(37) / 40).reshape(1, 37),),
     lambda x: np.cumprod(x, axis=-1)),
    ("sort_ties_nan", fnp.sort, (TIES,), np.sort),
    ("sort_axis0", lambda x: fnp.sort(x, axis=0), (TIES,), lambda x: np.sort(x, axis=0)),
    ("sort_flat_int", lambda x: fnp.sort(x, axis=None), (I32,), lambda x: np.sort(x, axis=None)),
    ("argsort_stable", fnp.argsort, (TIES,), lambda x: np.argsort(x, kind="stable")),
    ("argsort_axis0", lambda x: fnp.argsort(x, 0), (TIES,), lambda x: np.argsort(x, 0, "stable")),
    ("argsort_flat", lambda x: fnp.argsort(x, None), (TIES,),
     lambda x: np.argsort(x, None, "stable")),
    ("take_along_negative", lambda x: fnp.take_along_axis(x, np.array([[-1, 0], [2, -4]]), 1),
     (M[:2],), lambda x: np.take_along_axis(x, np.array([[-1, 0], [2, -4]]), 1)),
    ("take_along_broadcast", lambda x: fnp.take_along_axis(x, np.array([[2], [0]]), 0),
     (M,), lambda x: np.take_along_axis(x, np.array([[2], [0]]), 0)),
    ("take_along_flat", lambda x: fnp.take_along_axis(x, np.array([11, 0, 5]), None), (M,),
     lambda x: np.take_along_axis(x, np.array([11, 0, 5]), None)),
    ("diag_k", lambda x: fnp.diag(x, -2), (F64[:3],), lambda x: np.diag(x, -2)),
    ("diag_bool", lambda x: fnp.diag(x, 1), (np.array([True, False]),), lambda x: np.diag(x, 1)),
    ("diag_of_matrix", lambda x: fnp.diag(x, 2), (M,), lambda x: np.diag(x, 2)),
    ("diag_empty", lambda x: fnp.diag(x, 5), (M,), lambda x: np.diag(x, 5)),
    ("diagonal_axes", lambda x: fnp.diagonal(x, -1, 2, 0), (np.arange(24.0).reshape(3, 2, 4),),
     lambda x: np.diagonal(x, -1, 2, 0)),
    ("trace_int32", fnp.trace, (I32.reshape(2, 3),), np.trace),
    ("trace_f32_offset", lambda x: fnp.trace(x, 1), (M.astype(np.float32),),
     lambda x: np.trace(x, 1)),
    ("roll_flat", lambda x: fnp.roll(x, -5), (M,), lambda x: np.roll(x, -5)),
    ("roll_big_shift", lambda x: fnp.roll(x, 9, axis=1), (M,), lambda x: np.roll(x, 9, axis=1)),
    ("roll_repeated_axis", lambda x: fnp.roll(x, (1, 2), axis=(1, 1)), (M,),
     lambda x: np.roll(x, (1, 2), axis=(1, 1))),
    ("roll_one_shift_two_axes", lambda x: fnp.roll(x, 1, axis=(0, 1)), (M,),
     lambda x: np.roll(x, 1, axis=(0, 1))),
    ("tril_1d", fnp.tril, (F64[:3],), np.tril),
    ("triu_k", lambda x: fnp.triu(x, 2), (M,), lambda x: np.triu(x, 2)),
    ("tril_int_batched", lambda x: fnp.tril(x, -1), (np.arange(18).reshape(2, 3, 3),),
     lambda x: np.tril(x, -1)),
    ("broadcast_arrays", lambda x, y: fnp.broadcast_arrays(x, y)[1], (M[:, :1], I32[:4]),
     lambda x, y: np.broadcast_arrays(x, y)[1]),
    ("vstack_mixed", lambda x, y: fnp.vstack([x, y]), (M[0], I32[:4]),
     lambda x, y: np.vstack([x, y])),
    ("hstack_2d", lambda x, y: fnp.hstack([x, y]), (M, M[:, :1]), lambda x, y: np.hstack([x, y])),
    ("hstack_scalars", lambda x, y: fnp.hstack([x, y]), (np.float32(1.0), np.float32(2.0)),
     lambda x, y: np.hstack([x, y])),
    ("atleast_3d_2d", fnp.atleast_3d, (M,), np.atleast_3d),
    ("atleast_2d_0d", fnp.atleast_2d, (np.float32(2.0),), np.atleast_2d),
]


def _same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != NumPy {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != NumPy {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=1e-6 if got.dtype == np.float32 else 1e-13,
                               atol=0, err_msg=what)
    if got.dtype.kind == "f":  # the sign of zero too (trunc(-0.5) is -0.0)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=what)


@pytest.mark.parametrize("name,fn,args,ref", CASES, ids=[c[0] for c in CASES])
def test_eager_and_jit_match_numpy(name, fn, args, ref):
    with np.errstate(all="ignore"):
        want = ref(*args)
        _same(fn(*args), want, "eager")
        _same(fg.jit(fn)(*args), want, "jit")


@pytest.mark.parametrize("name,fn,args,ref", CASES, ids=[c[0] for c in CASES])
def test_vmap_matches_numpy_loop(name, fn, args, ref):
    batched = [np.stack([a, a[::-1] if np.ndim(a) else a]) for a in args]
    with np.errstate(all="ignore"):
        got = fg.vmap(fn)(*batched)
        want = np.stack([ref(*[b[i] for b in batched]) for i in range(2)])
    _same(got, want, "vmap")


def test_multi_argument_forms_return_tuples_like_numpy():
    x, y = np.float32(1.0), np.arange(3.0)
    for fn in (fnp.atleast_1d, fnp.atleast_2d, fnp.atleast_3d, fnp.broadcast_arrays):
        got = fg.jit(lambda a, b: fn(a, b))(x, y)  # noqa: B023
        want = getattr(np, fn.__name__)(x, y)
        assert isinstance(want, tuple) and len(got) == len(want) == 2
        for g, w in zip(got, want):
            _same(g, w, fn.__name__)
    assert fnp.count_nonzero(np.array([0.0, np.nan, 2.0])) == 2  # NaN is nonzero


# --- sort / argsort: transforms ------------------------------------------------------------------

def test_sort_under_vmap_and_jit_on_any_batch_axis():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (3, 5, 6)).astype(np.float64)  # many ties
    for in_axis in (0, 1, 2):
        for axis in (0, -1):
            f = lambda v: fnp.sort(v, axis=axis)  # noqa: E731
            want = np.stack([np.sort(np.take(x, i, in_axis), axis=axis, kind="stable")
                             for i in range(x.shape[in_axis])])
            np.testing.assert_array_equal(fg.vmap(f, in_axes=in_axis)(x), want)
            np.testing.assert_array_equal(fg.jit(fg.vmap(f, in_axes=in_axis))(x), want)
            g = lambda v: fnp.argsort(v, axis=axis)  # noqa: E731
            want = np.stack([np.argsort(np.take(x, i, in_axis), axis=axis, kind="stable")
                             for i in range(x.shape[in_axis])])
            got = fg.jit(fg.vmap(g, in_axes=in_axis))(x)
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64


def test_nested_vmap_of_argsort_and_out_axes():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    got = fg.vmap(fg.vmap(fnp.argsort, in_axes=1, out_axes=1), in_axes=2, out_axes=0)(x)
    want = np.argsort(np.transpose(x, (2, 1, 0)), axis=-1, kind="stable").transpose(0, 2, 1)
    np.testing.assert_array_equal(got, want)


def test_sort_gradient_follows_the_permutation_with_ties_like_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = np.array([[1.0, 3.0, 1.0, 2.0], [0.5, 0.5, 0.5, -1.0]])
    w = np.arange(8.0).reshape(2, 4)
    f = lambda v: fnp.sum(fnp.sort(v, axis=-1) * w)  # noqa: E731
    f_j = lambda v: jax.numpy.sum(jax.numpy.sort(v, axis=-1) * w)  # noqa: E731
    np.testing.assert_array_equal(fg.grad(f)(x), np.asarray(jax.grad(f_j)(x)))
    np.testing.assert_array_equal(fg.jit(fg.grad(f))(x), np.asarray(jax.grad(f_j)(x)))
    per_example = fg.vmap(fg.grad(lambda v: fnp.sum(fnp.sort(v) * w[0])))(x)
    np.testing.assert_array_equal(per_example, np.asarray(jax.vmap(jax.grad(
        lambda v: jax.numpy.sum(jax.numpy.sort(v) * w[0])))(x)))


def test_argsort_is_not_differentiable_and_sort_methods_on_tracers():
    x = np.array([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]])
    _, t = fg.jvp(lambda v: fnp.argsort(v).astype(np.float64), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(t, np.zeros_like(x))
    got = fg.jit(lambda v: (v.sort(0), v.argsort(), v.cumprod(1), v.trace(), v.diagonal(1)))(x)
    want = (np.sort(x, 0), np.argsort(x), np.cumprod(x, 1), np.trace(x), np.diagonal(x, 1))
    for g, w in zip(got, want):
        _same(g, w, "method")


def test_ir_of_sort_is_argsort_then_gather():
    ir = fg.make_ir(lambda v: fnp.sort(v, axis=0))(np.ones((2, 3)))
    assert [e.prim.name for e in ir.eqns] == ["argsort", "gather"]
    assert "argsort[axis=0 index_dtype=i64]" in str(ir)


# --- derivatives at the awkward points ------------------------------------------------------------

def test_cumprod_derivatives_with_zeros_are_exact():
    x = np.array([2.0, 0.0, 3.0, -1.5, 0.0, 4.0, 0.5])
    fg.testing.check_grads(lambda v: fnp.cumprod(v), (x,), order=2)
    # d/dx_j of the full product: the product of the other entries (two zeros: all vanish)
    np.testing.assert_array_equal(fg.grad(lambda v: fnp.cumprod(v)[-1])(x), np.zeros(7))
    y = x.copy()
    y[4] = 1.0
    want = np.array([np.prod(np.delete(y, j)) for j in range(7)])
    np.testing.assert_allclose(fg.grad(lambda v: fnp.cumprod(v)[-1])(y), want, rtol=1e-13)


def test_cumprod_against_jax_on_a_long_axis_with_zeros():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(3).uniform(0.5, 1.5, (3, 37))
    x[0, 5] = x[1, 0] = x[1, 30] = 0.0
    f = lambda v: fnp.sum(fnp.sin(fnp.cumprod(v, axis=1)))  # noqa: E731
    f_j = lambda v: jax.numpy.sum(jax.numpy.sin(jax.numpy.cumprod(v, axis=1)))  # noqa: E731
    np.testing.assert_allclose(fg.grad(f)(x), jax.grad(f_j)(x), rtol=1e-10, atol=1e-13)
    v = np.array([2.0, 0.0, 3.0, 0.5, -1.0])  # second derivatives through the zero as well
    h = fg.hessian(lambda v: fnp.sum(fnp.cumprod(v) ** 2))(v)
    h_j = jax.hessian(lambda v: jax.numpy.sum(jax.numpy.cumprod(v) ** 2))(v)
    np.testing.assert_allclose(h, h_j, rtol=1e-12, atol=1e-12)
    assert np.abs(h).max() > 1.0


def test_nan_ignoring_and_nonfinite_gradients():
    x, y = np.array([1.0, 2.0, np.nan, np.nan]), np.array([np.nan, 0.5, np.nan, 4.0])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    gx, gy = fg.grad(lambda a, b: fnp.sum(fnp.fmax(a, b) * w), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [1.0, 2.0, 3.0, 0.0])  # the non-NaN operand gets the
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0, 4.0])  # cotangent (both NaN: x's NaN)
    g = fg.grad(lambda v: fnp.sum(fnp.nan_to_num(v) * 0.5))(F64)
    np.testing.assert_array_equal(g, np.where(np.isfinite(F64), 0.5, 0.0))
    # logaddexp stays finite where exp overflows; its gradient is a softmax weight
    a, b = np.array([1000.0, -1000.0]), np.array([999.0, -1001.0])
    ga, gb = fg.grad(lambda a, b: fnp.sum(fnp.logaddexp(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, [1 / (1 + np.exp(-1.0))] * 2, rtol=1e-14)
    np.testing.assert_allclose(ga + gb, [1.0, 1.0], rtol=1e-14)


def test_numpy_ufuncs_on_tracers_dispatch_to_fnp():
    x = np.array([0.5, 2.0])
    g = fg.grad(lambda v: fnp.sum(np.exp2(v) + np.log2(v) + np.logaddexp(v, 1.0)))(x)
    want = np.exp2(x) * np.log(2) + 1 / (x * np.log(2)) + 1 / (1 + np.exp(1.0 - x))
    np.testing.assert_allclose(g, want, rtol=1e-13)


# --- errors ---------------------------------------------------------------------------------------

def test_errors_name_the_shapes_and_the_fix():
    jit = fg.jit
    with pytest.raises(fg.FuncgradError, match=r"diag: expected a 1-d or 2-d.*f64\[2,2,2\]"):
        jit(fnp.diag)(np.ones((2, 2, 2)))
    with pytest.raises(fg.FuncgradError,
                       match=r"(?s)take_along_axis.*i64\[2\].*f64\[2,3\].*expand_dims"):
        jit(lambda v: fnp.take_along_axis(v, np.array([0, 1]), 1))(np.ones((2, 3)))
    with pytest.raises(fg.FuncgradError, match=r"diagonal: needs two different axes"):
        jit(lambda v: fnp.diagonal(v, 0, 1, -1))(np.ones((2, 3)))
    with pytest.raises(fg.FuncgradError, match=r"positive: not defined for booleans"):
        jit(fnp.positive)(np.array([True]))


# --- arrays built from lists of traced values ---------------------------------------------------

def test_asarray_of_a_list_of_traced_values_under_jit_grad_and_vmap():
    # the builtin `any` was once shadowed by `fnp.any` in the module defining `asarray`; the list
    # path then crashed under jit (and worked under grad only because a generator is truthy)
    def f(x, y):
        weights = np.array([[1.0, 2.0], [3.0, 4.0]])
        return fnp.sum(fnp.asarray([[x, y], [fnp.sin(x), 2.0]]) * weights)

    x, y = np.float64(0.3), np.float64(-1.2)
    want = x + 2 * y + 3 * np.sin(x) + 8.0
    np.testing.assert_allclose(f(x, y), want)
    np.testing.assert_allclose(fg.jit(f)(x, y), want)
    np.testing.assert_allclose(fg.grad(f, argnums=(0, 1))(x, y), (1 + 3 * np.cos(x), 2.0))
    np.testing.assert_allclose(fg.jit(fg.grad(f))(x, y), 1 + 3 * np.cos(x))
    np.testing.assert_allclose(fg.vmap(f)(np.array([x, 0.0]), np.array([y, 1.0])),
                               [want, 2.0 + 8.0])


def test_array_of_traced_and_python_values_matches_numpy_dtype_and_shape():
    x32 = np.float32(1.5)
    for build in (fnp.array, fnp.asarray):
        got = fg.jit(lambda x, build=build: build([x, 1.0]))(x32)
        want = np.array([x32, 1.0])  # NumPy: the Python float counts as float64 in a list
        assert got.dtype == want.dtype and got.shape == (2,)
        np.testing.assert_array_equal(got, want)
        got = fg.jit(lambda x, build=build: build([x, x], dtype=np.float32))(x32)
        assert got.dtype == np.float32
        assert fg.jit(lambda x, build=build: build((x, 2 * x)).shape)(x32) == (2,)
    assert fg.grad(lambda x: fnp.array([x, x * x])[1])(3.0) == 6.0
    assert fg.make_ir(lambda x: fnp.array([[x, x], [x, x]]))(1.0).out_avals[0].shape == (2, 2)


# --- the split of funcgrad.numpy ------------------------------------------------------------------

def test_fnp_reexports_its_siblings_and_stays_within_the_size_budget():
    from funcgrad.numpy import contractions, sets, ufunc_objects
    for mod in (numpy_base, numpy_ufuncs, numpy_shapes, numpy_indexing, extra, rearrange,
                statistics, polynomial, contractions, ufunc_objects, sets):
        for name in mod.__all__:
            if mod is ufunc_objects or name not in ufunc_objects.__all__:  # (ufuncs as objects)
                assert getattr(fnp, name) is getattr(mod, name), name
    root = Path(fnp.__file__).parent
    for f in ("__init__.py", "_base.py", "ufuncs.py", "shapes.py", "indexing.py", "linalg.py",
              "fft.py", "extra.py", "rearrange.py", "statistics.py", "polynomial.py",
              "_operators.py", "contractions.py", "ufunc_objects.py", "sets.py"):
        n = len((root / f).read_text().splitlines())
        assert n <= 500, f"{f}: {n} lines"


def test_the_modules_of_fnp_import_only_the_ones_before_them():
    # no cycle inside the package: each module imports lower siblings only, never the package
    # itself (its __init__ once imported two siblings at its end, and they imported it back)
    order = ["_base", "ufuncs", "shapes", "indexing", "contractions", "linalg", "fft", "extra",
             "rearrange", "statistics", "sets", "polynomial", "ufunc_objects", "_operators",
             "__init__"]
    root = Path(fnp.__file__).parent
    assert sorted(p.stem for p in root.glob("*.py")) == sorted(order)
    for pos, name in enumerate(order):
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            names = [a.name for a in node.names]
            if node.level == 1:  # `from .shapes import sum`, `from . import shapes`
                for t in [node.module] if node.module else names:
                    assert t in order[:pos], f"{name}.py imports {t} from funcgrad.numpy"
            elif node.level == 2:
                assert node.module != "numpy" and "numpy" not in names, (
                    f"{name}.py imports the package funcgrad.numpy")


@pytest.mark.parametrize("module", ["funcgrad.numpy.indexing", "funcgrad.numpy.shapes",
                                    "funcgrad.numpy.ufuncs", "funcgrad.numpy._base",
                                    "funcgrad.numpy.linalg", "funcgrad.scipy.linalg"])
def test_a_sibling_module_imports_first_in_a_fresh_interpreter(module):
    code = f"import {module}, funcgrad.numpy as fnp; print(fnp.sort([3.0, 1.0]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(fnp.__file__).parent.parent.parent, check=True)
    assert out.stdout.strip() == "[1. 3.]"
