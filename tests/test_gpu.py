"""GPU tests: the CuPy backend against the NumPy one. Marked `gpu`: they run only where CuPy and
an NVIDIA device are present (conftest skips them elsewhere, e.g. in CI).

Run on a GPU machine with: `PYTHONPATH=. python3 -m pytest -m gpu`.
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
BY_NAME = pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])


def _gpu(x):
    return fg.device_put(x, "gpu")


def _close(got, want, rtol=1e-6, atol=1e-8):
    assert cupy_backend.cupy_module().get_array_module(got).__name__ == "cupy"
    np.testing.assert_allclose(fg.to_numpy(got), want, rtol=rtol, atol=atol)


@BY_NAME
def test_eager_value_on_gpu(spec):
    args = spec.draw(0)
    want = spec.fn(*args)
    _close(spec.fn(*[_gpu(a) for a in args]), want)


@BY_NAME
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
