"""Program-level transforms (funcgrad/transforms/ir_transforms.py) agree with the value-level
transforms they are built from, and produce well-typed programs."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import typecheck_jaxpr
from funcgrad.transforms.ir_transforms import (
    add_unused_inputs,
    batch_jaxpr,
    closure_convert,
    jvp_jaxpr,
    partial_eval_jaxpr,
    permute_inputs,
    permute_outputs,
    split_list,
    transpose_jaxpr,
)

RNG = np.random.default_rng(0)
W = RNG.standard_normal((3, 4))


def f(x, y):
    return fnp.sin(x) @ W * y[0], fnp.tanh(x).sum() + y.sum()


X, Y = RNG.standard_normal(3), RNG.standard_normal(4)
IR = fg.make_ir(f)(X, Y)


@pytest.mark.parametrize("nonzeros", [[True, True], [True, False], [False, True]])
def test_jvp_jaxpr_matches_jvp(nonzeros):
    jv, out_nz = jvp_jaxpr(IR, nonzeros, instantiate=False)
    typecheck_jaxpr(jv.jaxpr)
    tx, ty = RNG.standard_normal(3), RNG.standard_normal(4)
    tans = [t for t, nz in zip([tx, ty], nonzeros) if nz]
    outs = jv(X, Y, *tans)
    ref_p, ref_t = fg.jvp(f, (X, Y), (tx if nonzeros[0] else 0 * tx,
                                      ty if nonzeros[1] else 0 * ty))
    np.testing.assert_allclose(outs[0], ref_p[0])
    np.testing.assert_allclose(outs[1], ref_p[1])
    assert out_nz == [True, True]
    np.testing.assert_allclose(outs[2], ref_t[0], atol=1e-12)
    np.testing.assert_allclose(outs[3], ref_t[1], atol=1e-12)


def test_jvp_jaxpr_symbolic_zero_and_instantiate():
    ir = fg.make_ir(lambda x, n: (x * 2.0, n + 1))(1.0, np.int64(3))
    jv, out_nz = jvp_jaxpr(ir, [True, False], instantiate=False)
    assert out_nz == [True, False]
    assert len(jv.out_avals) == 3
    jv2, out_nz2 = jvp_jaxpr(ir, [False, False], instantiate=[True, False])
    assert out_nz2 == [True, False]
    assert jv2(1.5, np.int64(3))[2] == 0.0


def test_batch_jaxpr_matches_vmap():
    xs = RNG.standard_normal((5, 3))
    bj, out_b = batch_jaxpr(IR, 5, [True, False], instantiate=False)
    typecheck_jaxpr(bj.jaxpr)
    assert out_b == [True, True]
    outs = bj(xs, Y)
    ref = fg.vmap(f, in_axes=(0, None))(xs, Y)
    np.testing.assert_allclose(outs[0], ref[0])
    np.testing.assert_allclose(outs[1], ref[1])


def test_batch_jaxpr_unbatched_output_and_instantiate():
    ir = fg.make_ir(lambda x, y: (x * 2.0, y + 1.0))(np.ones(2), 1.0)
    bj, out_b = batch_jaxpr(ir, 4, [True, False], instantiate=False)
    assert out_b == [True, False]
    assert bj.out_avals[1].shape == ()
    bj2, out_b2 = batch_jaxpr(ir, 4, [True, False], instantiate=True)
    assert out_b2 == [True, True]
    np.testing.assert_allclose(bj2(np.ones((4, 2)), 1.0)[1], np.full(4, 2.0))


def test_partial_eval_jaxpr_splits_and_recombines():
    known, unknown, out_uk, n_res = partial_eval_jaxpr(IR, [False, True], instantiate=False)
    typecheck_jaxpr(known.jaxpr)
    typecheck_jaxpr(unknown.jaxpr)
    assert out_uk == [True, True]
    k_outs = known(X)
    assert len(k_outs) == n_res  # no known outputs here
    u_outs = unknown(*k_outs, Y)
    ref = f(X, Y)
    np.testing.assert_allclose(u_outs[0], ref[0])
    np.testing.assert_allclose(u_outs[1], ref[1])
    # the sin/tanh work happens in the known part only
    assert "sin" in str(known) and "sin" not in str(unknown)


def test_partial_eval_jaxpr_known_output_and_instantiate():
    ir = fg.make_ir(lambda x, y: (fnp.exp(x), fnp.exp(x) * y))(1.0, 2.0)
    known, unknown, out_uk, n_res = partial_eval_jaxpr(ir, [False, True], instantiate=False)
    assert out_uk == [False, True]
    k = known(1.0)
    np.testing.assert_allclose(k[0], np.e)
    np.testing.assert_allclose(unknown(*k[1:], 2.0)[0], 2 * np.e)
    known2, unknown2, out_uk2, n_res2 = partial_eval_jaxpr(ir, [False, True], instantiate=True)
    assert out_uk2 == [True, True]
    k2 = known2(1.0)
    np.testing.assert_allclose(unknown2(*k2, 2.0), [np.e, 2 * np.e])


def test_transpose_jaxpr_is_the_transpose():
    lin = fg.make_ir(lambda a, x: (a * x @ W, fnp.sum(x)))(2.0, X)
    t = transpose_jaxpr(lin, [False, True])
    typecheck_jaxpr(t.jaxpr)
    ct0, ct1 = RNG.standard_normal(4), 0.7
    (ct_x,) = t(2.0, ct0, ct1)
    y0, y1 = lin(2.0, X)
    lhs = np.vdot(ct0, y0) + ct1 * y1
    np.testing.assert_allclose(lhs, np.vdot(ct_x, X))


def test_transpose_jaxpr_instantiates_zero_cotangents():
    lin = fg.make_ir(lambda x, y: (x * 3.0,))(1.0, 2.0)
    t = transpose_jaxpr(lin, [True, True])
    assert [float(v) for v in t(1.0)] == [3.0, 0.0]


def test_structural_helpers():
    ir = fg.make_ir(lambda a, b: (a - b, a * b))(1.0, 2.0)
    assert permute_inputs(ir, [1, 0])(2.0, 5.0)[0] == 3.0
    assert permute_outputs(ir, [1, 0])(5.0, 2.0)[0] == 10.0
    assert len(add_unused_inputs(ir, [ir.in_avals[0]], at=0).in_avals) == 3
    assert add_unused_inputs(ir, [ir.in_avals[0]], at=0)(99.0, 5.0, 2.0)[0] == 3.0
    closed = fg.make_ir(lambda x: x + W)(np.zeros((3, 4)))
    conv, consts = closure_convert(closed)
    assert conv.consts == [] and len(consts) == 1
    np.testing.assert_allclose(conv(*consts, np.ones((3, 4)))[0], W + 1)
    assert split_list([1, 2, 3, 4], [1, 2]) == [[1], [2, 3], [4]]


def test_transforms_compose_jvp_of_batched():
    bj, _ = batch_jaxpr(IR, 2, [True, True], instantiate=True)
    jv, _ = jvp_jaxpr(bj, [True, False], instantiate=False)
    xs, ys, txs = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal(
        (2, 3))
    out = jv(xs, ys, txs)
    ref = fg.jvp(lambda a: fg.vmap(f)(a, ys), (xs,), (txs,))[1]
    np.testing.assert_allclose(out[2], ref[0])
    np.testing.assert_allclose(out[3], ref[1])


def test_transforms_are_memoized_per_program():
    ir = fg.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0)
    a = jvp_jaxpr(ir, [True], False)
    assert jvp_jaxpr(ir, [True], instantiate=False) is a
    assert jvp_jaxpr(ir, [False], False) is not a
    other = fg.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0)  # an equal but distinct program
    assert jvp_jaxpr(other, [True], False) is not a
    assert batch_jaxpr(ir, 3, [True], False) is batch_jaxpr(ir, 3, [True], False)
    assert batch_jaxpr(ir, 4, [True], False) is not batch_jaxpr(ir, 3, [True], False)
