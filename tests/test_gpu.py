"""GPU tests: the CuPy backend against the NumPy one, every result compared with the CPU's.

Marked `gpu`. `pytest -m gpu` runs them on real CuPy where a GPU is present, and anywhere else on
the strict CuPy stand-in in `tests/fakecupy` (conftest.py: `$FUNCGRAD_CUPY` chooses).
"""
from __future__ import annotations

import numpy as np
import pytest
from specs import PRIMITIVE_SPECS, restrict

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backend import cupy_backend
from funcgrad.backend.fusion import FusedKernel, plan_fusion
from funcgrad.pytree import tree_leaves

pytestmark = pytest.mark.gpu

# Every row of the spec table runs on device arrays (values and grads), none skipped or xfailed.
_ALL_SPECS = pytest.mark.parametrize("spec", PRIMITIVE_SPECS, ids=[s.name for s in PRIMITIVE_SPECS])


def _gpu(x):
    return fg.device_put(x, "gpu")


def _close(got, want, rtol=1e-6, atol=1e-8):
    assert cupy_backend.cupy_module().get_array_module(got).__name__ == "cupy"
    np.testing.assert_allclose(fg.to_numpy(got), want, rtol=rtol, atol=atol)


@_ALL_SPECS
def test_eager_value_on_gpu(spec):
    args = spec.draw(0)
    want = spec.fn(*args)
    _close(spec.fn(*[_gpu(a) for a in args]), want)


@_ALL_SPECS
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


# --- GPU jit: each program compared with the same program on the CPU ---------------------------
def _same_on_gpu(f, *args, rtol=1e-5, atol=1e-6, jit=True):
    want = f(*args)
    g = fg.jit(f, device="gpu") if jit else f
    got = g(*[_gpu(a) for a in args])
    for w, o in zip(tree_leaves(want), tree_leaves(got)):
        _close(o, fg.to_numpy(w), rtol=rtol, atol=atol)


_R = np.random.default_rng(0)
_X32 = _R.standard_normal((8, 5)).astype(np.float32)
_X64 = _R.standard_normal((8, 5))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jit_elementwise_chain(dtype):
    def f(x, b):
        y = fnp.tanh(x + b)
        return fnp.exp(y) * 0.5 - fnp.sin(y) ** 3 + fnp.maximum(x, 0.0)
    _same_on_gpu(f, _X64.astype(dtype), np.linspace(-1, 1, 5).astype(dtype))


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_jit_integer_chain(dtype):
    x = np.arange(-3, 5).astype(dtype)
    _same_on_gpu(lambda a: (a * 3 + 1) & 7 ^ (a | 2), x)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])  # `~` is bitwise on integers
def test_jit_invert(dtype):
    x = (np.arange(-3, 5) % 2 == 0) if dtype == "bool" else np.arange(-3, 5).astype(dtype)
    _same_on_gpu(lambda a: ~(a ^ a) ^ ~a if dtype != "bool" else ~a, x)


def test_jit_float16_chain():
    x = np.linspace(-2, 2, 8).astype(np.float16)
    _same_on_gpu(lambda a: fnp.tanh(a) * a + 1.0, x, rtol=2e-3, atol=2e-3)


_NAN = np.array([np.nan, -1.0, 0.0, 2.0, np.inf, -np.inf], np.float32)


@pytest.mark.parametrize("name,f", [  # NaN propagates through max/min/clip/sign, as in NumPy
    ("relu", lambda a: fnp.maximum(a, 0.0)), ("minimum", lambda a: fnp.minimum(a, 0.0)),
    ("clip", lambda a: fnp.clip(a, -0.5, 0.5)), ("sign", lambda a: fnp.sign(a) * 1.0),
    ("inf_literals", lambda a: fnp.where(a > 0, fnp.inf, -fnp.inf) + a),
], ids=lambda v: v if isinstance(v, str) else "")
def test_jit_nan_and_inf(name, f):
    _same_on_gpu(f, _NAN)


def test_jit_pow_rint_isfinite_on_floats():
    x = np.abs(_X32) + 0.5
    _same_on_gpu(lambda a: fnp.power(a, a) + fnp.round(a) + fnp.isfinite(a), x)


def test_jit_mlp_step_and_grad_of_jit():
    def loss(w, x):
        h = fnp.tanh(x @ w)
        return fnp.mean(h ** 2)
    w = _R.standard_normal((5, 3)).astype(np.float32)
    _same_on_gpu(lambda w, x: fg.grad(loss)(w, x), w, _X32)  # jit(grad)


def _ten_outputs(x):
    return [fnp.sin(x), fnp.cos(x), x * 2, x + 1, fnp.exp(x), fnp.tanh(x), -x, x * x,
            fnp.abs(x), fnp.sqrt(fnp.abs(x))]


def test_jit_ten_sibling_outputs_are_one_multi_output_kernel():
    assert len(fg.jit(_ten_outputs, device="gpu").lower(_X32).kernels) == 1
    _same_on_gpu(_ten_outputs, _X32)


_REDUCTIONS = {  # each fuses its elementwise producer into one ReductionKernel
    "mean_squared": lambda a, b: fnp.mean((a - b) ** 2),
    "sum_rows": lambda a, b: fnp.sum(fnp.tanh(a + b), axis=1),
    "max_cols": lambda a, b: fnp.max(a * b - 1.0, axis=0),
    "min_all": lambda a, b: fnp.min(fnp.exp(a) + b),
    "logsumexp": lambda a, b: fnp.log(fnp.sum(fnp.exp(a - fnp.max(a, axis=1, keepdims=True)),
                                              axis=1)),
    "bias_broadcast": lambda a, b: fnp.sum(a * b[0], axis=0),
}


@pytest.mark.parametrize("name,dtype", [(n, d) for n in _REDUCTIONS for d in (
    "float32", "float64", "int32") if d != "int32" or n in ("mean_squared", "max_cols",
                                                            "bias_broadcast")])
def test_jit_producer_fused_into_reduction(name, dtype):
    f = _REDUCTIONS[name]
    a, b = (_X64 * 3).astype(dtype), (_X64[::-1] * 2).astype(dtype)
    ks = fg.jit(f, device="gpu").lower(a, b).kernels
    assert any(type(k).__name__ == "FusedReduction" for k in ks), ks
    _same_on_gpu(f, a, b)


def test_fused_max_reduction_propagates_nan_as_numpy():
    x = np.stack([_NAN, np.ones_like(_NAN)])
    for f in (lambda a: fnp.max(a * 2.0, axis=1), lambda a: fnp.min(a * 2.0, axis=0)):
        assert type(fg.jit(f, device="gpu").lower(x).kernels[0]).__name__ == "FusedReduction"
        _same_on_gpu(f, x)


_EPILOGUES = {  # an elementwise reader of a reduction's result runs in the reduction's kernel
    "safe_max": lambda a: (lambda m: fnp.where(fnp.isfinite(m), m, 0.0) * 2)(
        fnp.max(a * 1.5, axis=1, keepdims=True)),
    "mean_rows": lambda a: fnp.mean(fnp.exp(a), axis=1) - 1,
    "sum_cols_all_outputs": lambda a: (lambda s: (s, s * s, s > 0))(fnp.sum(a + 1, axis=0)),
    "library_sum_of_matmul": lambda a: fnp.sqrt(fnp.abs(fnp.sum(a @ a.T, axis=0))),
    "int_sum": lambda a: fnp.sum(a * 3, axis=1) // 2 + 1,
    "logsumexp_other_input": lambda a: (lambda m: fnp.log(fnp.sum(fnp.exp(a - m), axis=1))
                                        + m[:, 0])(fnp.max(a, axis=1, keepdims=True)),
    "sgd_bias_update": lambda a: a[0] - 0.1 * fnp.sum(a * 2, axis=0),  # reads a row of `a`
}


def _fused_with_epilogue(f, *args):
    ks = fg.jit(f, device="gpu").lower(*args).kernels
    return [k for k in ks if type(k).__name__ == "FusedReduction" and "epilogue_" in k.preamble]


@pytest.mark.parametrize("name,dtype", [(n, d) for n in _EPILOGUES for d in (
    "float16", "float32", "float64", "int32") if (d == "int32") == (n == "int_sum")])
def test_reduction_epilogue_is_one_kernel(name, dtype):
    f, a = _EPILOGUES[name], (_X64 * 3).astype(dtype)
    ks = fg.jit(f, device="gpu").lower(a).kernels
    assert len(ks) == 1 and _fused_with_epilogue(f, a), ks
    tol = 2e-2 if dtype == "float16" else 1e-5
    _same_on_gpu(f, a, rtol=tol, atol=tol)


def test_reduction_epilogue_nan_empty_and_keepdims():
    x = np.stack([_NAN, np.ones_like(_NAN)])
    for f in (_EPILOGUES["safe_max"], lambda a: fnp.min(a, axis=1, keepdims=True) + 1):
        assert _fused_with_epilogue(f, x)
        _same_on_gpu(f, x)
    empty = np.zeros((3, 0), np.float32)  # the epilogue runs on the identity
    f = lambda a: fnp.sum(a * 2, axis=1) + 1  # noqa: E731
    assert _fused_with_epilogue(f, empty)
    _same_on_gpu(f, empty)
    _same_on_gpu(lambda a: fnp.sum(a, axis=1) * 2, np.zeros((0, 4), np.float32))
    x = np.stack([_NAN, np.ones_like(_NAN)]).T  # NaN reaching an epilogue as its other input
    f = _EPILOGUES["logsumexp_other_input"]
    assert _fused_with_epilogue(f, x)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference, as on the device
        _same_on_gpu(f, x)


def test_epilogue_reads_only_what_is_ready():
    def f(a):  # `t` is made after the sum: the kernel reading both stays a kernel
        s = fnp.sum(a, axis=1)
        t = fnp.tanh(a @ a.T)[0]
        return s * t
    assert not _fused_with_epilogue(f, _X32)
    _same_on_gpu(f, _X32)
    g = lambda a: fnp.sum(a, axis=1) + fnp.max(a, axis=1)  # noqa: E731  (the later one hosts)
    assert len(fg.jit(g, device="gpu").lower(_X32).kernels) == 1 and _fused_with_epilogue(g, _X32)
    _same_on_gpu(g, _X32)


def _launches(f, *args):
    """Kernel launches of a lowered program: fused kernels and library calls, views not counted."""
    from funcgrad.backend.fusion import plan_fusion
    steps = plan_fusion(fg.jit(f, device="gpu").lower(*args).ir.open)
    return sum(1 for s in steps if isinstance(s, FusedKernel) or s.prim.name not in (
        "reshape", "expand_dims", "squeeze"))


def test_mlp_training_step_launch_count():
    from funcgrad import nn
    model = nn.Sequential([nn.Linear(16, 8), nn.tanh, nn.Linear(8, 4)])
    params = model.init(fg.random.key(0), np.zeros((1, 16), np.float32))
    x, y = _R.standard_normal((6, 16)).astype(np.float32), np.array([0, 1, 2, 3, 0, 1])

    def loss(p, x, y):
        return nn.softmax_cross_entropy(model.apply(p, x), y)

    def step(p, x, y):
        return fg.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, fg.grad(loss)(p, x, y))
    # 19 launches before reductions took their elementwise readers as epilogues: now 5
    # matmuls, max (+ safe max), sum exp (+ log + max), the softmax grad's sum (+ divide), the
    # two bias sums (+ their SGD updates), 2 elementwise backward kernels, 2 weight updates
    assert _launches(step, params, x, y) <= 15
    assert _launches(loss, params, x, y) <= 7
    assert _launches(fg.value_and_grad(loss), params, x, y) <= 15
    for f in (step, loss, fg.value_and_grad(loss)):
        _same_on_gpu(f, params, x, y)


def test_reduction_kernel_stand_in_checks_like_cupy():
    cp = cupy_backend.cupy_module()
    k = cp.ReductionKernel("T x, T y", "T z", "x * y", "a + b", "z = a", "0", "dot_rows")
    x = cp.asarray(np.arange(6.0).reshape(2, 3))
    _close(k(x, x, axis=1), (np.arange(6.0).reshape(2, 3) ** 2).sum(1))
    _close(k(x, x[0], axis=0, keepdims=True), (np.arange(6.0).reshape(2, 3) * np.arange(3.0))
           .sum(0, keepdims=True))
    with pytest.raises(TypeError, match="Unsupported type"):
        k(x, np.ones(3))
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(x, cp.asarray(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match="Wrong number of arguments"):
        k(x)
    with pytest.raises(TypeError, match="Wrong arguments"):
        k(x, x, axes=0)


def test_grad_of_jit():
    f = fg.jit(lambda x: fnp.sum(fnp.sin(x) * x), device="gpu")
    want = fg.grad(lambda x: fnp.sum(fnp.sin(x) * x))(_X32)
    _close(fg.grad(f)(_gpu(_X32)), want, rtol=1e-5)


def test_jit_vmap_grad():
    f = fg.vmap(fg.grad(lambda x: fnp.sum(fnp.tanh(x) ** 2)))
    _same_on_gpu(f, _X32)


def test_jit_grad_of_indexing():
    idx = np.array([0, 2, 2, 7])
    _same_on_gpu(fg.grad(lambda x: fnp.sum(x[idx] ** 2)), _X32)


def test_jit_scan_array_carry():
    def f(x):
        return fg.scan(lambda c, r: (c * 0.5 + r, fnp.sum(c)), fnp.zeros(5, x.dtype), x)
    _same_on_gpu(f, _X32)


def test_jit_while_and_fori_scalar_carry():
    def f(x):
        n = fg.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 1.5), (0, x))[1]
        return fg.fori_loop(0, 3, lambda i, c: c + fnp.sin(c), n)
    _same_on_gpu(f, _X32)


def test_jit_cond():
    _same_on_gpu(lambda x: fg.cond(fnp.sum(x) > 0, fnp.sin, fnp.cos, x), _X32)


def test_jit_adam_step_state_made_inside():
    from funcgrad.nn import optim
    opt = optim.adam(1e-2)

    def step(p, g):
        u, _ = opt.update(g, opt.init(p), p)
        return optim.apply_updates(p, u)
    _same_on_gpu(step, {"w": _X32}, {"w": _X32 * 0.1})


def test_jit_adam_steps_with_state_on_the_device():
    from funcgrad.nn import optim
    opt = optim.adam(1e-2)

    def run(p, g, device):  # opt.init makes the state (the step count too) on the params' device
        state = opt.init(p)
        step = fg.jit(lambda p, g, s: opt.update(g, s, p), device=device)
        for _ in range(2):
            u, state = step(p, g, state)
            p = optim.apply_updates(p, u)
        return p
    want = run({"w": _X32}, {"w": _X32 * 0.1}, "cpu")
    got = run({"w": _gpu(_X32)}, {"w": _gpu(_X32 * 0.1)}, "gpu")
    _close(got["w"], want["w"], rtol=1e-5)


# --- transforms, layers and data on device inputs, each compared with the CPU -----------------
def _f3(x):
    return fnp.sum(fnp.tanh(x) * fnp.sin(x[::-1]) ** 2)


@pytest.mark.parametrize("name,run", [
    ("jvp", lambda x: fg.jvp(lambda a: fnp.tanh(a) * a[::-1], (x,), (x * 0.5,))),
    ("vmap", lambda x: fg.vmap(lambda r: fnp.dot(r, r[::-1]) + fnp.max(r))(x)),
    ("hessian", lambda x: fg.hessian(_f3)(x[0])),
    ("jacfwd", lambda x: fg.jacfwd(lambda a: fnp.cumsum(fnp.exp(a)))(x[1])),
    ("jacrev", lambda x: fg.jacrev(lambda a: fnp.cumsum(fnp.exp(a)))(x[1])),
    ("linearize", lambda x: fg.linearize(fnp.sin, x)[1](x * 2.0)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_transforms_on_device_inputs(name, run):
    _same_on_gpu(run, _X64, jit=False)


def test_conv2d_and_pooling_values_and_grads():
    from funcgrad import nn
    x = _R.standard_normal((2, 3, 8, 8)).astype(np.float32)
    model = nn.Sequential([nn.Conv2d(4, 3, pad=1), nn.relu,
                           lambda h: nn.max_pool2d(h, 2) + nn.avg_pool2d(h, 2)])
    params = model.init(fg.random.key(0), x)

    def loss(p, x):
        return fnp.mean(model.apply(p, x) ** 2)
    _same_on_gpu(lambda p, x: (model.apply(p, x), fg.grad(loss)(p, x)), params, x, jit=False)
    _same_on_gpu(lambda p, x: fg.grad(loss)(p, x), params, x)


def test_dataloader_batches_stay_on_the_device():
    xs = np.arange(40.0).reshape(10, 4)
    ts = np.arange(10)
    want = [b for b in fg.data.DataLoader((xs, ts), 4, key=1)]
    got = [b for b in fg.data.DataLoader((_gpu(xs), _gpu(ts)), 4, key=1)]
    assert len(got) == len(want) == 3
    for (gx, gt), (wx, wt) in zip(got, want):
        _close(gx, wx)
        _close(gt, wt)


def test_gpu_without_cupy_names_both_extras(monkeypatch):
    def no_cupy():
        raise ImportError("No module named 'cupy'")
    monkeypatch.setattr(cupy_backend, "_import", no_cupy)
    with pytest.raises(fg.FuncgradError, match=r"funcgrad\[cuda12\].*funcgrad\[cuda13\]"):
        fg.device_put(np.ones(2), "gpu")


def test_mixing_devices_in_a_jitted_call_names_both_arguments():
    f = fg.jit(lambda a, b: a + b)  # no device given: the arguments' device, which must be one
    with pytest.raises(fg.FuncgradError, match=r"argument leaf 0 on cpu.*argument leaf 1 on gpu:0"):
        f(np.ones(2), _gpu(np.ones(2)))


def test_creation_functions_follow_the_device():
    x = _gpu(np.ones((2, 3), np.float32))
    for got, want in [(fnp.eye(3, like=x), np.eye(3)), (fnp.identity(2, like=x), np.eye(2)),
                      (fnp.zeros_like(x), np.zeros((2, 3))), (fnp.ones_like(x), np.ones((2, 3))),
                      (fnp.full_like(x, 7), np.full((2, 3), 7.0)),
                      (fnp.full((2,), 3.0, like=x), [3.0, 3.0])]:
        _close(got, want)
    assert fnp.zeros_like(x).dtype == np.float32
    assert type(fnp.eye(2)) is np.ndarray and type(fnp.zeros_like(np.ones(2))) is np.ndarray
    # inside a transform on device arrays, constants without `like` are made on the device too
    g = fg.grad(lambda a: fnp.sum(a * fnp.ones((2, 3)) + fnp.eye(2, 3)))(x)
    _close(g, np.ones((2, 3)))


def test_special_functions_run_on_the_device_with_a_host_order():
    sp = pytest.importorskip("scipy.special")
    x = np.linspace(0.5, 2.0, 4)
    _close(fg.scipy.special.gammainc(2.0, _gpu(x)), sp.gammainc(2.0, x))
    _close(fg.scipy.special.polygamma(1, _gpu(x)), sp.polygamma(1, x))
