"""Per-primitive tests driven by the `PRIMITIVE_SPECS` table (tests/specs.py).

For every row: derivatives against finite differences (forward and reverse, to second order),
staged evaluation (under `jvp` and through `make_ir`) against eager NumPy, and `vmap` against a
Python loop.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from specs import PRIMITIVE_SPECS, Spec, restrict  # noqa: E402

__all__ = ["PRIMITIVE_SPECS", "Spec"]

# FUNCGRAD_TEST_EXAMPLES raises the number of hypothesis examples per row for a deeper soak.
SETTINGS = settings(max_examples=int(os.environ.get("FUNCGRAD_TEST_EXAMPLES", "6")),
                    deadline=None, database=None)
SEEDS = st.integers(0, 2 ** 32 - 1)
BY_NAME = pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])


def _tols(dtype):
    return dict(rtol=1e-5, atol=1e-6) if np.dtype(dtype) == np.float32 else \
        dict(rtol=1e-12, atol=1e-12)


def _assert_same(got, want, dtype, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != eager {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != eager {want.dtype}"
    np.testing.assert_allclose(got, want, err_msg=what, **_tols(dtype))


@BY_NAME
@SETTINGS
@given(data=st.data())
def test_check_grads(spec: Spec, data):
    args = spec.draw(data.draw(SEEDS, "seed"), data.draw(spec.shapes, "shapes"), np.float64)
    f, float_args = restrict(spec.fn, args)  # integer index arguments stay fixed
    fg.testing.check_grads(f, float_args, order=2, modes=("fwd", "rev"), **spec.tol)


@BY_NAME
@SETTINGS
@given(data=st.data())
def test_staged_equals_eager(spec: Spec, data):
    args = spec.draw(data.draw(SEEDS, "seed"), data.draw(spec.shapes, "shapes"))
    want = spec.fn(*args)
    assert isinstance(want, (np.ndarray, np.generic)), type(want)
    tangents = tuple(np.ones_like(a) for a in args)
    primal, tangent = fg.jvp(spec.fn, tuple(args), tangents)
    _assert_same(primal, want, spec.dtype, "jvp primal")
    assert np.shape(tangent) == np.shape(want)
    ir = fg.make_ir(spec.fn)(*args)
    assert [tuple(a.shape) for a in ir.out_avals] == [np.shape(want)]
    assert ir.out_avals[0].dtype == np.asarray(want).dtype
    outs = ir(*args)
    assert len(outs) == 1
    _assert_same(outs[0], want, spec.dtype, "make_ir evaluated")


VMAP_XFAIL: dict[str, str] = {}  # spec name -> reason (none needed at present)


def _vmap_params():
    for s in PRIMITIVE_SPECS:
        marks = [pytest.mark.xfail(strict=True, reason=VMAP_XFAIL[s.name])] \
            if s.name in VMAP_XFAIL else []
        yield pytest.param(s, id=s.name, marks=marks)


@pytest.mark.parametrize("spec", list(_vmap_params()))
@SETTINGS
@given(data=st.data())
def test_vmap_matches_loop(spec: Spec, data):
    shapes = data.draw(spec.shapes, "shapes")
    size = data.draw(st.integers(1, 3), "batch size")
    # where each argument carries its batch axis: 0, the last axis, or unbatched (None)
    choices = st.sampled_from([0, -1, None]) if spec.nargs > 1 else st.sampled_from([0, -1])
    in_axes = data.draw(st.lists(choices, min_size=spec.nargs, max_size=spec.nargs).filter(
        lambda axes: any(a is not None for a in axes)), "in_axes")
    seeds = data.draw(st.lists(SEEDS, min_size=size, max_size=size), "seeds")
    examples = [spec.draw(s, shapes) for s in seeds]
    batched = [examples[0][k] if ax is None else np.stack([ex[k] for ex in examples], axis=ax)
               for k, ax in enumerate(in_axes)]
    got = fg.vmap(spec.fn, in_axes=tuple(in_axes))(*batched)
    want = np.stack([spec.fn(*[examples[0][k] if ax is None else ex[k]
                               for k, ax in enumerate(in_axes)]) for ex in examples])
    _assert_same(got, want, spec.dtype, f"vmap(in_axes={in_axes})")


# --- coverage of the table and the batching rules it cannot reach ------------------------------

NON_DIFFERENTIABLE = {"sign", "floor", "ceil", "round", "is_finite", "not", "eq", "ne", "lt",
                      "le", "gt", "ge", "and", "or", "xor", "argmax", "argmin", "stop_gradient",
                      "eig"}  # eig: no derivative rule (complex solves); a teaching error


def test_table_covers_every_differentiable_primitive():
    from funcgrad.primitives import all_primitives
    seen = set()
    for spec in PRIMITIVE_SPECS:
        seen |= {eqn.prim.name for eqn in fg.make_ir(spec.fn)(*spec.draw(0)).eqns}
    missing = {p.name for p in all_primitives()} - NON_DIFFERENTIABLE - seen
    assert not missing, f"no PRIMITIVE_SPECS row stages {sorted(missing)}"


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (1, 0), (0, None)])
def test_vmap_pad_over_padding_value(in_axes):
    # fnp.pad only takes concrete padding values, so this batching path needs the primitive
    from funcgrad.primitives.shape import pad
    config = ((1, 0, 1), (0, 2, 0))
    rng = np.random.default_rng(0)
    xs, vs = rng.standard_normal((3, 2, 3)), rng.standard_normal(3)
    x_in = xs[0] if in_axes[0] is None else np.moveaxis(xs, 0, in_axes[0])
    v_in = vs[0] if in_axes[1] is None else vs
    got = fg.vmap(lambda x, v: pad(x, v, config), in_axes=in_axes)(x_in, v_in)
    want = np.stack([pad(xs[0] if in_axes[0] is None else xs[i],
                         vs[0] if in_axes[1] is None else vs[i], config) for i in range(3)])
    np.testing.assert_array_equal(got, want)
    # and through the transpose: the cotangent of the padding value sums the padded positions
    ct_v = fg.vmap(lambda x, v: fg.grad(lambda v: (pad(x, v, config) ** 2).sum())(v),
                   in_axes=in_axes)(x_in, v_in)
    n_pad = pad(np.zeros((2, 3)), np.array(1.0), config).sum()
    np.testing.assert_allclose(ct_v, 2 * n_pad * (np.full(3, vs[0]) if in_axes[1] is None
                                                  else vs))
