"""The misuse catalogue of the transforms: each misuse is a funcgrad error naming what was wrong
(with the argument's key path where there is one), the user's line and the fix.

Every case's user line carries a `# CALL` marker; the test asserts the message quotes that line
of this file. JAX is the oracle for what must be refused (jvp tangent dtypes, vmap sizes)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.avals import float0
from funcgrad.core import EscapedTracerError, FuncgradError

sys.path.insert(0, str(Path(__file__).parent))
from test_escaped_tracers import LEAK, leaky  # noqa: E402

jax.config.update("jax_enable_x64", True)

HERE = os.path.basename(__file__)
X = np.ones(3)
X32 = np.ones(3, np.float32)


def _user_line(msg: str) -> None:
    line = next((ln for ln in msg.splitlines() if HERE in ln), "")
    assert "# CALL" in line, msg  # the user's file:line, quoting the call


# (call, what was wrong, the fix): each a list of substrings the message must contain
CASES = {
    # 1. grad of a function that does not return a float scalar
    "grad-tuple": (lambda: fg.grad(lambda x: (fnp.sum(x), x))(X),  # CALL
                   ["must return a floating-point scalar", "a tuple (f64[], f64[3])"],
                   ["has_aux=True"]),
    "grad-list": (lambda: fg.grad(lambda x: [fnp.sum(x), 1.0])(X),  # CALL
                  ["a list [f64[], f64[]]"], ["has_aux=True"]),
    "grad-dict": (lambda: fg.grad(lambda x: {"loss": fnp.sum(x), "n": 3})(X),  # CALL
                  ["a dict {'loss': f64[], 'n': i64[]}"], ["out['loss']"]),
    "grad-none": (lambda: fg.grad(lambda x: None)(X),  # CALL
                  ["returned None"], ["forget `return`"]),
    "grad-vector": (lambda: fg.grad(lambda x: x * 2.0)(X),  # CALL
                    ["returned f64[3]"], ["fnp.sum(y)", "fg.jacrev(f)", "fg.vjp(f, x)"]),
    "value_and_grad-vector": (lambda: fg.value_and_grad(lambda x: x)(X),  # CALL
                              ["returned f64[3]"], ["fnp.sum(y)"]),
    "grad-int-output": (lambda: fg.grad(lambda x: 3)(1.0),  # CALL
                        ["returned i64[]"], ["no derivative"]),
    "grad-aux-vector": (lambda: fg.grad(lambda x: (x, 0), has_aux=True)(X),  # CALL
                        ["returned f64[3]"], ["fnp.sum(y)"]),
    "grad-aux-not-a-pair": (lambda: fg.grad(lambda x: fnp.sum(x), has_aux=True)(X),  # CALL
                            ["return a pair (output, aux), got f64[]"], ["drop has_aux=True"]),
    # 2. non-array leaves among the transformed arguments: the key path, the type, the fix
    "grad-str-leaf": (lambda: fg.grad(lambda params: fnp.sum(params["layers"][1]["w"]))(  # CALL
        {"layers": [{"w": X}, {"w": "relu"}]}),
        ["argument `params['layers'][1]['w']`", "type str", "'relu'"], ["argnums="]),
    "grad-object-second-arg": (lambda: fg.grad(lambda x, cfg: fnp.sum(x), argnums=(0, 1))(  # CALL
        X, object()), ["argument `cfg`", "type object"], ["argnums="]),
    "jacfwd-str": (lambda: fg.jacfwd(lambda p: p[0])((X, "a")),  # CALL
                   ["jacfwd: argument `p[1]`", "type str"], ["argnums="]),
    "jacrev-str": (lambda: fg.jacrev(lambda p: p[0])((X, "a")),  # CALL
                   ["jacrev: argument `p[1]`", "type str"], ["argnums="]),
    "jvp-str": (lambda: fg.jvp(lambda x, name: x, (X, "a"), (X, "b")),  # CALL
                ["jvp: argument `name`", "type str"], ["close over it"]),
    "vjp-list-of-str": (lambda: fg.vjp(lambda x, tags: x, X, ["a", "b"]),  # CALL
                        ["vjp: argument `tags[0]`", "type str"], ["close over it"]),
    "vmap-str": (lambda: fg.vmap(lambda x, name: x)(X, "a"),  # CALL
                 ["vmap: argument `name`", "type str"], ["in_axes", "None", "keyword argument"]),
    "vmap-str-in-dict": (lambda: fg.vmap(lambda p: p["w"])({"w": X, "act": "relu"}),  # CALL
                         ["argument `p['act']`"], ["{'w': 0, 'name': None}"]),
    "vmap-varargs": (lambda: fg.vmap(lambda *xs: xs[0])(X, "a"),  # CALL
                     ["argument `xs[1]`"], ["in_axes"]),
    # 3. vmap in_axes / out_axes: structures, axes out of range, sizes
    "vmap-in_axes-structure": (lambda: fg.vmap(lambda a, b: a, in_axes=(0, (0, 0)))(X, X),  # CALL
                               ["vmap: in_axes must be a tree prefix", "in_axes[1] is (*, *)",
                                "argument `b` is ndarray", "in_axes: (0, (0, 0))",
                                "arguments: (*, *)"], ["one entry per positional argument"]),
    "vmap-in_axes-dict": (lambda: fg.vmap(lambda p: p["a"], in_axes=({"a": 0, "b": 0},))(  # CALL
        {"a": X}), ["in_axes[0] is {'a': *, 'b': *}", "argument `p` is dict {'a': *}"],
        ["a tree like the arguments"]),
    "vmap-in_axes-count": (lambda: fg.vmap(lambda a, b: a, in_axes=(0,))(X, X),  # CALL
                           ["in_axes has 1 entries", "2 positional arguments"],
                           ["in_axes=(0, None)"]),
    "vmap-out_axes-structure": (lambda: fg.vmap(lambda a: (a, a), out_axes=(0, 0, 0))(X),  # CALL
                                ["out_axes must be a tree prefix of the output",
                                 "out_axes: (0, 0, 0)", "output: (*, *)"],
                                ["a tree like the output"]),
    "vmap-axis-out-of-range": (lambda: fg.vmap(lambda a: a, in_axes=1)(X),  # CALL
                               ["in_axes=1 for argument `a` of shape (3,)", "out of range"],
                               ["[-1, 1)", "None to leave it unmapped"]),
    "vmap-scalar": (lambda: fg.vmap(lambda a, s: a * s)(X, 2.0),  # CALL
                    ["argument `s` of shape ()"], ["a scalar cannot be mapped"]),
    "vmap-axis-not-int": (lambda: fg.vmap(lambda a: a, in_axes=0.5)(X),  # CALL
                          ["in_axes=0.5", "an axis is an int or None"], ["[-1, 1)"]),
    "vmap-sizes": (lambda: fg.vmap(lambda a, b: a + b)(np.ones(3), {"w": np.ones((4, 2))}),  # CALL
                   ["different sizes", "size 3: axis 0 of argument `a` (f64[3])",
                    "size 4: axis 0 of argument `b['w']` (f64[4,2])"], ["None in in_axes"]),
    "vmap-nothing-mapped": (lambda: fg.vmap(lambda a: a, in_axes=None)(X),  # CALL
                            ["maps no argument"], ["give it an axis"]),
    "vmap-out_axes-none": (lambda: fg.vmap(lambda a: a, out_axes=None)(X),  # CALL
                           ["out_axes=None for an output that depends"], ["out_axes=0"]),
    # 4. jvp tangents must have their primal's shape and dtype
    "jvp-f32-tangent": (lambda: fg.jvp(fnp.sin, (X,), (X32,)),  # CALL
                        ["tangent of `x` has dtype float32", "primal has dtype float64"],
                        ["t.astype(x.dtype)"]),
    "jvp-int-tangent": (lambda: fg.jvp(lambda a, b: a * b, (X, X), (X, np.ones(3, int))),  # CALL
                        ["tangent of `b` has dtype int64"], ["astype"]),
    "jvp-nested-tangent": (lambda: fg.jvp(lambda p: p["w"], ({"w": X},), ({"w": X32},)),  # CALL
                           ["tangent of `p['w']` has dtype float32"], ["astype"]),
    "jvp-float-tangent-of-int": (lambda: fg.jvp(lambda n: n, (np.ones(3, int),), (X,)),  # CALL
                                 ["has dtype float64 but its primal has dtype int64"],
                                 ["float0"]),
    "jvp-shape": (lambda: fg.jvp(fnp.sin, (X,), (np.ones(4),)),  # CALL
                  ["tangent of `x` has shape (4,) but its primal has shape (3,)"],
                  ["primal's shape"]),
    "jvp-structure": (lambda: fg.jvp(lambda a, b: a, (X, X), (X,)),  # CALL
                      ["different structures"], ["one tangent per primal"]),
    "jvp-not-tuples": (lambda: fg.jvp(fnp.sin, X, X),  # CALL
                       ["must be tuples"], ["fg.jvp(f, (x,), (v,))"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_misuse_names_what_the_line_and_the_fix(case):
    call, what, fix = CASES[case]
    with pytest.raises(FuncgradError) as info:
        call()
    msg = str(info.value)
    _user_line(msg)
    for needle in what + fix:
        assert needle in msg, (needle, msg)
    assert "tree_prefix_broadcast" not in msg and "PyTreeDef" not in msg  # no internals


ESCAPES = {  # (transform applied, use of the escaped tracer)
    "grad-arith": (lambda: fg.grad(leaky)(X), lambda t: t * 2.0),  # CALL
    "jit-fnp": (lambda: fg.jit(lambda x: leaky(x))(X), lambda t: fnp.exp(t)),  # CALL
    "vmap-float": (lambda: fg.vmap(leaky)(np.ones((2, 3))), lambda t: float(t[0])),  # CALL
    "jvp-method": (lambda: fg.jvp(leaky, (X,), (X,)), lambda t: t.sum()),  # CALL
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_escaped_tracer_names_the_use_the_transform_and_the_fix(case):
    apply, use = ESCAPES[case]
    LEAK.clear()
    apply()
    (leaked,) = LEAK
    with pytest.raises(EscapedTracerError) as info:
        use(leaked)
    msg = str(info.value)
    _user_line(msg)
    assert f"from `{case.split('-')[0]}`" in msg and "Return the value from the function" in msg


@pytest.mark.parametrize("tangent", [X32, np.ones(3, int), np.ones(3, complex)])
def test_jvp_refuses_the_tangent_dtypes_jax_refuses(tangent):
    with pytest.raises(TypeError):  # the oracle: JAX refuses them too
        jax.jvp(jnp.sin, (X,), (tangent,))
    with pytest.raises(FuncgradError, match="dtype"):
        fg.jvp(fnp.sin, (X,), (tangent,))


def test_jvp_still_takes_what_jax_takes():
    want = jax.jvp(jnp.sin, (1.0,), (2.0,))
    np.testing.assert_allclose(fg.jvp(fnp.sin, (1.0,), (2.0,)), want)  # Python floats
    np.testing.assert_allclose(fg.jvp(fnp.sin, (X32,), (X32,))[1], np.cos(X32), rtol=1e-6)
    n = np.arange(3)  # an integer primal: a float0 tangent (as in JAX) or one of its own dtype
    for t in (np.zeros(3, float0), np.ones(3, int)):
        y, ty = fg.jvp(lambda n, x: n * x, (n, X), (t, X))
        np.testing.assert_array_equal(ty, n)


def test_the_fixes_the_messages_suggest_work():
    params = {"layers": [{"w": X}, {"act": "relu"}]}
    loss = lambda w, params: fnp.sum(w ** 2)  # noqa: E731
    np.testing.assert_allclose(fg.grad(loss)(X, params), 2 * X)  # argnums: only arrays
    out = fg.vmap(lambda x, name: x * 2.0, in_axes=(0, None))(X, "a")
    np.testing.assert_allclose(out, 2 * X)
    out = fg.vmap(lambda p: p["w"] + 1.0, in_axes=({"w": 0, "act": None},))({"w": X, "act": "r"})
    np.testing.assert_allclose(out, X + 1.0)
    loss, aux = fg.grad(lambda x: (fnp.sum(x), x), has_aux=True)(X)
    np.testing.assert_allclose(loss, np.ones(3))


def test_vmap_sizes_lists_every_mapped_argument_like_jax():
    with pytest.raises(ValueError) as jinfo:
        jax.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))
    with pytest.raises(FuncgradError) as info:
        fg.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))
    for arg in ("argument a", "argument b"):  # JAX names both; so do we
        assert arg in str(jinfo.value)
        assert arg.replace("argument ", "argument `") in str(info.value)


# --- make_ir drops dead equations by default ----------------------------------------------------

def _dead(closed) -> list:
    ir = closed.open
    read = {x for e in ir.eqns for x in e.inputs} | set(ir.outvars)
    return [e for e in ir.eqns if not any(v in read for v in e.out_binders)]


def test_make_ir_of_grad_has_no_dead_equations():
    f = lambda x: fnp.sum(fnp.sin(x) * fnp.exp(x))  # noqa: E731
    lean = fg.make_ir(fg.grad(f))(X)
    raw = fg.make_ir(fg.grad(f), optimize=False)(X)
    assert _dead(lean) == []
    assert [e.prim.name for e in _dead(raw)] == ["reduce_sum"]  # the loss, which grad discards
    # gone: the loss and the product only it reads
    assert len(lean.open.eqns) == len(raw.open.eqns) - 2 and "reduce_sum" not in str(lean)
    want = np.cos(X) * np.exp(X) + np.sin(X) * np.exp(X)
    for closed in (lean, raw):
        np.testing.assert_allclose(closed(X)[0], want)
    assert "optimize=False" in fg.make_ir.__doc__ and "make_jaxpr" in fg.make_ir.__doc__


def test_make_ir_drops_constants_only_dead_equations_read():
    c = np.arange(3.0)
    closed = fg.make_ir(lambda x: (x * c, x)[1])(X)
    assert closed.consts == [] and closed.open.eqns == []
    assert len(fg.make_ir(lambda x: (x * c, x)[1], optimize=False)(X).consts) == 1
