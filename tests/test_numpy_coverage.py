"""How much of `jax.numpy` `funcgrad.numpy` covers, and the names added for that coverage.

`test_jax_numpy_coverage` enumerates `jax.numpy`'s public callables and lists every one missing
here with its reason; the table tests run each added function on plain arrays (NumPy itself),
under `jit` (traced) and under `grad`, against JAX as the oracle.
"""
from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

jax.config.update("jax_enable_x64", True)

# names of jax.numpy that funcgrad.numpy leaves out, with the reason
_ML_DTYPE = "an ml_dtypes narrow type: NumPy has no such dtype"
OMITTED = {
    "bfloat16": _ML_DTYPE, "int1": _ML_DTYPE, "int2": _ML_DTYPE, "int4": _ML_DTYPE,
    "uint1": _ML_DTYPE, "uint2": _ML_DTYPE, "uint4": _ML_DTYPE, "float4_e2m1fn": _ML_DTYPE,
    "float6_e2m3fn": _ML_DTYPE, "float6_e3m2fn": _ML_DTYPE, "float8_e3m4": _ML_DTYPE,
    "float8_e4m3": _ML_DTYPE, "float8_e4m3b11fnuz": _ML_DTYPE, "float8_e4m3fn": _ML_DTYPE,
    "float8_e4m3fnuz": _ML_DTYPE, "float8_e5m2": _ML_DTYPE, "float8_e5m2fnuz": _ML_DTYPE,
    "float8_e8m0fnu": _ML_DTYPE,
}


def _public_callables(module) -> list[str]:
    return sorted(n for n in dir(module) if not n.startswith("_")
                  and callable(getattr(module, n)) and not inspect.ismodule(getattr(module, n)))


def test_jax_numpy_coverage():
    names = _public_callables(jnp)
    missing = [n for n in names if not hasattr(fnp, n)]
    unexplained = [n for n in missing if n not in OMITTED]
    assert not unexplained, f"missing from funcgrad.numpy without a reason: {unexplained}"
    covered = 1 - len(missing) / len(names)
    print(f"funcgrad.numpy covers {len(names) - len(missing)} of {len(names)} jax.numpy "
          f"callables ({covered:.1%}); omitted: {missing}")
    assert covered >= 0.95


def test_added_names_are_exported_without_helpers():
    for helper in ("np", "functools", "uf", "sh", "ix", "ex", "la", "Tracer"):
        assert helper not in fnp.__dict__ or helper == "ndarray", helper


RNG = np.random.default_rng(0)
V = RNG.normal(size=6)
W = RNG.normal(size=6)
M = RNG.normal(size=(3, 4))
VNAN = np.array([1.0, np.nan, -2.0, 3.5, np.nan, 0.5])
XP, FP = np.array([-1.0, 0.0, 0.5, 2.0]), np.array([2.0, -1.0, 0.0, 3.0])

# (name, f(m, *args) with m = fnp or jnp, args, differentiable in the first argument)
CASES = [
    ("hypot", lambda m, x, y: m.hypot(x, y), (V, W), True),
    ("copysign", lambda m, x, y: m.copysign(x, y), (V, W), True),
    ("heaviside", lambda m, x: m.heaviside(x, 0.5), (np.array([-1.0, 0.0, 2.0]),), False),
    ("sinc", lambda m, x: m.sinc(x), (np.array([0.0, 0.3, -1.7, 2.0, 1e-6]),), True),
    ("fmod", lambda m, x: m.fmod(x, 0.7), (V,), True),
    ("deg2rad", lambda m, x: m.deg2rad(x) + m.rad2deg(x), (V,), True),
    ("signbit", lambda m, x: m.signbit(x), (np.array([-0.0, 0.0, -1.0, 2.0]),), False),
    ("float_power", lambda m, x: m.float_power(m.abs(x), 1.5), (V,), True),
    ("logaddexp2", lambda m, x, y: m.logaddexp2(x, y), (V, W), True),
    ("ldexp", lambda m, x: m.ldexp(x, np.array([1, -2, 3, 0, 1, 2])), (V,), True),
    ("isclose", lambda m, x, y: m.isclose(x, x + 1e-9) & ~m.isclose(x, y), (V, W), False),
    ("allclose", lambda m, x: m.allclose(x, x * (1 + 1e-7)), (V,), False),
    ("array_equal", lambda m, x: m.array_equal(x, x), (V,), False),
    ("diff", lambda m, x: m.diff(x, n=2, axis=1), (M,), True),
    ("diff_prepend", lambda m, x: m.diff(x, prepend=0.0), (V,), True),
    ("ediff1d", lambda m, x: m.ediff1d(x, to_begin=np.array([9.0])), (V,), True),
    ("array_split", lambda m, x: m.array_split(x, 4)[1], (V,), True),
    ("hsplit", lambda m, x: m.hsplit(x, 2)[1], (M,), True),
    ("column_stack", lambda m, x: m.column_stack([x, x * 2]), (V,), True),
    ("dstack", lambda m, x: m.dstack([x, x]), (M,), True),
    ("block", lambda m, x: m.block([[x, x], [x, x]]), (M,), True),
    ("fliplr_rot90", lambda m, x: m.fliplr(x) + m.flipud(x) + m.rot90(x, 2), (M,), True),
    ("rot90_k1", lambda m, x: m.rot90(x), (M,), True),
    ("rot90_k3", lambda m, x: m.rot90(x, 3), (M,), True),
    ("rollaxis", lambda m, x: m.rollaxis(x[None], 2), (M,), True),
    ("resize", lambda m, x: m.resize(x, (4, 5)), (M,), True),
    ("append", lambda m, x: m.append(x, x[:2]), (V,), True),
    ("insert", lambda m, x: m.insert(x, 2, 7.0), (V,), True),
    ("insert_many", lambda m, x: m.insert(x, np.array([0, 3]), np.array([1.0, 2.0])), (V,),
     True),
    ("delete", lambda m, x: m.delete(x, np.array([1, 3])), (V,), True),
    ("select", lambda m, x: m.select([x < -0.5, x > 0.5], [x, x * 2], 0.0), (V,), True),
    ("choose", lambda m, x: m.choose(np.array([0, 1, 1, 0, 1, 0]), [x, x * 3]), (V,), True),
    ("piecewise", lambda m, x: m.piecewise(x, [x < 0], [lambda t: -t, lambda t: t ** 2]), (V,),
     True),
    ("meshgrid", lambda m, x: m.meshgrid(x[:3], x[3:5])[0] * m.meshgrid(x[:3], x[3:5])[1],
     (V,), True),
    ("meshgrid_ij", lambda m, x: m.meshgrid(x[:3], x[3:5], indexing="ij")[1], (V,), True),
    ("median", lambda m, x: m.median(x, axis=1), (M,), True),
    ("quantile", lambda m, x: m.quantile(x, np.array([0.1, 0.75]), axis=0), (M,), True),
    ("percentile_keepdims", lambda m, x: m.percentile(x, 30, axis=1, keepdims=True), (M,), True),
    ("nanmedian", lambda m, x: m.nanmedian(x), (VNAN,), True),
    ("nanquantile", lambda m, x: m.nanquantile(x, 0.3), (VNAN,), True),
    ("ptp", lambda m, x: m.ptp(x, axis=0), (M,), True),
    ("average", lambda m, x: m.average(x, axis=1, weights=np.arange(1.0, 5.0)), (M,), True),
    ("nansum_mean", lambda m, x: m.nansum(x) + m.nanmean(x) + m.nanstd(x), (VNAN,), True),
    ("nanmax_min", lambda m, x: m.nanmax(x) - m.nanmin(x) + m.nanprod(x), (VNAN,), True),
    ("nanargmax", lambda m, x: m.nanargmax(x) + m.nanargmin(x), (VNAN,), False),
    ("nancumsum", lambda m, x: m.nancumsum(x) + m.nancumprod(x), (VNAN,), True),
    ("cumulative_sum", lambda m, x: m.cumulative_sum(x, axis=1, include_initial=True), (M,),
     True),
    ("cov", lambda m, x: m.cov(x), (M,), True),
    ("corrcoef", lambda m, x: m.corrcoef(x), (M,), True),
    ("gradient", lambda m, x: m.gradient(x, 0.5), (V,), True),
    ("trapezoid", lambda m, x: m.trapezoid(x, dx=0.3), (V,), True),
    ("trapezoid_x", lambda m, x: m.trapezoid(x, np.cumsum(np.arange(1.0, 7.0))), (V,), True),
    ("interp", lambda m, x: m.interp(x, XP, FP), (np.array([-2.0, -0.5, 0.2, 1.0, 3.0]),), True),
    ("convolve", lambda m, x, y: m.convolve(x, y[:3]), (V, W), True),
    ("convolve_same", lambda m, x, y: m.convolve(x, y[:3], mode="same"), (V, W), True),
    ("convolve_valid", lambda m, x, y: m.convolve(x[:2], y, mode="valid"), (V, W), True),
    ("correlate", lambda m, x, y: m.correlate(x, y[:3]), (V, W), True),
    ("correlate_full", lambda m, x, y: m.correlate(x[:4], y, mode="full"), (V, W), True),
    ("searchsorted", lambda m, x: m.searchsorted(XP, x, side="right"), (V,), False),
    ("digitize", lambda m, x: m.digitize(x, XP), (V,), False),
    ("isin", lambda m, x: m.isin(m.round(x), np.array([0.0, 1.0])), (V,), False),
    ("kron", lambda m, x: m.kron(x, x[:2, :2]), (M,), True),
    ("cross", lambda m, x, y: m.cross(x.reshape(2, 3), y.reshape(2, 3)), (V, W), True),
    ("cross_2d", lambda m, x, y: m.cross(x.reshape(3, 2), y.reshape(3, 2)), (V, W), True),
    ("vecdot", lambda m, x: m.vecdot(x, x[::-1]), (M,), True),
    ("matvec", lambda m, x: m.matvec(x, x[0]) + m.vecmat(x[:, 0], x).sum(), (M[:, :3],), True),
    ("polyval", lambda m, x, y: m.polyval(x[:4], y), (V, W), True),
    ("polyadd_mul", lambda m, x: m.polyadd(x[:2], m.polymul(x[:3], x[3:])), (V,), True),
    ("polyder_int", lambda m, x: m.polyder(x, 2) + m.polyint(x)[:4].sum(), (V,), True),
    ("vander", lambda m, x: m.vander(x[:4]), (V,), True),
    ("poly", lambda m, x: m.poly(x[:3]), (V,), True),
    ("polyfit", lambda m, x: m.polyfit(np.arange(6.0), x, 2), (V,), True),
    ("bincount", lambda m, x: m.bincount(np.array([0, 1, 1, 4, 2, 1]), x, length=6), (V,), True),
    ("histogram", lambda m, x: m.histogram(x, 4, range=(-2.0, 2.0))[0], (V,), False),
    ("nonzero_size", lambda m, x: m.nonzero(x > 0, size=5)[0], (V,), False),
    ("apply_along_axis", lambda m, x: m.apply_along_axis(lambda r: r * r.sum(), 1, x), (M,),
     True),
    ("unstack", lambda m, x: m.unstack(x)[1], (M,), True),
    ("put_along_axis", lambda m, x: m.put_along_axis(x, np.array([[0], [2], [1]]), 5.0, 1,
                                                     inplace=False), (M,), True),
    ("fill_diagonal", lambda m, x: m.fill_diagonal(x, 2.0, inplace=False), (M[:, :3],), True),
    ("einsum_trace", lambda m, x: m.einsum("ii", x[:, :3]), (M,), True),
    ("einsum_diag", lambda m, x: m.einsum("ii->i", x[:, :3]), (M,), True),
    ("einsum_diag_contract", lambda m, x: m.einsum("ij,jj->i", x, x[:, :4].T @ x[:, :4]), (M,),
     True),
    ("einsum_3d_diag", lambda m, x: m.einsum("iji->j", m.reshape(m.kron(x[:, :2], x[:2, :3]),
                                                                 (6, 6))[:3, :3][None] *
                                             m.ones((3, 1, 1))), (M,), True),
    ("sort_partition", lambda m, x: m.partition(x, 2)[2:].sum() + m.take(x, m.argpartition(x, 2)
                                                                        )[:3].sum(), (V,), True),
]


def _jnp_args(args):
    return [jnp.asarray(a) for a in args]


@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_match_jax_eager_and_jit(case):
    _, f, args, _ = case
    expected = f(jnp, *_jnp_args(args))
    eager = f(fnp, *args)
    jitted = fg.jit(lambda *a: f(fnp, *a))(*args)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(expected), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(expected), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c[3]], ids=[c[0] for c in CASES if c[3]])
def test_gradients_match_jax(case):
    _, f, args, _ = case

    def loss(m, x, *rest):
        return m.sum(m.sin(f(m, x, *rest)))
    g = fg.grad(lambda x: loss(fnp, x, *args[1:]))(args[0])
    gj = jax.grad(lambda x: loss(jnp, x, *_jnp_args(args[1:])))(jnp.asarray(args[0]))
    mask = ~np.isnan(np.asarray(gj))  # JAX gives NaN gradients at NaN inputs of nan* reductions
    np.testing.assert_allclose(np.asarray(g)[mask], np.asarray(gj)[mask], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["hypot", "sinc", "median", "convolve", "interp", "kron",
                                  "polyval", "cov"])
def test_vmap_matches_loop(name):
    _, f, args, _ = next(c for c in CASES if c[0] == name)
    xs = np.stack([args[0], args[0] * 0.5 + 0.1, -args[0]])
    out = fg.vmap(lambda x: f(fnp, x, *args[1:]))(xs)
    for i in range(3):
        np.testing.assert_allclose(out[i], f(np, xs[i], *args[1:]), rtol=1e-10, atol=1e-12)


def test_second_order_through_composites():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    fg.testing.check_grads(lambda x: fnp.sum(fnp.hypot(x, 1.5) * fnp.sinc(x)), (x,), order=2)
    fg.testing.check_grads(lambda x: fnp.median(x) * fnp.trapezoid(x ** 2), (x,), order=2)


@pytest.mark.parametrize("fn,args", [
    (fnp.unique, (np.array([3, 1, 3]),)), (fnp.argwhere, (np.array([0, 2, 0]),)),
    (fnp.nonzero, (np.array([0.0, 2.0]),)), (fnp.union1d, (np.arange(3), np.arange(2))),
    (fnp.roots, (np.array([1.0, -3.0, 2.0]),)),
])
def test_concrete_only_functions(fn, args):
    """Data-dependent output shapes: NumPy's answer on concrete values, a teaching error when
    traced without `size=` (naming the function and the fix)."""
    expected = getattr(np, fn.__name__)(*args)
    got = fn(*args)
    for a, b in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(expected) if not isinstance(expected, tuple) else expected):
        np.testing.assert_allclose(a, b)
    with pytest.raises(fg.FuncgradError, match=f"{fn.__name__}: (needs concrete values|on "
                                               f"traced values pass size=)"):
        fg.jit(fn)(*args)


def test_bincount_needs_length_when_traced():
    with pytest.raises(fg.FuncgradError, match="bincount: on traced values pass length="):
        fg.jit(fnp.bincount)(np.array([0, 1, 1]))
    np.testing.assert_array_equal(fg.jit(lambda x: fnp.bincount(x, length=4))(np.array([0, 3, 3])),
                                  [1, 0, 0, 2])


def test_np_ufunc_dispatch_reaches_added_functions():
    out = fg.jit(lambda x: np.hypot(x, 2.0) + np.copysign(1.0, x))(V)
    np.testing.assert_allclose(out, np.hypot(V, 2.0) + np.copysign(1.0, V))
