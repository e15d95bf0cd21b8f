"""Misuse of control flow gives the same error eagerly and under every transform, naming the
user's line (the file:line of the call) and the fix: branches of `cond`/`switch` returning
different trees, shapes or dtypes; a loop body changing the type of its carry. Also: branches
and loop bodies always receive arrays, even for Python-scalar operands and initial values."""
from __future__ import annotations

import os

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import FuncgradError

HERE = os.path.abspath(__file__)
SRC = open(HERE).read().splitlines()


def line_of(tag: str) -> int:
    """The line holding the comment `# <tag>` (the call the message must name)."""
    (n,) = [i + 1 for i, s in enumerate(SRC) if s.rstrip().endswith(f"# {tag}")]
    return n


MODES = {
    "eager": lambda f, x: f(x),
    "jit": lambda f, x: fg.jit(f)(x),
    "grad": lambda f, x: fg.grad(lambda x: fnp.sum(f(x)))(x),
    "vmap": lambda f, x: fg.vmap(f)(np.stack([x, x])),
}


def check(mode, f, tag, *fragments):
    with pytest.raises(FuncgradError) as e:
        MODES[mode](f, np.array(1.5))
    msg = str(e.value)
    assert f"{HERE}:{line_of(tag)} " in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


# --- cond / switch branches that disagree ------------------------------------------------------
def cond_shapes(x):
    return fg.cond(x > 0, lambda x: x * fnp.ones(3), lambda x: x, x)  # cond-shapes


def cond_dtypes(x):
    return fg.cond(x > 0, lambda x: x, lambda x: x.astype(np.float32), x)  # cond-dtypes


def cond_trees(x):
    return fg.cond(x > 0, lambda x: (x, x), lambda x: [x, x], x)[0]  # cond-trees


def switch_shapes(x):
    return fg.switch(1, [lambda x: x, lambda x: fnp.stack([x, x])], x)  # switch-shapes


@pytest.mark.parametrize("mode", list(MODES))
def test_cond_branches_of_different_shapes(mode):
    msg = check(mode, cond_shapes, "cond-shapes", "cond: the branches must return values of the "
                "same shape and dtype", "f64[] in false_fun and f64[3] in true_fun",
                "`.astype(...)`", "fnp.broadcast_to")
    assert "output" in msg


@pytest.mark.parametrize("mode", list(MODES))
def test_cond_branches_of_different_dtypes(mode):
    check(mode, cond_dtypes, "cond-dtypes", "f32[] in false_fun and f64[] in true_fun",
          "Cast with `.astype(...)`")


@pytest.mark.parametrize("mode", list(MODES))
def test_cond_branches_of_different_trees(mode):
    check(mode, cond_trees, "cond-trees", "the same pytree structure",
          "Make every branch return the same containers")


@pytest.mark.parametrize("mode", list(MODES))
def test_switch_branches_of_different_shapes(mode):
    check(mode, switch_shapes, "switch-shapes", "switch: the branches must return values",
          "in branches[0] and", "in branches[1]", "`.astype(...)`")


def test_the_eager_error_equals_the_jit_error_and_the_untaken_branch_is_checked():
    eager = check("eager", cond_dtypes, "cond-dtypes")
    assert eager == check("jit", cond_dtypes, "cond-dtypes")
    # the false branch is the wrong one, yet the predicate picks the true one: still an error
    with pytest.raises(FuncgradError, match="f32"):
        fg.cond(True, lambda x: x, lambda x: x.astype(np.float32), np.array(1.0))


# --- loop bodies changing the carry type ---------------------------------------------------------
def while_dtype(x):
    return fg.while_loop(lambda c: c < 3, lambda c: (c + 1.5).astype(np.float32), x)  # while-dtype


def while_shape(x):
    out = fg.while_loop(lambda c: fnp.sum(c) < 3, lambda c: c * fnp.ones(2), x)  # while-shape
    return fnp.sum(out)


def fori_dtype(x):
    return fg.fori_loop(0, 3, lambda i, c: c.astype(np.float32), x)  # fori-dtype


def fori_tree(x):
    return fg.fori_loop(0, 3, lambda i, c: (c, c), x)[0]  # fori-tree


def scan_dtype(x):
    return fg.scan(lambda c, _: (c.astype(np.float32), c), x, None, length=3)[0]  # scan-dtype


def scan_shape(x):
    return fnp.sum(fg.scan(lambda c, y: (c * fnp.ones(2), y), x, None, length=2)[0])  # scan-shape


CARRY = [(while_dtype, "while-dtype", "while_loop: the carry changed type: carry is f64[] "
          "initially but body_fun returns f32[]"),
         (while_shape, "while-shape", "while_loop: the carry changed type"),
         (fori_dtype, "fori-dtype", "fori_loop: the carry changed type: carry is f64[] initially "
          "but body_fun returns f32[]"),
         (fori_tree, "fori-tree", "fori_loop: body_fun must return a carry with the same pytree"),
         (scan_dtype, "scan-dtype", "scan: the carry changed type: carry is f64[] initially but "
          "f returns f32[]"),
         (scan_shape, "scan-shape", "scan: the carry changed type")]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("f,tag,what", CARRY, ids=[t for _, t, _ in CARRY])
def test_loop_body_changing_the_carry_type(mode, f, tag, what):
    msg = check(mode, f, tag, what)
    if "pytree" not in what:
        assert "cast with `.astype(...)`" in msg and "fnp.broadcast_to" in msg


# --- bodies receive arrays ----------------------------------------------------------------------
def uses_array_api(c):
    """A body using the array API on its argument: fails on a raw Python float."""
    assert c.shape == () and c.dtype == np.float64
    return (c + 1.0).astype(c.dtype)


ARRAY_API = {
    "cond": lambda: fg.cond(True, uses_array_api, uses_array_api, 1.0),
    "switch": lambda: fg.switch(0, [uses_array_api, uses_array_api], 1.0),
    "while_loop": lambda: fg.while_loop(lambda c: c.astype(np.float64) < 3.0, uses_array_api,
                                        0.0),
    "fori_loop": lambda: fg.fori_loop(0, 3, lambda i, c: uses_array_api(c) + i.astype(c.dtype) * 0,
                                      0.0),
    "scan": lambda: fg.scan(lambda c, _: (uses_array_api(c), c.astype(np.float64)), 0.0, None,
                            length=3)[0],
}


@pytest.mark.parametrize("name", list(ARRAY_API))
def test_bodies_receive_arrays_for_python_scalars_in_every_mode(name):
    run = ARRAY_API[name]
    want = {"cond": 2.0, "switch": 2.0, "while_loop": 3.0, "fori_loop": 3.0, "scan": 3.0}[name]
    np.testing.assert_allclose(run(), want)
    np.testing.assert_allclose(fg.jit(lambda: run())(), want)
    # under grad and vmap: the Python scalar is a constant beside a traced value
    np.testing.assert_allclose(fg.grad(lambda x: x * run())(2.0), want)
    np.testing.assert_allclose(fg.vmap(lambda x: x * run())(np.ones(2)), [want, want])
    assert np.asarray(run()).dtype == np.float64


def test_python_int_init_becomes_int64_like_fnp_asarray():
    assert fnp.asarray(1).dtype == fg.fori_loop(0, 2, lambda i, c: c + i, 0).dtype == np.int64
    assert fg.while_loop(lambda c: c < 5, lambda c: c + 2, 0) == 6


def test_weak_python_scalars_follow_jax_promotion_eagerly_and_under_jit():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    lax = jax.lax
    x32 = np.arange(1.0, 5.0, dtype=np.float32)
    cases = [  # (funcgrad, jax): a Python-scalar carry/operand meeting float32 values
        (lambda: fg.fori_loop(0, 4, lambda i, c: c + x32[1] * i.astype(np.float32), 0.0),
         lambda: lax.fori_loop(0, 4, lambda i, c: c + x32[1] * i.astype(np.float32), 0.0)),
        (lambda: fg.while_loop(lambda c: c < 3.0, lambda c: c + x32[0], 0.0),
         lambda: lax.while_loop(lambda c: c < 3.0, lambda c: c + x32[0], 0.0)),
        (lambda: fg.scan(lambda c, x: (c + x, c * 2), 0.0, x32),
         lambda: lax.scan(lambda c, x: (c + x, c * 2), 0.0, x32)),
        (lambda: fg.cond(True, lambda s: s * x32, lambda s: s - x32, 2.0),
         lambda: lax.cond(True, lambda s: s * x32, lambda s: s - x32, 2.0)),
        (lambda: fg.fori_loop(0, 3, lambda i, c: c + 1.5, 1),  # a weak int carry becomes float
         lambda: lax.fori_loop(0, 3, lambda i, c: c + 1.5, 1)),
    ]
    for ours, theirs in cases:
        want = jax.tree_util.tree_leaves(theirs())
        for run in (ours, fg.jit(ours)):
            got = fg.tree_util.tree_leaves(run())
            for a, b in zip(got, want):
                assert np.asarray(a).dtype == np.asarray(b).dtype
                np.testing.assert_allclose(a, b, rtol=1e-6)
    # a float carry the body makes an int is no promotion: an error in every mode, as in JAX
    for run in (lambda f: f(), lambda f: fg.jit(f)()):
        with pytest.raises(FuncgradError, match="fori_loop: the carry changed type"):
            run(lambda: fg.fori_loop(0, 3, lambda i, c: (c + 1).astype(np.int32), 0.0))
