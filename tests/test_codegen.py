"""NumPy code generation (funcgrad/backend/numpy_codegen.py): one line per equation, direct
NumPy calls, `out=` reuse of dead buffers only where safe, donation, dtypes and aliasing."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backend.numpy_codegen import compile_ir
from funcgrad.primitives.contraction import dot_general

X = np.linspace(-1.0, 1.0, 6, dtype=np.float32)


def _src(f, *args, **kw):
    return fg.jit(f, **kw).lower(*args).source


def test_one_line_per_equation_and_no_bind():
    f = lambda x: fnp.exp(fnp.sin(x) * x)  # noqa: E731
    lo = fg.jit(f).lower(X)
    body = lo.source.strip().splitlines()
    assert len(body) == 1 + len(lo.ir.eqns) + 1  # def, equations, return
    assert "bind" not in lo.source
    assert "_sin" in lo.source and "_exp" in lo.source


def test_dead_buffers_are_reused_with_out():
    src = _src(lambda x: fnp.exp(fnp.sin(x) * x) + 1.0, X)
    assert src.count("out=") >= 2
    np.testing.assert_allclose(fg.jit(lambda x: fnp.exp(fnp.sin(x) * x) + 1.0)(X),
                               np.exp(np.sin(X) * X) + 1.0, rtol=1e-6)


def test_inputs_are_never_overwritten_without_donation():
    x = X.copy()
    f = fg.jit(lambda x: fnp.tanh(x) * 3.0 - x)
    f(x)
    np.testing.assert_array_equal(x, X)
    assert "out=a" not in f.lower(x).source


def test_viewed_buffers_are_not_reused():
    # y is reshaped (a view) and also fed to exp: writing exp into y would corrupt the view
    def f(x):
        y = fnp.sin(x)
        return fnp.reshape(y, (2, 3)), fnp.exp(y)
    r, e = fg.jit(f)(X)
    np.testing.assert_allclose(r, np.sin(X).reshape(2, 3), rtol=1e-6)
    np.testing.assert_allclose(e, np.exp(np.sin(X)), rtol=1e-6)


def test_broadcast_of_scalars_folds_into_numpy_broadcasting():
    src = _src(lambda x: x * 2.0 + fnp.ones_like(x), X)
    assert "broadcast_to" not in src and "_bcast" not in src


def test_donated_inputs_may_be_reused():
    f = fg.jit(lambda x: fnp.sin(x) * 2.0, donate_argnums=0)
    x = np.linspace(0, 1, 5)
    assert "out=" in f.lower(x).source
    src_line = [ln for ln in f.lower(x).source.splitlines() if "_sin" in ln][0]
    assert "out=" in src_line  # sin writes straight into the donated input
    np.testing.assert_allclose(f(x.copy()), np.sin(np.linspace(0, 1, 5)) * 2.0)
    ro = np.linspace(0, 1, 5)
    ro.flags.writeable = False  # not writeable: copied, never written
    np.testing.assert_allclose(f(ro), np.sin(ro) * 2.0)


def test_dtypes_and_scalar_outputs():
    f = fg.jit(lambda x: (fnp.sum(x * 2.0), x > 0, x.astype(np.int32)))
    s, b, i = f(X)
    assert isinstance(s, np.ndarray) and s.shape == () and s.dtype == np.float32
    assert b.dtype == np.bool_ and i.dtype == np.int32
    np.testing.assert_allclose(s, np.sum(X * 2), rtol=1e-6)


def test_constant_outputs_are_fresh_copies():
    c = np.arange(3.0)
    f = fg.jit(lambda x: (x, c * 2.0))
    _, out1 = f(np.ones(3))
    out1[:] = -1
    _, out2 = f(np.ones(3))
    np.testing.assert_array_equal(out2, c * 2.0)


@pytest.mark.parametrize("dn,xs,ys,fast", [
    ((((1,), (0,)), ((), ())), (4, 3), (3, 5), True),
    ((((0,), (0,)), ((), ())), (3, 4), (3, 5), True),
    ((((1,), (1,)), ((), ())), (4, 3), (5, 3), True),
    ((((0,), (1,)), ((), ())), (3, 4), (5, 3), True),
    ((((0,), (0,)), ((), ())), (3,), (3,), True),
    ((((2,), (1,)), ((0,), (0,))), (2, 4, 3), (2, 3, 5), True),
    ((((1,), (2,)), ((0,), (0,))), (2, 3, 4), (2, 5, 3), True),
    ((((2,), (0,)), ((), ())), (2, 4, 3), (3, 5), True),
    ((((2,), (1,)), ((), ())), (2, 4, 3), (5, 3), True),
    ((((1,), (1,)), ((0,), (0,))), (6, 1, 4), (6, 1, 5), True),  # size-1 contraction: outer
    ((((1,), (0,)), ((), ())), (4, 1), (1, 5), True),
    ((((0,), (2,)), ((1,), (0,))), (1, 3, 4), (3, 5, 1), True),
    ((((1,), (0,)), ((), ())), (3, 4), (4, 2, 5), False),  # not a matmul shape: the impl
])
def test_dot_general_lowerings_match_numpy(dn, xs, ys, fast):
    r = np.random.default_rng(0)
    x, y = r.standard_normal(xs), r.standard_normal(ys)
    f = fg.jit(lambda a, b: dot_general(a, b, dn))
    want = np.asarray(dot_general(x, y, dn))  # the eager impl
    got = f(x, y)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)
    src = f.lower(x, y).source
    assert ("np.matmul" in src or "np.multiply" in src) == fast
    assert ("_dot_general" in src) != fast


def test_compile_ir_directly():
    ir = fg.make_ir(lambda x, y: fnp.maximum(x, y) * x)(X, X[::-1].copy())
    c = compile_ir(ir)
    out = c(X, X[::-1].copy())
    np.testing.assert_allclose(out[0], np.maximum(X, X[::-1]) * X)
    assert c.source.startswith("def jitted(")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.float16])
def test_select_lowering_is_exact(dtype):
    r = np.random.default_rng(1)
    a = r.standard_normal((4, 5)).astype(dtype)
    b = r.standard_normal((4, 5)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        a[0, :3] = [np.nan, -np.inf, -0.0]
    c = r.standard_normal((4, 5)) > 0
    f = fg.jit(lambda c, a, b: (fnp.where(c, a, b), fnp.where(c, a, 2), fnp.where(c, 3, b)))
    assert "_select_bits" in f.lower(c, a, b).source
    for got, want in zip(f(c, a, b), (np.where(c, a, b), np.where(c, a, dtype(2)),
                                      np.where(c, dtype(3), b))):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_outputs_never_alias_constants():
    c = np.arange(6.0)
    f = fg.jit(lambda x: (fnp.reshape(c, (2, 3)), c[1:4], x))
    a, b, _ = f(np.ones(1))
    a[:] = -1
    b[:] = -1
    a2, b2, _ = f(np.ones(1))
    np.testing.assert_array_equal(a2, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b2, [1.0, 2.0, 3.0])


def test_module_docstring_example_source():
    import funcgrad.backend.numpy_codegen as cg
    x = np.ones(3, np.float32)
    src = fg.jit(lambda x, y: fnp.sin(x) * y + 1.0).lower(x, x).source
    assert textwrap.indent(src, "    ") in cg.__doc__


@pytest.mark.parametrize("arg", [0.7, 3, True, 0.5 + 1j, np.float64(0.7), np.float32(0.7),
                                 np.int32(3), np.bool_(True), np.array(0.7)])
def test_scalar_arguments_take_the_cached_call_path_with_the_same_key(arg):
    # the cached-call path for positional arrays and scalars must key a scalar exactly as the
    # general path does (shape, dtype, weak type), so it reuses the one trace and result type
    f = lambda x, y: x * 2 + y  # noqa: E731
    jf, y = fg.jit(f, backend="numpy"), np.ones(2, np.float32)
    first = jf(arg, y)  # traced through the general path
    again = jf(arg, y)  # the cached-call path
    key, *_ = jf._key((arg, y), {})
    assert jf._n_traces == 1 and jf.cache_size() == 1 and jf._last_key == key
    assert again.dtype == first.dtype
    np.testing.assert_allclose(again, first)
    np.testing.assert_allclose(again, f(np.asarray(arg), y), rtol=1e-6)
    # a Python scalar is weakly typed, a NumPy scalar is not: two signatures, as before
    jf(float(np.float32(0.7)) if isinstance(arg, float) else 0.7, y)
    assert jf._n_traces == (1 if type(arg) is float else 2)
