"""IR optimisation passes (funcgrad/transforms/passes.py): golden IR before/after each pass,
value preservation on the primitive table, and the size of high-order derivatives vs JAX."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import typecheck_ir
from funcgrad.primitives.shape import convert_element_type
from funcgrad.transforms.jit import passes as P

sys.path.insert(0, str(Path(__file__).parent))
from specs import PRIMITIVE_SPECS  # noqa: E402

X = np.ones(3, np.float32)


def _ir(f, *args):
    return fg.make_ir(f, optimize=False)(*args)


def _check(before_fn, args, pass_fn, before: str, after: str):
    ir = _ir(before_fn, *args)
    assert str(ir) == before
    out = pass_fn(ir)
    typecheck_ir(out.open)
    assert str(out) == after
    for got, want in zip(out(*args), ir(*args)):
        np.testing.assert_array_equal(got, want)


def test_dce_golden():
    _check(lambda x: (fnp.sin(x), fnp.cos(x))[0], [X], P.dce, """\
{ lambda ; a:f32[3]. let
    b:f32[3] = sin a
    c:f32[3] = cos a
  in (b,) }""", "{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }")


def test_cse_golden():
    _check(lambda x: fnp.sin(x) * fnp.sin(x) + x * fnp.sin(x), [X], P.cse, """\
{ lambda ; a:f32[3]. let
    b:f32[3] = sin a
    c:f32[3] = sin a
    d:f32[3] = mul b c
    e:f32[3] = sin a
    f:f32[3] = mul a e
    g:f32[3] = add d f
  in (g,) }""", """\
{ lambda ; a:f32[3]. let
    b:f32[3] = sin a
    c:f32[3] = mul b b
    d:f32[3] = mul a b
    e:f32[3] = add c d
  in (e,) }""")


def test_cse_commutative_operands():
    ir = P.cse(_ir(lambda x, y: x * y + y * x, X, 2 * X))
    assert [e.prim.name for e in ir.eqns] == ["mul", "add"]


def test_constant_folding_golden():
    _check(lambda x: x * fnp.exp(np.zeros(3, np.float32)) + fnp.sum(np.ones(2, np.float32)),
           [X], P.fold_constants, """\
{ lambda a:f32[3] b:f32[2] ; c:f32[3]. let
    d:f32[3] = exp a
    e:f32[3] = mul c d
    f:f32[] = reduce_sum[axes=(0,)] b
    g:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] f
    h:f32[3] = add e g
  in (h,) }""", """\
{ lambda a:f32[3] ; b:f32[3]. let
    c:f32[3] = mul b a
    d:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 2.0
    e:f32[3] = add c d
  in (e,) }""")
    ir = P.fold_constants(_ir(lambda x: x * fnp.exp(np.zeros(3, np.float32)), X))
    np.testing.assert_array_equal(ir.consts[0], np.ones(3, np.float32))


def test_constant_folding_respects_size_limit():
    big = np.zeros((100, 100), np.float32)
    ir = _ir(lambda x: fnp.exp(big) + x, np.ones((100, 100), np.float32))
    assert "exp" in str(P.fold_constants(ir, limit=1000))
    assert "exp" not in str(P.fold_constants(ir, limit=10_000))


def _simplify(ir):
    return P.dce(P.simplify(ir))


def test_simplify_identities_golden():
    _check(lambda x: -(-(x * 1.0 + (-0.0))) - 0.0, [X], _simplify, """\
{ lambda ; a:f32[3]. let
    b:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 1.0
    c:f32[3] = mul a b
    d:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] -0.0
    e:f32[3] = add c d
    f:f32[3] = neg e
    g:f32[3] = neg f
    h:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 0.0
    i:f32[3] = sub g h
  in (i,) }""", "{ lambda ; a:f32[3]. let in (a,) }")


def test_simplify_keeps_signed_zero_semantics():
    # -0.0 + (+0.0) is +0.0, so `x + 0.0` must stay; `x - 0.0` and `x + (-0.0)` are exact
    kept = _simplify(_ir(lambda x: x + 0.0, X))
    assert "add" in str(kept)
    z = np.array([-0.0, 0.0, -0.0], np.float32)
    assert not np.signbit(kept(z)[0]).any()


def test_simplify_reshape_and_transpose_chains_golden():
    _check(lambda x: fnp.transpose(fnp.transpose(fnp.reshape(fnp.reshape(x, (3, 1)), (1, 3)))),
           [X], _simplify, """\
{ lambda ; a:f32[3]. let
    b:f32[3,1] = reshape[new_sizes=(3, 1)] a
    c:f32[1,3] = reshape[new_sizes=(1, 3)] b
    d:f32[3,1] = transpose[permutation=(1, 0)] c
    e:f32[1,3] = transpose[permutation=(1, 0)] d
  in (e,) }""", "{ lambda ; a:f32[3]. let b:f32[1,3] = reshape[new_sizes=(1, 3)] a in (b,) }")


def test_simplify_broadcast_chain_golden():
    _check(lambda x: fnp.broadcast_to(fnp.broadcast_to(x, (2, 3)), (4, 2, 3)), [X], _simplify,
           """\
{ lambda ; a:f32[3]. let
    b:f32[2,3] = broadcast_in_dim[shape=(2, 3) broadcast_dimensions=(1,)] a
    c:f32[4,2,3] = broadcast_in_dim[shape=(4, 2, 3) broadcast_dimensions=(1, 2)] b
  in (c,) }""", """\
{ lambda ; a:f32[3]. let
    b:f32[4,2,3] = broadcast_in_dim[shape=(4, 2, 3) broadcast_dimensions=(2,)] a
  in (b,) }""")


def test_simplify_times_zero_only_for_integers():
    ints = _simplify(_ir(lambda i: i * 0, np.arange(3)))
    assert str(ints) == ("{ lambda ; a:i64[3]. let\n    b:i64[3] = broadcast_in_dim[shape=(3,) "
                         "broadcast_dimensions=()] 0\n  in (b,) }")
    floats = _simplify(_ir(lambda x: x * 0.0, X))
    assert "mul" in str(floats)  # inf * 0 and nan * 0 are nan, not 0
    bad = np.array([np.inf, np.nan, 1.0], np.float32)
    with np.errstate(invalid="ignore"):
        assert np.isnan(floats(bad)[0][:2]).all()


def test_simplify_convert_to_same_dtype():
    _check(lambda x: convert_element_type(x, np.float32) * 2.0, [X], _simplify, """\
{ lambda ; a:f32[3]. let
    b:f32[3] = convert_element_type[new_dtype=f32 weak_type=False] a
    c:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 2.0
    d:f32[3] = mul b c
  in (d,) }""", """\
{ lambda ; a:f32[3]. let
    b:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 2.0
    c:f32[3] = mul a b
  in (c,) }""")


def test_zero_forwarding_golden():
    _check(lambda x: x - fnp.sum(fnp.reshape(fnp.zeros((3,), np.float32), (1, 3)), axis=0), [X],
           _simplify, """\
{ lambda a:f32[3] ; b:f32[3]. let
    c:f32[1,3] = reshape[new_sizes=(1, 3)] a
    d:f32[3] = reduce_sum[axes=(0,)] c
    e:f32[3] = sub b d
  in (e,) }""", "{ lambda ; a:f32[3]. let in (a,) }")


def test_inline_nested_jit_golden():
    inner = fg.jit(lambda x: fnp.sin(x) * 2.0)
    ir = _ir(lambda x: inner(x) + inner(x), X)
    assert [e.prim.name for e in ir.eqns] == ["jit", "jit", "add"]
    flat = P.inline_calls(ir)
    assert [e.prim.name for e in flat.eqns] == ["sin", "broadcast_in_dim", "mul"] * 2 + ["add"]
    assert str(P.optimize(ir)) == """\
{ lambda ; a:f32[3]. let
    b:f32[3] = sin a
    c:f32[3] = broadcast_in_dim[shape=(3,) broadcast_dimensions=()] 2.0
    d:f32[3] = mul b c
    e:f32[3] = add d d
  in (e,) }"""


@pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])
def test_optimize_preserves_values_on_grad_programs(spec):
    args = spec.draw(0)
    nums = tuple(i for i, a in enumerate(args) if np.issubdtype(a.dtype, np.floating))

    def loss(*a):
        return fnp.sum(fnp.sin(spec.fn(*a)))
    f = fg.grad(loss, argnums=nums)
    ir = fg.make_ir(f, optimize=False)(*args)
    opt = P.optimize(ir)
    typecheck_ir(opt.open)
    assert len(opt.eqns) <= len(ir.eqns)
    for got, want in zip(opt(*args), ir(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_sixth_derivative_of_tanh_is_no_larger_than_jax():
    jax = pytest.importorskip("jax")
    f, g = fnp.tanh, jax.numpy.tanh
    for _ in range(6):
        f, g = fg.grad(f), jax.grad(g)
    ours = P.optimize(fg.make_ir(f, optimize=False)(0.3))
    theirs = jax.make_jaxpr(g)(0.3)
    assert len(ours.eqns) <= len(theirs.eqns), (len(ours.eqns), len(theirs.eqns))
    np.testing.assert_allclose(ours(0.3)[0], float(g(0.3)), rtol=1e-4)
    np.testing.assert_allclose(ours(0.3)[0], f(0.3), rtol=1e-12)


def test_optimize_reaches_a_fixpoint():
    f = fnp.tanh
    for _ in range(3):
        f = fg.grad(f)
    once = P.optimize(fg.make_ir(f, optimize=False)(0.3))
    assert str(P.optimize(once)) == str(once)


def test_simplify_sign_rules_golden():
    _check(lambda x, y: (x + (-y)) * ((-x) * (-y)) - (-(x * (-y))), [X, 2 * X], _simplify, """\
{ lambda ; a:f32[3] b:f32[3]. let
    c:f32[3] = neg b
    d:f32[3] = add a c
    e:f32[3] = neg a
    f:f32[3] = neg b
    g:f32[3] = mul e f
    h:f32[3] = mul d g
    i:f32[3] = neg b
    j:f32[3] = mul a i
    k:f32[3] = neg j
    l:f32[3] = sub h k
  in (l,) }""", """\
{ lambda ; a:f32[3] b:f32[3]. let
    c:f32[3] = sub a b
    d:f32[3] = mul a b
    e:f32[3] = mul c d
    f:f32[3] = mul a b
    g:f32[3] = sub e f
  in (g,) }""")


# --- exactness on random programs ----------------------------------------------------------------

_LEAVES = ["x", "y", "0.0", "1.0", "-1.0", "zeros", "ones"]


def _expr(draw, depth):
    from hypothesis import strategies as st
    if depth == 0 or draw(st.booleans()) and depth < 3:
        return draw(st.sampled_from(_LEAVES))
    op = draw(st.sampled_from(["add", "sub", "mul", "div", "neg", "sin", "sel", "csin", "cvjp"]))
    if op in ("neg", "sin", "csin", "cvjp"):
        return (op, _expr(draw, depth - 1))
    if op == "sel":
        return (op, _expr(draw, depth - 1), _expr(draw, depth - 1))
    return (op, _expr(draw, depth - 1), _expr(draw, depth - 1))


_CSIN = fg.custom_jvp(fnp.sin)
_CSIN.defjvp(lambda p, t: (_CSIN(p[0]), fnp.cos(p[0]) * t[0]))
_CVJP = fg.custom_vjp(lambda v: fnp.sin(v) * 2.0)
_CVJP.defvjp(lambda v: (fnp.sin(v) * 2.0, v), lambda v, g: (2.0 * fnp.cos(v) * g,))


def _build(e, x, y):
    if isinstance(e, str):
        return {"x": x, "y": y, "zeros": fnp.zeros_like(x), "ones": fnp.ones_like(x)}.get(
            e, np.float64(e) if e[0] in "-0123456789" else None)
    args = [_build(a, x, y) for a in e[1:]]
    if e[0] == "neg":
        return -args[0] + fnp.zeros_like(x)
    if e[0] == "sin":
        return fnp.sin(args[0]) + fnp.zeros_like(x)
    if e[0] == "sel":
        return fnp.where(x > 0, args[0], args[1])
    if e[0] in ("csin", "cvjp"):  # custom rules: a call primitive with its own lowering
        return (_CSIN if e[0] == "csin" else _CVJP)(args[0] + fnp.zeros_like(x))
    a, b = args
    return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / b}[e[0]]() + fnp.zeros_like(x)


def test_optimize_is_exact_on_random_programs():
    """Every value agrees, NaN, inf and the sign of zero included, before and after the passes
    and in the generated code."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    special = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 3e-310])

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def check(data):
        e = _expr(data.draw, 4)
        x = special
        y = special[::-1].copy()
        with np.errstate(all="ignore"):
            ir = _ir(lambda a, b: _build(e, a, b), x, y)
            opt = P.optimize(ir)
            typecheck_ir(opt.open)
            want, got = ir(x, y)[0], opt(x, y)[0]
            compiled = fg.jit(lambda a, b: _build(e, a, b))(x, y)
        for out in (np.asarray(got), compiled):
            np.testing.assert_array_equal(out, want)
            ok = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(out[ok]), np.signbit(want[ok]))
    check()
