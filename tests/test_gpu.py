"""GPU tests: the CuPy backend against the NumPy one, every result compared with the CPU's.

Marked `gpu`. `pytest -m gpu` runs them on real CuPy where a GPU is present, and anywhere else on
the strict CuPy stand-in in `tests/fakecupy` (conftest.py: `$FUNCGRAD_CUPY` chooses). Cases that
fail today are `xfail(strict=True)` with the root cause (issue 12): a fix turns one into an
unexpected pass, and the fixer removes its marker.
"""
from __future__ import annotations

import numpy as np
import pytest
from specs import PRIMITIVE_SPECS, restrict

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backend import cupy_backend
from funcgrad.backend.fusion import FusedKernel, plan_fusion

pytestmark = pytest.mark.gpu

# --- issue 12: what fails today, by root cause (file:line in funcgrad) -------------------------
_ASARRAY = "issue 12: fnp.asarray calls np.asarray on a device array (numpy/__init__.py:50)"
_TAKE = "issue 12: indexing calls np.asarray on a device array (numpy/indexing.py:69)"
_AT_TRACED = "issue 12: .at[] builds its index with np.asarray (numpy/indexing.py:183)"
_AT = "issue 12: .at[] update values go through np.asarray (numpy/indexing.py:202)"
VALUE_XFAIL = {
    "logistic": "issue 12: eager logistic calls np.asarray (numpy/__init__.py:273)",
    "astype_f32_to_f64": "issue 12: fnp.astype calls np.asarray (numpy/__init__.py:67)",
    "astype_roundtrip": "issue 12: fnp.astype calls np.asarray (numpy/__init__.py:67)",
    "gather_traced": _ASARRAY, "gather_traced_axis1": _ASARRAY, "gather_traced_pair": _TAKE,
    "take": _TAKE, "at_add_traced": _AT_TRACED, "at_set_traced": _AT_TRACED,
    "at_set": _AT, "at_add": _AT, "at_set_slice": _AT, "at_add_int": _AT,
    "linalg_solve": _ASARRAY, "linalg_inv": _ASARRAY, "linalg_det": _ASARRAY,
    "linalg_slogdet": _ASARRAY, "linalg_eigh_values": _ASARRAY,
    "linalg_eigh_vectors_sq": _ASARRAY, "solve_triangular": _ASARRAY,
    "solve_triangular_trans": _ASARRAY,
    "linalg_cholesky": "issue 12: the spec adds a host np.eye to a device array (CuPy refuses "
                       "that too): fnp.eye/ones_like are NumPy's (numpy/__init__.py:415-428), no "
                       "device-aware way to make the constant",
}
# Eager grads: the unit cotangent seed is a host scalar (transforms/autodiff.py:156, :191), and
# the constants transposes and jvps make are NumPy arrays: `full`/`full_like`
# (primitives/shape.py:97,
# primitives/rules.py:150), pad's zero (primitives/shape.py:230, :300), scatter-add's np.zeros
# (primitives/indexing.py:165), `_materialize` zeros (transforms/autodiff.py:59), np.eye/np.tril in
# the linalg jvps (primitives/decompositions.py:148, :191, :270). With the seed and full_like made
# device-aware, 58 cases still fail on pad (22), scatter-add (18), select/instantiate and others.
GRAD_PASSING = {"log2", "log10", "linalg_solve", "linalg_inv"}
_GRAD = ("issue 12: host constants in eager grad: the cotangent seed (transforms/autodiff.py:156) "
         "and full/broadcast_in_dim/pad/scatter zeros (primitives/shape.py:97, :230; "
         "primitives/indexing.py:165) are NumPy arrays")


def _by_name(xfails):
    return pytest.mark.parametrize("spec", [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=xfails[s.name]))
        if s.name in xfails else s for s in PRIMITIVE_SPECS], ids=[s.name for s in PRIMITIVE_SPECS])


def _gpu(x):
    return fg.device_put(x, "gpu")


def _close(got, want, rtol=1e-6, atol=1e-8):
    assert cupy_backend.cupy_module().get_array_module(got).__name__ == "cupy"
    np.testing.assert_allclose(fg.to_numpy(got), want, rtol=rtol, atol=atol)


@_by_name(VALUE_XFAIL)
def test_eager_value_on_gpu(spec):
    args = spec.draw(0)
    want = spec.fn(*args)
    _close(spec.fn(*[_gpu(a) for a in args]), want)


@_by_name({s.name: _GRAD for s in PRIMITIVE_SPECS if s.name not in GRAD_PASSING})
def test_eager_grad_on_gpu(spec):
    args = spec.draw(1)
    f, float_args = restrict(spec.fn, args)
    argnums = tuple(range(len(float_args)))
    loss = lambda *a: fnp.sum(f(*a))  # noqa: E731
    want = fg.grad(loss, argnums=argnums)(*float_args)
    got = fg.grad(loss, argnums=argnums)(*[_gpu(a) for a in float_args])
    for g, w in zip(got, want):
        _close(g, w, rtol=1e-5, atol=1e-7)


def test_fused_kernel_launch_matches_numpy():
    def f(x, b):
        y = fnp.tanh(x + b)
        return fnp.exp(y) * 0.5 - fnp.sin(y) ** 3

    x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    b = np.linspace(-1, 1, 32).astype(np.float32)
    ir = fg.make_ir(f)(x, b)
    (k,) = [s for s in plan_fusion(ir.open) if isinstance(s, FusedKernel)]
    env = {ir.open.invars[0]: _gpu(x), ir.open.invars[1]: _gpu(b)}
    (out,) = cupy_backend.launch(k, *[env[v] for v in k.inputs])
    _close(out, f(x, b), rtol=1e-5)


def test_device_put_round_trip_and_devices():
    assert any(str(d).startswith("gpu:") for d in fg.devices())
    x = np.arange(6.0).reshape(2, 3)
    xg = fg.device_put(x, "gpu")
    np.testing.assert_array_equal(fg.to_numpy(xg), x)


def test_mixing_devices_in_one_call_is_a_clear_error():
    from funcgrad import backend
    with pytest.raises(fg.FuncgradError, match="different devices"):
        backend.check_same_device([np.ones(2), _gpu(np.ones(2))], "jit")
