"""`jit` (funcgrad/transforms/jit.py): equals eager over the primitive table, composes with every
transform, caches per abstract signature and explains its misses, and teaches on misuse."""
from __future__ import annotations

import gc
import sys
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import ConcretizationError, FuncgradError
from funcgrad.primitives import elementwise
from funcgrad.transforms.jit import api as jit_mod

sys.path.insert(0, str(Path(__file__).parent))
from specs import PRIMITIVE_SPECS  # noqa: E402

R = np.random.default_rng(0)
X = R.standard_normal(5)


def f(x):
    return fnp.sum(fnp.tanh(x) * x ** 2 + fnp.sin(x))


# --- jit equals eager on the primitive table --------------------------------------------------

@pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])
def test_jit_equals_eager(spec):
    args = spec.draw(0)
    want = spec.fn(*args)
    got = fg.jit(spec.fn)(*args)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.asarray(got).dtype == np.asarray(want).dtype


@pytest.mark.parametrize("spec", PRIMITIVE_SPECS[::3], ids=[s.name for s in PRIMITIVE_SPECS[::3]])
def test_jit_of_grad_equals_grad_on_table(spec):
    args = spec.draw(1)
    nums = tuple(i for i, a in enumerate(args) if np.issubdtype(a.dtype, np.floating))

    def loss(*a):
        return fnp.sum(fnp.sin(spec.fn(*a)))
    want = fg.grad(loss, nums)(*args)
    for got in (fg.jit(fg.grad(loss, nums))(*args), fg.grad(fg.jit(loss), nums)(*args)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# --- compositions -----------------------------------------------------------------------------

def test_compositions():
    jf = fg.jit(f)
    g = fg.grad(f)(X)
    np.testing.assert_allclose(fg.jit(fg.grad(f))(X), g, rtol=1e-12)
    np.testing.assert_allclose(fg.grad(jf)(X), g, rtol=1e-12)
    p, t = fg.jvp(jf, (X,), (np.ones(5),))
    np.testing.assert_allclose(t, np.dot(g, np.ones(5)), rtol=1e-12)
    np.testing.assert_allclose(p, f(X), rtol=1e-12)
    B = R.standard_normal((3, 5))
    np.testing.assert_allclose(fg.vmap(jf)(B), [f(b) for b in B], rtol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.grad(f)))(B), [fg.grad(f)(b) for b in B],
                               rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(fg.grad(jf))(B), [fg.grad(f)(b) for b in B], rtol=1e-12)
    h = fg.grad(fg.grad(lambda s: fnp.tanh(s) ** 3))
    np.testing.assert_allclose(fg.jit(h)(0.3), h(0.3), rtol=1e-12)
    np.testing.assert_allclose(fg.grad(fg.grad(fg.jit(lambda s: fnp.tanh(s) ** 3)))(0.3),
                               h(0.3), rtol=1e-12)
    np.testing.assert_allclose(fg.hessian(jf)(X), fg.hessian(f)(X), rtol=1e-10)
    np.testing.assert_allclose(fg.jacrev(fg.jit(fnp.sin))(X), np.diag(np.cos(X)), rtol=1e-12)


def test_vmap_of_jit_with_unbatched_and_moved_axes():
    jg = fg.jit(lambda a, b: a * b + fnp.sum(a))
    A, b = R.standard_normal((5, 3)), R.standard_normal(5)
    got = fg.vmap(jg, in_axes=(1, None))(A, b)
    np.testing.assert_allclose(got, [A[:, i] * b + A[:, i].sum() for i in range(3)])


def test_nested_jit_inlines_cleanly():
    inner = fg.jit(lambda x: fnp.sin(x) * 2.0)
    outer = fg.jit(lambda x: inner(x) + inner(x))
    np.testing.assert_allclose(outer(X), 4 * np.sin(X), rtol=1e-12)
    names = [e.prim.name for e in outer.lower(X).ir.eqns]
    assert names == ["sin", "broadcast_in_dim", "mul", "add"]
    ir = fg.make_ir(lambda x: inner(x) * 3.0)(X)
    assert [e.prim.name for e in ir.eqns][0] == "jit"  # staging keeps the call


def test_grad_of_jit_runs_forward_and_backward_compiled(monkeypatch):
    calls = []
    orig = elementwise.sin_p.impl
    monkeypatch.setattr(elementwise.sin_p, "impl", lambda x: calls.append(1) or orig(x))
    jf = fg.jit(lambda x: fnp.sum(fnp.sin(x) * fnp.sin(x * 2.0)))
    g = fg.grad(jf)(X)
    want = np.cos(X) * np.sin(2 * X) + 2 * np.sin(X) * np.cos(2 * X)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert calls == []  # generated code calls NumPy directly: no op-by-op impl dispatch


def test_jit_closing_over_an_outer_tracer():
    x = R.standard_normal(4)
    g = fg.grad(lambda y: fg.jit(lambda v: fnp.sum(fnp.sin(v * y)))(x))(0.7)
    np.testing.assert_allclose(g, np.sum(np.cos(x * 0.7) * x), rtol=1e-12)


def test_pytrees_kwargs_and_static_args():
    @fg.jit
    def step(params, x, scale=1.0):
        return {"w": params["w"] - scale * x, "n": params["n"]}
    out = step({"w": np.ones(3), "n": np.arange(2)}, np.ones(3), scale=0.5)
    np.testing.assert_allclose(out["w"], 0.5 * np.ones(3))
    powr = fg.jit(lambda x, n: x ** n, static_argnums=1)
    np.testing.assert_allclose(powr(X, 3), X ** 3, rtol=1e-12)
    named = fg.jit(lambda x, mode: fnp.sin(x) if mode == "sin" else fnp.cos(x),
                   static_argnames="mode")
    np.testing.assert_allclose(named(X, mode="cos"), np.cos(X))
    np.testing.assert_allclose(named(X, "sin"), np.sin(X))


# --- the cache --------------------------------------------------------------------------------

def test_cache_hits_and_misses():
    jf = fg.jit(lambda x: fnp.sum(fnp.tanh(x) * x))
    jf(X)
    jf(X + 1.0)
    assert jf._n_traces == 1 and jf.cache_size() == 1
    jf(np.ones(4))
    assert jf._n_traces == 2
    jf(X.astype(np.float32))
    assert jf._n_traces == 3
    jf(X)
    assert jf._n_traces == 3
    jf.clear_cache()
    jf(X)
    assert jf._n_traces == 4


def test_jit_of_the_same_function_shares_its_cache():
    traces = []

    def g(x):
        traces.append(1)
        return fnp.sin(x) * 2.0
    for _ in range(3):
        fg.jit(g)(X)  # a fresh wrapper each time, as in `fg.jit(g)(x)` inside a loop
    assert len(traces) == 1
    fg.jit(g, static_argnums=())(X)
    fg.jit(g, donate_argnums=0)(X.copy())  # other options: another cache
    assert len(traces) == 2
    fg.jit(g).clear_cache()
    fg.jit(g)(X)
    assert len(traces) == 3


def test_weak_type_is_part_of_the_key():
    jf = fg.jit(lambda x: x * 2)
    assert jf(2.0).dtype == np.float64
    jf(np.float64(2.0))
    assert jf._n_traces == 2
    assert "weak type" in jf.explain_cache_miss()


def test_explain_cache_miss_texts():
    jf = fg.jit(lambda x, y, n: x * n + y, static_argnums=2)
    assert "not been traced" in jf.explain_cache_miss()
    a = np.ones(3, np.float32)
    jf(a, a, 2)
    assert "first call" in jf.explain_cache_miss() and "x: f32[3]" in jf.explain_cache_miss()
    jf(a, np.ones(1, np.float32), 2)
    assert "argument y: shape f32[3] -> f32[1]" in jf.explain_cache_miss()
    jf(a, a.astype(np.float64), 2)
    assert "argument y: shape and dtype f32[1] -> f64[3]" in jf.explain_cache_miss()
    jf(a, a.astype(np.float64), 3)
    assert "static argument n: 2 -> 3" in jf.explain_cache_miss()
    jf(a.astype(np.float64), a.astype(np.float64), 3)
    assert "argument x: dtype f32[3] -> f64[3]" in jf.explain_cache_miss()
    with pytest.raises(TypeError):  # x * n on a tuple fails, but the miss is recorded first
        jf((a,), a, 3)
    assert "tree structure" in jf.explain_cache_miss()


def test_explain_names_pytree_leaves():
    jf = fg.jit(lambda p: p["w"] * 2)
    jf({"w": np.ones(2)})
    jf({"w": np.ones(3)})
    assert "argument p['w']: shape f64[2] -> f64[3]" in jf.explain_cache_miss()


def test_static_values_compare_by_value_and_type():
    jf = fg.jit(lambda x, k: x * k, static_argnums=1)
    jf(X, 2)
    jf(X, 2)
    assert jf._n_traces == 1
    jf(X, 2.0)  # equal value but a different type: a different program (int vs float)
    assert jf._n_traces == 2


def test_unhashable_static_argument_is_rejected():
    jf = fg.jit(lambda x, cfg: x * len(cfg), static_argnums=1)
    with pytest.raises(FuncgradError, match=r"(?s)unhashable.*list.*tuple instead of a list"):
        jf(X, [1, 2])
    with pytest.raises(FuncgradError, match="test_jit.py"):
        jf(X, {"a": 1})


def test_cache_is_bounded_lru(monkeypatch):
    monkeypatch.setattr(jit_mod, "CACHE_SIZE", 3)
    jf = fg.jit(lambda x: x + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in range(1, 6):
            jf(np.ones(n))
    assert jf.cache_size() == 3
    jf(np.ones(3))  # hit: 3 becomes the most recently used
    jf(np.ones(6))  # evicts 4, the least recently used
    assert jf._n_traces == 6
    jf(np.ones(3))
    jf(np.ones(5))
    assert jf._n_traces == 6  # both still cached
    jf(np.ones(4))
    assert jf._n_traces == 7  # evicted earlier


def test_retrace_warning_once_with_diff():
    jf = fg.jit(lambda x: x * 2.0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for n in range(1, jit_mod.RETRACE_WARN + 4):
            jf(np.ones(n))
    msgs = [str(m.message) for m in w if "traced" in str(m.message)]
    assert len(msgs) == 1
    assert f"argument x: shape f64[{jit_mod.RETRACE_WARN}] -> f64[{jit_mod.RETRACE_WARN + 1}]" \
        in msgs[0]


def _summed(g):
    return lambda x: fnp.sum(g(x))


def test_dead_user_functions_are_freed():
    def make():
        def user_fn(x):
            return fnp.sin(x) * 2.0
        return user_fn
    fn = make()
    ref = weakref.ref(fn)
    jf = fg.jit(fn)
    jf(X)
    fg.grad(_summed(jf))(X)  # derived programs (jvp, partial eval, transpose) are cached too
    del fn, jf
    gc.collect()
    assert ref() is None


def test_cache_entries_do_not_reference_the_function():
    def user_fn(x):
        return x + 1.0
    jf = fg.jit(user_fn)
    jf(X)
    entry = next(iter(jf._cache.values()))
    assert not any(r is user_fn for r in gc.get_referents(entry, entry.compiled,
                                                          *entry.compiled.fn.__globals__.values()))


def test_lower_returns_optimised_ir_and_source():
    lo = fg.jit(lambda x: fnp.sin(x) * 1.0 - 0.0).lower(X)
    assert [e.prim.name for e in lo.ir.eqns] == ["sin"]
    assert "def jitted" in lo.source and "_sin" in lo.source


# --- errors that teach ------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    lambda x: x if x > 0 else -x,
    lambda x: float(x),
    lambda x: np.asarray(x),
    lambda x: fnp.reshape(x, (fnp.sum(x).astype(np.int64),)),
])
def test_concretization_error_names_jit_line_and_fix(body):
    with pytest.raises(ConcretizationError) as info:
        fg.jit(body)(np.float64(1.0))
    msg = str(info.value)
    assert "`jit`" in msg
    assert "test_jit.py" in msg
    assert "fg.cond" in msg and "fnp.where" in msg and "static_argnums" in msg


def test_unsupported_device():
    with pytest.raises(FuncgradError, match="device"):
        fg.jit(f, device="tpu")


# --- control flow -----------------------------------------------------------------------------

def _cond_f(x):
    return fg.cond(fnp.sum(x) > 0, lambda v: fnp.sin(v), lambda v: fnp.cos(v) * 2.0, x)


def _switch_f(x):
    i = fnp.sum(x > 0).astype(np.int32)
    return fg.switch(i, [fnp.sin, fnp.cos, fnp.tanh, lambda v: v * 3.0], x)


def _scan_f(x):
    def body(c, xi):
        return c * fnp.tanh(xi) + 1.0, c * xi
    c, ys = fg.scan(body, 0.5, x)
    return c + ys


def _fori_f(x):
    return fg.fori_loop(0, 3, lambda i, v: v * 2.0 + fnp.sin(v), x)


def _while_f(x):
    return fg.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 1.1 + fnp.sin(c[1])),
                         (0, x))[1]


_inner = fg.jit(lambda v: fnp.sin(v) * v)


def _scan_with_jit_body(x):
    def body(c, xi):
        return c + _inner(xi), _inner(c)
    c, ys = fg.scan(body, 0.0, x)
    return c + ys


CONTROL = [_cond_f, _switch_f, _scan_f, _fori_f, _while_f, _scan_with_jit_body]


@pytest.mark.parametrize("fn", CONTROL, ids=[c.__name__ for c in CONTROL])
def test_jit_of_control_flow(fn):
    for x in (X[:4], -X[:4]):
        np.testing.assert_allclose(fg.jit(fn)(x), fn(x), rtol=1e-12)
    B = R.standard_normal((3, 4))
    np.testing.assert_allclose(fg.vmap(fg.jit(fn))(B), np.stack([fn(b) for b in B]), rtol=1e-12)
    if fn is _while_f:
        return

    def loss(x):
        return fnp.sum(fn(x))
    g = fg.grad(loss)(X[:4])
    np.testing.assert_allclose(fg.grad(fg.jit(loss))(X[:4]), g, rtol=1e-10)
    np.testing.assert_allclose(fg.jit(fg.grad(loss))(X[:4]), g, rtol=1e-10)


def test_transform_depth_is_part_of_the_key():
    jf = fg.jit(lambda v: fnp.sin(v))
    jf(X)
    fg.grad(lambda x: fnp.sum(jf(x)))(X)
    assert "enclosing transform" in jf.explain_cache_miss()


def test_programs_and_compiled_code_are_freed_with_the_jitted_function():
    jf = fg.jit(lambda x: fnp.sin(x) * 2.0)
    jf(X)
    fg.grad(_summed(jf))(X)
    refs = [weakref.ref(e.closed) for e in jf._cache.values()]
    del jf
    gc.collect()
    assert refs and all(r() is None for r in refs)
    assert len(jit_mod._compiled) < 1000 and len(jit_mod._derived) < 1000


# --- every nesting of jit with grad/jvp (depth 3), under vmap -----------------------------------

_T = {
    "jit": fg.jit,
    "grad": fg.grad,
    "jvp": lambda h: (lambda x: fg.jvp(h, (x,), (fnp.ones_like(x) * 0.5,))[1]),
}
_NESTINGS = [(a, b, c) for a in _T for b in _T for c in _T]


@pytest.mark.parametrize("names", _NESTINGS, ids=["-".join(n) for n in _NESTINGS])
def test_nestings_with_jit_match_eager(names):
    def g(x):
        return fnp.sin(x) * x ** 2 + fnp.exp(-x)

    def build(use_jit):
        h = g
        for n in names:
            h = _T[n](h) if (n != "jit" or use_jit) else h
        return h
    xs = np.linspace(-1.0, 1.0, 4)
    want = fg.vmap(build(False))(xs)
    np.testing.assert_allclose(fg.vmap(build(True))(xs), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.vmap(build(True)))(xs), want, rtol=1e-10, atol=1e-12)


def test_jit_on_methods_and_non_array_arguments():
    class Scaled:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x * self.k

        apply = fg.jit(__call__, static_argnums=0)

        @fg.jit
        def plain(self, x):
            return x * 2.0

    s = Scaled(3.0)
    np.testing.assert_allclose(s.apply(np.ones(2)), [3.0, 3.0])
    with pytest.raises(fg.FuncgradError, match="argument self is a Scaled, not an array"):
        s.plain(np.ones(2))


def test_static_argument_specs_are_checked():
    with pytest.raises(fg.FuncgradError, match="static_argnums=3 is out of range"):
        fg.jit(lambda x: x, static_argnums=3)
    with pytest.raises(fg.FuncgradError, match="static_argnames='zz' is not a parameter"):
        fg.jit(lambda x: x, static_argnames="zz")
