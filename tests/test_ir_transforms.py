"""Program-level transforms (funcgrad/transforms/ir_transforms.py) agree with the value-level
transforms they are built from, and produce well-typed programs."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import typecheck_ir
from funcgrad.transforms.program import (
    add_unused_inputs,
    batch_ir,
    closure_convert,
    jvp_ir,
    partial_eval_ir,
    permute_inputs,
    permute_outputs,
    split_list,
    transpose_ir,
)

RNG = np.random.default_rng(0)
W = RNG.standard_normal((3, 4))


def f(x, y):
    return fnp.sin(x) @ W * y[0], fnp.tanh(x).sum() + y.sum()


X, Y = RNG.standard_normal(3), RNG.standard_normal(4)
IR = fg.make_ir(f)(X, Y)


@pytest.mark.parametrize("nonzeros", [[True, True], [True, False], [False, True]])
def test_jvp_ir_matches_jvp(nonzeros):
    jv, out_nz = jvp_ir(IR, nonzeros, instantiate=False)
    typecheck_ir(jv.open)
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


def test_jvp_ir_symbolic_zero_and_instantiate():
    ir = fg.make_ir(lambda x, n: (x * 2.0, n + 1))(1.0, np.int64(3))
    jv, out_nz = jvp_ir(ir, [True, False], instantiate=False)
    assert out_nz == [True, False]
    assert len(jv.out_avals) == 3
    jv2, out_nz2 = jvp_ir(ir, [False, False], instantiate=[True, False])
    assert out_nz2 == [True, False]
    assert jv2(1.5, np.int64(3))[2] == 0.0


def test_batch_ir_matches_vmap():
    xs = RNG.standard_normal((5, 3))
    bj, out_b = batch_ir(IR, 5, [True, False], instantiate=False)
    typecheck_ir(bj.open)
    assert out_b == [True, True]
    outs = bj(xs, Y)
    ref = fg.vmap(f, in_axes=(0, None))(xs, Y)
    np.testing.assert_allclose(outs[0], ref[0])
    np.testing.assert_allclose(outs[1], ref[1])


def test_batch_ir_unbatched_output_and_instantiate():
    ir = fg.make_ir(lambda x, y: (x * 2.0, y + 1.0))(np.ones(2), 1.0)
    bj, out_b = batch_ir(ir, 4, [True, False], instantiate=False)
    assert out_b == [True, False]
    assert bj.out_avals[1].shape == ()
    bj2, out_b2 = batch_ir(ir, 4, [True, False], instantiate=True)
    assert out_b2 == [True, True]
    np.testing.assert_allclose(bj2(np.ones((4, 2)), 1.0)[1], np.full(4, 2.0))


def test_partial_eval_ir_splits_and_recombines():
    known, unknown, out_uk, n_res = partial_eval_ir(IR, [False, True], instantiate=False)
    typecheck_ir(known.open)
    typecheck_ir(unknown.open)
    assert out_uk == [True, True]
    k_outs = known(X)
    assert len(k_outs) == n_res  # no known outputs here
    u_outs = unknown(*k_outs, Y)
    ref = f(X, Y)
    np.testing.assert_allclose(u_outs[0], ref[0])
    np.testing.assert_allclose(u_outs[1], ref[1])
    # the sin/tanh work happens in the known part only
    assert "sin" in str(known) and "sin" not in str(unknown)


def test_partial_eval_ir_known_output_and_instantiate():
    ir = fg.make_ir(lambda x, y: (fnp.exp(x), fnp.exp(x) * y))(1.0, 2.0)
    known, unknown, out_uk, n_res = partial_eval_ir(ir, [False, True], instantiate=False)
    assert out_uk == [False, True]
    k = known(1.0)
    np.testing.assert_allclose(k[0], np.e)
    np.testing.assert_allclose(unknown(*k[1:], 2.0)[0], 2 * np.e)
    known2, unknown2, out_uk2, n_res2 = partial_eval_ir(ir, [False, True], instantiate=True)
    assert out_uk2 == [True, True]
    k2 = known2(1.0)
    np.testing.assert_allclose(unknown2(*k2, 2.0), [np.e, 2 * np.e])


def test_transpose_ir_is_the_transpose():
    lin = fg.make_ir(lambda a, x: (a * x @ W, fnp.sum(x)))(2.0, X)
    t = transpose_ir(lin, [False, True])
    typecheck_ir(t.open)
    ct0, ct1 = RNG.standard_normal(4), 0.7
    (ct_x,) = t(2.0, ct0, ct1)
    y0, y1 = lin(2.0, X)
    lhs = np.vdot(ct0, y0) + ct1 * y1
    np.testing.assert_allclose(lhs, np.vdot(ct_x, X))


def test_transpose_ir_instantiates_zero_cotangents():
    lin = fg.make_ir(lambda x, y: (x * 3.0,))(1.0, 2.0)
    t = transpose_ir(lin, [True, True])
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
    bj, _ = batch_ir(IR, 2, [True, True], instantiate=True)
    jv, _ = jvp_ir(bj, [True, False], instantiate=False)
    xs, ys, txs = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal(
        (2, 3))
    out = jv(xs, ys, txs)
    ref = fg.jvp(lambda a: fg.vmap(f)(a, ys), (xs,), (txs,))[1]
    np.testing.assert_allclose(out[2], ref[0])
    np.testing.assert_allclose(out[3], ref[1])


def test_transforms_are_memoized_per_program():
    ir = fg.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0)
    a = jvp_ir(ir, [True], False)
    assert jvp_ir(ir, [True], instantiate=False) is a
    assert jvp_ir(ir, [False], False) is not a
    other = fg.make_ir(lambda x: fnp.sin(x) * 2.0)(1.0)  # an equal but distinct program
    assert jvp_ir(other, [True], False) is not a
    assert batch_ir(ir, 3, [True], False) is batch_ir(ir, 3, [True], False)
    assert batch_ir(ir, 4, [True], False) is not batch_ir(ir, 3, [True], False)
