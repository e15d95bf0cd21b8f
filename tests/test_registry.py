"""The primitive registry: every rule slot filled, and every transpose rule a true transpose."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.avals import get_aval
from funcgrad.core import NOT_APPLICABLE, UndefPrimal, Zero
from funcgrad.ir import IR, Eqn, OpenIR, Var
from funcgrad.primitives import all_primitives
from funcgrad.transforms.transpose import backward_pass

SLOTS = ("impl", "abstract_eval", "jvp", "transpose", "batch")
PRIMS = all_primitives()


def test_registry_is_populated_and_unique():
    names = [p.name for p in PRIMS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert len(set(map(id, PRIMS))) == len(PRIMS)
    for expected in ("sin", "add", "dot_general", "gather", "scatter_add", "reduce_sum", "pad",
                     "convert_element_type", "select", "cumsum"):
        assert expected in names


@pytest.mark.parametrize("prim", PRIMS, ids=[p.name for p in PRIMS])
@pytest.mark.parametrize("slot", SLOTS)
def test_rule_slot_is_filled(prim, slot):
    rule = getattr(prim, slot)
    assert rule is not None, f"{prim.name}.{slot} is None"
    assert callable(rule) or rule == NOT_APPLICABLE, f"{prim.name}.{slot} = {rule!r}"
    if slot in ("impl", "abstract_eval", "jvp"):  # these exist for every primitive
        assert callable(rule), f"{prim.name}.{slot} must be callable"


# --- transpose rules, checked directly --------------------------------------------------------
# name -> (args, params, which arguments are linear). With those arguments as `UndefPrimal`,
# the rule maps a cotangent ct to (ct_i) such that <ct, f(x)> == sum_i <ct_i, x_i>.

_r = np.random.default_rng(0)
_a, _b = _r.standard_normal((2, 3)), _r.standard_normal((2, 3))
_m = _r.standard_normal((3, 4))
_pred = _r.standard_normal((2, 3)) > 0
_IDX = np.array([2, 0, 2, 1])

LINEAR_EXAMPLES = {
    "neg": ([_a], {}, [0]),
    "add": ([_a, _b], {}, [0, 1]),
    "sub": ([_a, _b], {}, [0, 1]),
    "mul": ([_a, _b], {}, [1]),
    "div": ([_a, _b], {}, [0]),
    "select": ([_pred, _a, _b], {}, [1, 2]),
    "gather": ([_r.standard_normal((3, 2)), _IDX], {"axes": (0,)}, [0]),
    "scatter_add": ([_r.standard_normal((3, 2)), _r.standard_normal((4, 2)), _IDX],
                    {"axes": (0,)}, [0, 1]),
    "scatter": ([_r.standard_normal((3, 2)), _r.standard_normal((2, 2)), np.array([2, 0])],
                {"axes": (0,)}, [0, 1]),
    "dot_general": ([_a, _m], {"dimension_numbers": (((1,), (0,)), ((), ()))}, [0]),
    "reduce_sum": ([_r.standard_normal((2, 3, 4))], {"axes": (0, 2)}, [0]),
    "cumsum": ([_a], {"axis": 1, "reverse": False}, [0]),
    "broadcast_in_dim": ([_r.standard_normal((3, 1))],
                         {"shape": (2, 3, 4), "broadcast_dimensions": (1, 2)}, [0]),
    "reshape": ([_a], {"new_sizes": (3, 2)}, [0]),
    "transpose": ([_r.standard_normal((2, 3, 4))], {"permutation": (2, 0, 1)}, [0]),
    "squeeze": ([_r.standard_normal((2, 1, 3))], {"dimensions": (1,)}, [0]),
    "expand_dims": ([_a], {"dimensions": (0, 2)}, [0]),
    "slice": ([_r.standard_normal((5, 4))],
              {"start_indices": (1, 0), "limit_indices": (5, 3), "strides": (2, 2)}, [0]),
    "pad": ([_a, np.array(0.5)], {"padding_config": ((1, 0, 1), (2, 1, 0))}, [0, 1]),
    "concatenate": ([_a, _r.standard_normal((2, 1)), _b], {"dimension": 1}, [0, 1, 2]),
    "rev": ([_a], {"dimensions": (0, 1)}, [0]),
    "convert_element_type": ([_a.astype(np.float32)],
                             {"new_dtype": np.dtype(np.float64), "weak_type": False}, [0]),
    # complex parts: a cotangent c of a complex value z pairs with it as Re(c * z)
    "real": ([_a + 1j * _b], {}, [0]),
    "imag": ([_a + 1j * _b], {}, [0]),
    "conj": ([_a + 1j * _b], {}, [0]),
    # linear in the right-hand side only (primitives/decompositions.py)
    "solve": ([_r.standard_normal((2, 3, 3)) + 3 * np.eye(3), _r.standard_normal((2, 3, 4))],
              {}, [1]),
    "triangular_solve": ([_r.standard_normal((3, 3)) + 3 * np.eye(3), _r.standard_normal((3, 2))],
                         {"lower": False, "transpose_a": True}, [1]),
    # complex (half spectrum) to real; <ct, y> is the real part of the bilinear sum (_vdot)
    "fft": ([_r.standard_normal((2, 3, 4)) + 1j * _r.standard_normal((2, 3, 4))],
            {"fft_type": "irfft", "fft_lengths": (3, 7)}, [0]),
}

LINEAR_PRIMS = [p for p in PRIMS if callable(p.transpose)]


def test_every_linear_primitive_has_an_example():
    missing = [p.name for p in LINEAR_PRIMS if p.name not in LINEAR_EXAMPLES]
    assert not missing, f"add transpose examples for {missing}"


def _vdot(a, b) -> float:
    """The real part of sum(a * b): the pairing under which funcgrad (as JAX) transposes, also
    for complex arrays."""
    return float(np.real(np.sum(np.asarray(a) * np.asarray(b), dtype=np.complex128)))


@pytest.mark.parametrize("prim", LINEAR_PRIMS, ids=[p.name for p in LINEAR_PRIMS])
def test_transpose_rule_is_the_transpose(prim):
    args, params, linear = LINEAR_EXAMPLES[prim.name]
    y = prim.impl(*args, **params)
    ct = np.random.default_rng(1).standard_normal(np.shape(y)).astype(np.asarray(y).dtype)
    if ct.dtype.kind == "c":
        ct += 1j * np.random.default_rng(2).standard_normal(np.shape(y))
    invals = [UndefPrimal(get_aval(a)) if i in linear else a for i, a in enumerate(args)]
    cts_in = prim.transpose(ct, *invals, **params)
    assert len(cts_in) == len(args)
    rhs = 0.0
    for i, (a, c) in enumerate(zip(args, cts_in)):
        if i not in linear:
            assert c is None, f"cotangent for the non-linear argument {i}"
            continue
        assert type(c) is not Zero
        assert np.shape(c) == np.shape(a), f"cotangent {i}: {np.shape(c)} != {np.shape(a)}"
        assert np.asarray(c).dtype == np.asarray(a).dtype, f"cotangent {i} dtype"
        rhs += _vdot(c, a)
    f32 = any(np.asarray(a).dtype == np.float32 for a in args) or np.asarray(y).dtype == np.float32
    tol = 1e-6 if f32 else 1e-10
    np.testing.assert_allclose(_vdot(ct, y), rhs, rtol=tol, atol=tol)


@pytest.mark.parametrize("prim", LINEAR_PRIMS, ids=[p.name for p in LINEAR_PRIMS])
@pytest.mark.parametrize("ct_out", ["zero", "none"])
def test_transposition_skips_an_equation_without_cotangent(prim, ct_out, monkeypatch):
    # Rules are written for a nonzero cotangent: the transposition never calls one with a
    # symbolic zero (or none) but gives the equation's linear inputs zero cotangents itself.
    args, params, linear = LINEAR_EXAMPLES[prim.name]
    invars = [Var(get_aval(a)) for a in args]
    out = Var(prim.abstract_eval(*map(get_aval, args), **params)[0])
    program = IR(OpenIR([], invars, [Eqn(prim, invars, params, [out])], [out]), [])

    def called(*_, **__):
        raise AssertionError(f"{prim.name}'s transpose rule was called without a cotangent")
    monkeypatch.setattr(prim, "transpose", called)
    vals = [UndefPrimal(get_aval(a)) if i in linear else a for i, a in enumerate(args)]
    cts = backward_pass(program, vals, [Zero(out.aval) if ct_out == "zero" else None])
    for i, (a, c) in enumerate(zip(args, cts)):
        if i in linear:
            assert type(c) is Zero and c.aval.shape == np.shape(a), (i, c)
        else:
            assert c is None


# --- transposition through the public API: vjp is the transpose of jvp -------------------------

_c = _r.standard_normal((3, 4))
API_LINEAR_FNS = {
    "scale_and_neg": (lambda x: -2.5 * x, [(2, 3)]),
    "sum_axes": (lambda x: fnp.sum(x, axis=(0, 2)), [(2, 3, 4)]),
    "broadcast": (lambda x: fnp.broadcast_to(x, (4, 2, 3)), [(2, 1)]),
    "reshape_transpose": (lambda x: fnp.transpose(fnp.reshape(x, (3, 2, 2)), (2, 0, 1)),
                          [(4, 3)]),
    "slice_pad_rev": (lambda x: fnp.pad(x[::-1, 1::2], ((1, 2), (0, 3))), [(4, 5)]),
    "cumsum": (lambda x: fnp.cumsum(x, axis=1), [(2, 4)]),
    "matmul_const": (lambda x: x @ _c, [(2, 3)]),
    "matmul_const_left": (lambda x: _c.T @ x, [(3, 2)]),
    "einsum_batched": (lambda x: fnp.einsum("bij,jk->bki", x, _c), [(2, 5, 3)]),
    "gather_scatter": (lambda x: fnp.at(x)[np.array([0, 2, 0])].add(x[np.array([1, 1, 2])]),
                       [(3, 2)]),
    "at_set": (lambda x, v: fnp.at(x)[np.array([1, 3])].set(v * 2.0), [(4,), (2,)]),
    "concat_stack": (lambda x, y: fnp.stack([fnp.concatenate([x, y]), fnp.concatenate([y, x])]),
                     [(3,), (2,)]),
    "where_const_pred": (lambda x, y: fnp.where(_pred, x, y), [(2, 3), (2, 3)]),
    "mean_minus": (lambda x: x - fnp.mean(x, axis=0), [(3, 2)]),
    "astype": (lambda x: fnp.astype(x, fnp.float32), [(3,)]),
}


@pytest.mark.parametrize("name", list(API_LINEAR_FNS))
def test_vjp_is_transpose_of_jvp(name):
    f, shapes = API_LINEAR_FNS[name]
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal(s) for s in shapes]
    ts = [rng.standard_normal(s) for s in shapes]
    y, jt = fg.jvp(f, tuple(xs), tuple(ts))
    ct = rng.standard_normal(np.shape(y)).astype(np.asarray(y).dtype)
    _, f_vjp = fg.vjp(f, *xs)
    cts = f_vjp(ct)
    assert len(cts) == len(xs)
    lhs = _vdot(ct, jt)
    rhs = sum(_vdot(c, t) for c, t in zip(cts, ts))
    tol = 1e-5 if np.asarray(y).dtype == np.float32 else 1e-10
    np.testing.assert_allclose(lhs, rhs, rtol=tol, atol=tol)
    # a linear function: its jvp is the function itself, and its linearization agrees
    np.testing.assert_allclose(jt, f(*ts), rtol=tol, atol=tol)
    _, f_lin = fg.linearize(f, *xs)
    np.testing.assert_allclose(f_lin(*ts), jt, rtol=tol, atol=tol)


# --- every primitive, higher-order ones included, and its lowering ------------------------------

def _every_primitive() -> list:
    """Every Primitive object defined at module level anywhere in funcgrad."""
    import importlib
    import pkgutil

    from funcgrad.core import Primitive
    seen: dict[int, Primitive] = {}
    for info in pkgutil.walk_packages(fg.__path__, "funcgrad."):
        mod = importlib.import_module(info.name)
        for v in vars(mod).values():
            if isinstance(v, Primitive):
                seen[id(v)] = v
    return list(seen.values())


EVERY = _every_primitive()


def test_higher_order_primitives_are_found():
    names = {p.name for p in EVERY}
    assert {"jit", "cond", "while", "scan", "island", "custom_lin", "checkpoint",
            "random_bits"} <= names
    assert {p.name for p in PRIMS} < names


@pytest.mark.parametrize("prim", EVERY, ids=[p.name for p in EVERY])
def test_every_primitive_has_its_rules_and_a_lowering(prim):
    from funcgrad.backend.fusion import c_exprs
    from funcgrad.backend.numpy_codegen import emitters
    for slot in SLOTS:
        rule = getattr(prim, slot)
        assert callable(rule) or rule == NOT_APPLICABLE, f"{prim.name}.{slot} = {rule!r}"
    # NumPy lowering: an emitter entry, or the default (a call of the impl)
    assert callable(emitters.get(prim, prim.impl)), prim.name
    # GPU: a C expression (rendered for float32 operands here), or explicitly never fused
    assert callable(c_exprs.get(prim)) or c_exprs.get(prim) == NOT_APPLICABLE, prim.name
    if callable(c_exprs[prim]):
        args = [f"in{i}" for i in range(prim.abstract_eval.__code__.co_argcount)]
        params = {"y": 3} if prim.name == "integer_pow" else {}
        assert isinstance(c_exprs[prim](args, [np.dtype("float32")] * len(args),
                                        np.dtype("float32"), **params), str)


def _primitive_names_in(src: str, names: set) -> list[str]:
    import ast
    return sorted({n.value for n in ast.walk(ast.parse(src))
                   if isinstance(n, ast.Constant) and n.value in names})


def test_backend_names_no_primitive():
    """The backend lowers through tables filled by each primitive's block: no string in
    funcgrad/backend/ may be the name of a primitive (adding one never touches the backend)."""
    from pathlib import Path
    names = {p.name for p in EVERY}
    found = {str(p): _primitive_names_in(p.read_text(), names)
             for p in Path(fg.__file__).parent.joinpath("backend").glob("*.py")}
    assert not any(found.values()), {k: v for k, v in found.items() if v}
    # the check itself catches a name planted in backend-like source
    planted = 'def _emit(eqn):\n    if eqn.prim.name == "dot_general":\n        return None\n'
    assert _primitive_names_in(planted, names) == ["dot_general"]
