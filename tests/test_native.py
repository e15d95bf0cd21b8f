"""The native CPU tier of `jit` (funcgrad/backend/native.py): equal to the NumPy tier on the
primitive table and on loops and control flow, the `auto` tier switch, the disk cache reused by
a second process, and everything without Numba."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backend import native
from funcgrad.core import FuncgradError

sys.path.insert(0, str(Path(__file__).parent))
from specs import PRIMITIVE_SPECS  # noqa: E402

needs_numba = pytest.mark.skipif(
    not native.available(), reason="the native tier needs Numba (`pip install funcgrad[fast]`)")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _cache_dir(tmp_path_factory):
    old = os.environ.get("FUNCGRAD_CACHE_DIR")
    os.environ["FUNCGRAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("fgcache"))
    yield
    if old is None:
        del os.environ["FUNCGRAD_CACHE_DIR"]
    else:
        os.environ["FUNCGRAD_CACHE_DIR"] = old


def _both(f, *args, tol=1e-12):
    """Run `f` on both tiers; check equal values and dtypes; return the native jitted f."""
    fn = fg.jit(f, backend="native")
    got, want = fn(*args), fg.jit(f, backend="numpy")(*args)
    for g, w in zip(fg.tree_util.tree_leaves(got), fg.tree_util.tree_leaves(want)):
        t = max(tol, 1e-5) if np.asarray(w).dtype == np.float32 else tol  # (libm vs SIMD ulps)
        np.testing.assert_allclose(g, w, rtol=t, atol=t)
        assert np.asarray(g).dtype == np.asarray(w).dtype and np.shape(g) == np.shape(w)
    return fn


# --- equal to the NumPy tier on the whole primitive table -------------------------------------

@needs_numba
@pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])
def test_native_equals_numpy_tier_on_table(spec):
    _both(spec.fn, *spec.draw(0))


@needs_numba
def test_most_of_the_table_runs_natively():
    # the rest (gather/scatter, concatenation, sorts, cumulative ops, decompositions, special
    # functions) stays on the NumPy tier: the program falls back as a whole
    native_rows = []
    for s in PRIMITIVE_SPECS:
        args = s.draw(0)
        f = fg.jit(s.fn, backend="native")
        f(*args)
        native_rows.append(f.tier(*args) == "native")
    assert sum(native_rows) >= 120, sum(native_rows)
    assert fg.jit(lambda x: fnp.sin(x) * 2.0, backend="native").tier(np.ones(3)) in (
        "numpy", "native")


@needs_numba
@pytest.mark.parametrize("spec", PRIMITIVE_SPECS[::4], ids=[s.name for s in PRIMITIVE_SPECS[::4]])
def test_native_equals_numpy_tier_on_gradients(spec):
    args = spec.draw(1)
    nums = tuple(i for i, a in enumerate(args) if np.issubdtype(a.dtype, np.floating))
    _both(fg.grad(lambda *a: fnp.sum(fnp.sin(spec.fn(*a))), nums), *args, tol=1e-10)


# --- reductions over some axes, slices, pads, reversals, general contractions --------------

_R = np.random.default_rng(3)
_X3 = _R.standard_normal((3, 4, 5))
_X3_NAN = _X3.copy()
_X3_NAN[1, 2, 3] = np.nan
COVERAGE = {
    "max_rows": (lambda x: fnp.max(x, axis=1), [_X3[0].astype(np.float32)]),
    "max_axes_0_2": (lambda x: fnp.max(x, axis=(0, 2)), [_X3]),
    "min_axis_0_keepdims": (lambda x: fnp.min(x, axis=0, keepdims=True), [_X3]),
    "max_nan": (lambda x: (fnp.max(x, axis=2), fnp.min(x, axis=(0, 1))), [_X3_NAN]),
    "max_int": (lambda x: fnp.max(x, axis=1), [np.arange(12, dtype=np.int32).reshape(3, 4)]),
    "argmax_argmin": (lambda x: (fnp.argmax(x, axis=1), fnp.argmin(x, axis=0),
                                 fnp.argmax(x[0, 0])), [_X3]),
    "sum_axes_1_2": (lambda x: fnp.sum(x, axis=(1, 2)), [_X3]),
    "logsumexp_rows": (lambda x: fnp.log(fnp.sum(fnp.exp(x - fnp.max(x, axis=1, keepdims=True)),
                                                 axis=1)), [_X3[0]]),
    "slices": (lambda x: (x[1:], x[:, ::2, 1:4], x[::-1, 1, ::-2]), [_X3]),
    "pad": (lambda x: fnp.pad(x, ((1, 2), (0, 1)), constant_values=-1.0), [_X3[0]]),
    "pad_interior": (fg.grad(lambda x: fnp.sum(fnp.sin(x[1:, ::3]))), [_X3[0]]),  # (a strided
    # slice's transpose pads with interior zeros)
    "rev": (lambda x: fnp.flip(x, axis=(0, 2)), [_X3]),
    "batched_outer": (lambda x, y: fnp.einsum("bi,bj->bij", x, y),
                      [_R.standard_normal((4, 3)), _R.standard_normal((4, 5))]),
    "batched_matmul": (lambda x, y: fnp.einsum("bik,bkj->bij", x, y),
                       [_R.standard_normal((4, 3, 2)), _R.standard_normal((4, 2, 5))]),
    "stacked_rows_matmul": (lambda x, w: x @ w,
                            [_R.standard_normal((4, 1, 6)), _R.standard_normal((6, 3))]),
    "tensordot_transposed": (lambda x, y: fnp.tensordot(x, y, axes=([0, 2], [2, 0])),
                             [_X3, _R.standard_normal((5, 2, 3))]),
    "grad_of_rosenbrock_hvp": (lambda x, v: fg.jvp(fg.grad(lambda y: fnp.sum(
        100.0 * (y[1:] - y[:-1] ** 2) ** 2 + (1.0 - y[:-1]) ** 2)), (x,), (v,))[1],
        [_R.uniform(-1, 1, 20), _R.standard_normal(20)]),
}


@needs_numba
@pytest.mark.parametrize("name", list(COVERAGE))
def test_reductions_slices_pads_contractions_run_natively_and_equal(name):
    f, args = COVERAGE[name]
    fn = _both(f, *args)
    assert fn.tier(*args) == "native", name


def _small_loss(p, x, t):  # benchmarks/small_programs.py's per-example and MLP programs, smaller
    h = fnp.tanh(x @ p["W1"] + p["b1"])
    z = h @ p["W2"] + p["b2"]
    z = z - fnp.max(z, axis=-1, keepdims=True)
    return fnp.mean(fnp.log(fnp.sum(fnp.exp(z), axis=-1)) - fnp.sum(z * t, axis=-1))


_P = {"W1": _R.standard_normal((6, 5)).astype(np.float32) * 0.3,
      "b1": _R.standard_normal(5).astype(np.float32),
      "W2": _R.standard_normal((5, 3)).astype(np.float32) * 0.3,
      "b2": np.zeros(3, np.float32)}
_XB = _R.standard_normal((4, 6)).astype(np.float32)
_TB = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]


@needs_numba
@pytest.mark.parametrize("program", ["per_example_grads", "sgd_step"])
def test_the_benchmark_programs_run_natively(program):
    f = (fg.vmap(fg.grad(_small_loss), in_axes=(None, 0, 0)) if program == "per_example_grads"
         else lambda p, x, t: fg.tree_util.tree_map(
             lambda a, g: a - np.float32(0.1) * g, p, fg.grad(_small_loss)(p, x, t)))
    fn = _both(f, _P, _XB, _TB)
    assert fn.tier(_P, _XB, _TB) == "native"


@needs_numba
def test_sgd_step_broadcasts_no_full_size_array():
    # the learning rate and the relu's scalar branches stay scalars; the biases' and the
    # row-wise max's broadcasts are left to Numba's broadcasting (no np.full of a matrix, no
    # broadcast_to; the mean's seed 1/batch, negated as a vector, is the one np.full left)
    f = lambda p, x, t: fg.tree_util.tree_map(  # noqa: E731
        lambda a, g: a - np.float32(0.1) * g, p, fg.grad(_small_loss)(p, x, t))
    src = _both(f, _P, _XB, _TB).lower(_P, _XB, _TB).source
    assert re.findall(r"np\.full\(\(\d+,\)", src) == ["np.full((4,)"]
    assert src.count("np.full(") == 1 and "np.broadcast_to(" not in src
    assert "np.multiply(np.float32(0.10000000149011612), " in src


@needs_numba
@pytest.mark.parametrize("case", ["scalar", "row", "column", "both_scalar_in_where", "kept"])
def test_size_one_broadcasts_into_elementwise_ops_equal_numpy_tier(case):
    x, s = _R.standard_normal((4, 3)), np.float64(2.5)
    f, args = {
        "scalar": (lambda x, s: x * s - fnp.exp(s), (x, s)),
        "row": (lambda x, s: x - fnp.max(x, axis=0) * s, (x, s)),
        "column": (lambda x, s: x / fnp.sum(x, axis=1, keepdims=True) + s, (x, s)),
        "both_scalar_in_where": (lambda x, s: fnp.where(x > 0, s, 1.0) * x, (x, s)),
        # a broadcast that is also an output (or read by a non-elementwise op) is materialised
        "kept": (lambda x, s: (fnp.broadcast_to(s, (4, 3)), x * s,
                               fnp.max(fnp.broadcast_to(s, (5, 3)), axis=0)), (x, s)),
    }[case]
    src = _both(f, *args).lower(*args).source
    assert ("np.full((4, 3)" in src) == (case == "kept")
    assert "np.broadcast_to(" not in src


def test_per_example_matvec_is_one_matmul():
    # vmap of x @ W: the stacked (1, k) rows are folded into one (n, k) @ (k, m) product
    w = _R.standard_normal((6, 3))
    f = fg.jit(fg.vmap(lambda x: fnp.expand_dims(x, 0) @ w), backend="numpy")
    xs = _R.standard_normal((4, 6))
    np.testing.assert_allclose(f(xs), (xs @ w)[:, None, :], rtol=1e-13)
    assert "np.matmul(np.reshape(" in f.lower(xs).source


# --- loops and control flow -------------------------------------------------------------------

def _rosenbrock_descent(x0, y0):
    def step(i, c):
        x, y = c
        gx, gy = fg.grad(lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2, (0, 1))(x, y)
        return x - 0.001 * gx, y - 0.001 * gy
    return fg.fori_loop(0, 1000, step, (x0, y0))


LOOPS = {
    "fori_scalar": (lambda x: fg.fori_loop(0, 50, lambda i, c: c * 0.9 + fnp.sin(c), x),
                    [np.float64(0.3)]),
    "fori_f32_array": (lambda x: fg.fori_loop(0, 20, lambda i, c: fnp.tanh(c) * 1.5, x),
                       [np.linspace(-1, 1, 7).astype(np.float32)]),
    "while": (lambda x: fg.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * x),
                                      (0, 1.0)), [np.float64(1.7)]),
    "scan_ys": (lambda xs: fg.scan(lambda c, x: (c + x, c * x), 0.0, xs), [np.arange(1.0, 6.0)]),
    "scan_reverse_rows": (lambda xs: fg.scan(lambda c, x: (c * 0.5 + x, fnp.sum(x) * c),
                                             fnp.ones(3), xs, reverse=True),
                          [np.arange(12.0).reshape(4, 3)]),
    "cond": (lambda p, x: fg.cond(p, lambda x: x * 2.0, lambda x: -x, x),
             [np.bool_(True), np.arange(3.0)]),
    "switch": (lambda i, x: [fg.switch(i + k, [lambda x: x + 1, lambda x: x * 2, lambda x: -x], x)
                             for k in (-3, 0, 1, 2, 5)], [np.int32(0), np.float64(3.0)]),
    "nested_loops": (lambda x: fg.fori_loop(0, 5, lambda i, c: fg.while_loop(
        lambda d: d < 10.0, lambda d: d * 2.0 + 1.0, c * 0.1), x), [np.float64(1.0)]),
    "grad_through_scan": (fg.grad(lambda x: fg.scan(lambda c, _: (fnp.sin(c) * c, None), x,
                                                    None, length=10)[0]), [np.float64(0.7)]),
    "matvec_loop": (lambda a, v: fg.fori_loop(0, 10, lambda i, c: fnp.tanh(a @ c), v),
                    [np.eye(4) * 0.5 + 0.1, np.ones(4)]),
    "rosenbrock": (_rosenbrock_descent, [np.float64(-1.0), np.float64(1.0)]),
}


@needs_numba
@pytest.mark.parametrize("name", list(LOOPS))
def test_loops_and_control_flow_run_natively_and_equal(name):
    f, args = LOOPS[name]
    fn = _both(f, *args)
    assert fn.tier(*args) == "native", name
    assert "numba.njit" in fn.lower(*args).source


@needs_numba
def test_the_whole_loop_is_one_native_function():
    f = fg.jit(LOOPS["rosenbrock"][0], backend="native")
    args = LOOPS["rosenbrock"][1]
    f(*args)
    src = f.lower(*args).source
    assert "for i" in src and "np.dot" not in src and "def call" in src


@needs_numba
def test_outputs_are_fresh_arrays():
    x = np.arange(3.0)
    f = fg.jit(lambda x: (x, fnp.reshape(x, (3, 1)), x * 2.0), backend="native")
    outs = f(x)
    assert not any(np.shares_memory(o, x) for o in outs)
    assert [np.shape(o) for o in outs] == [(3,), (3, 1), (3,)]


# --- the auto tier switch -----------------------------------------------------------------------

@needs_numba
def test_auto_switches_after_the_call_count():
    f = fg.jit(lambda x: fnp.tanh(x) * x + 1.0)  # backend="auto" is the default
    x = np.linspace(-1, 1, 5)
    want = np.tanh(x) * x + 1.0
    for _ in range(native.AUTO_CALLS - 1):
        np.testing.assert_allclose(f(x), want)
    assert f.tier(x) == "numpy"
    np.testing.assert_allclose(f(x), want)  # this call starts the background compilation
    assert f.tier(x, wait=True) == "native"
    np.testing.assert_allclose(f(x), want, rtol=1e-14)


@needs_numba
def test_auto_keeps_large_loop_free_programs_on_numpy():
    f = fg.jit(lambda w, x: fnp.tanh(x @ w) * 2.0)  # a value over AUTO_SMALL elements
    w, x = np.ones((300, 300)) * 1e-3, np.ones((300, 300))
    assert 300 * 300 > native.AUTO_SMALL
    for _ in range(native.AUTO_CALLS + 1):
        f(w, x)
    assert f.tier(w, x, wait=True) == "numpy"
    g = fg.jit(lambda w, x: fnp.tanh(x @ w) * 2.0, backend="native")  # asked for: native
    np.testing.assert_allclose(g(w, x), f(w, x), rtol=1e-12)
    assert g.tier(w, x) == "native"


@needs_numba
def test_auto_switches_a_loop_at_its_second_call():
    f = fg.jit(lambda x: fg.fori_loop(0, 30, lambda i, c: c * 0.5 + 1.0, x))
    x = np.float64(3.0)
    first = f(x)  # the NumPy code answers at once
    assert f.tier(x, wait=True) == "numpy"
    np.testing.assert_allclose(f(x), first, rtol=1e-14)  # this call starts the compilation
    assert f.tier(x, wait=True) == "native"
    np.testing.assert_allclose(f(x), first, rtol=1e-14)


@needs_numba
def test_auto_keeps_loops_over_large_values_on_numpy():
    # a loop whose body works on large arrays (BLAS and NumPy kernels are the floor there, the
    # loop's dispatch a small part) stays on NumPy, however large only the inside values are
    w = np.full((300, 300), 1e-3)
    assert 300 * 300 > native.AUTO_SMALL
    f = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: fnp.sum(fnp.tanh(w * c[0])) * c, x))
    x = np.array([1.0, 2.0])
    for _ in range(3):
        got = f(x)
    assert f.tier(x, wait=True) == "numpy"
    g = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: fnp.sum(fnp.tanh(w * c[0])) * c, x),
               backend="native")  # asked for: native
    np.testing.assert_allclose(g(x), got, rtol=1e-9)  # (sums of 90,000 terms in two orders)
    assert g.tier(x) == "native"


@needs_numba
def test_auto_keeps_numpy_for_what_native_does_not_lower():
    f = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: fnp.sort(c) * 2.0, x))
    x = np.array([3.0, 1.0, 2.0])
    f(x)
    assert f.tier(x, wait=True) == "numpy"
    np.testing.assert_allclose(f(x), [8.0, 16.0, 24.0])


def test_backend_numpy_never_tiers_up():
    f = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: c + 1.0, x), backend="numpy")
    x = np.float64(0.0)
    assert f(x) == 3.0 and f.tier(x, wait=True) == "numpy"


def test_unknown_backend_is_rejected():
    with pytest.raises(FuncgradError, match="backend='llvm'.*'numpy', 'auto'"):
        fg.jit(lambda x: x, backend="llvm")


# --- without Numba ------------------------------------------------------------------------------

def test_without_numba_auto_is_numpy_and_native_says_how_to_install(monkeypatch):
    monkeypatch.setattr(native, "available", lambda: False)
    f = fg.jit(lambda x: fg.fori_loop(0, 3, lambda i, c: c * 2.0, x))
    x = np.float64(1.0)
    assert f(x) == 8.0 and f.tier(x, wait=True) == "numpy"
    with pytest.raises(FuncgradError, match=r"needs Numba.*pip install funcgrad\[fast\]"):
        fg.jit(lambda x: x, backend="native")


def test_importing_and_jitting_never_imports_numba():
    code = ("import sys, numpy as np, funcgrad as fg\n"
            "f = fg.jit(lambda x: x * 2.0)\n"
            "assert f(np.ones(2))[0] == 2.0 and 'numba' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- the disk cache -----------------------------------------------------------------------------

_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, funcgrad as fg, funcgrad.numpy as fnp
    f = fg.jit(lambda x: fg.fori_loop(0, 100, lambda i, c: c * 0.99 + fnp.sin(c), x),
               backend="native")
    x = np.float64(0.5)
    print(repr(float(f(x))))
    k = f._cache[next(iter(f._cache))].compiled.kernel
    print(sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))
""")


@needs_numba
def test_disk_cache_is_reused_by_a_second_process(tmp_path):
    env = dict(os.environ, FUNCGRAD_CACHE_DIR=str(tmp_path))

    def run():
        out = subprocess.run([sys.executable, "-c", _SCRIPT], check=True, cwd=REPO, env=env,
                             capture_output=True, text=True).stdout.split("\n")
        return out[0], out[1]
    v1, stats1 = run()
    v2, stats2 = run()
    assert v1 == v2
    assert stats1 == "0 1" and stats2 == "1 0"  # compiled once, then loaded from disk
    assert list((tmp_path / "native").glob("fg_*.py"))
    assert list((tmp_path / "native" / "__pycache__").glob("*.nbi"))


@needs_numba
@pytest.mark.parametrize("x", [0.5, np.float64(0.5), np.float32(0.5), np.array(0.5)])
def test_scalar_arguments_tier_up_on_the_cached_call_path(x):
    # scalars take jit's cached-call path; the auto tier switch still counts those calls
    f = lambda x: fnp.tanh(x) * x + 1.0  # noqa: E731
    auto = fg.jit(f)
    for _ in range(native.AUTO_CALLS + 1):
        got = auto(x)
    assert auto.tier(x) == "native"
    want = fg.jit(f, backend="numpy")(x)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    _both(f, x)
