"""The GPU fusion plan and its CUDA C, checked on the CPU (no CuPy needed).

`run_plan` executes a plan with NumPy, running each fused kernel's member equations on inputs
reshaped exactly as the GPU launch reshapes them; it must agree with the unfused program, which
checks the execution order, the kernel inputs and outputs, and the broadcast adapters.
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import backend
from funcgrad.backend.fusion import FusedKernel, FusedReduction, is_elementwise, plan_fusion
from funcgrad.core import FuncgradError, bind
from funcgrad.ir import Lit


def run_plan(closed, *args):
    jaxpr = closed.open
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))
    views = {e.out_binders[0]: e.inputs[0] for e in jaxpr.eqns if e.prim.name in (
        "reshape", "expand_dims", "squeeze")}

    def read(x, local=None):
        if type(x) is Lit:
            return x.val
        if local is not None and x in local:
            return local[x]  # an epilogue reads a view of the reduction's result before its step
        return env[x] if x in env else np.reshape(read(views[x], local), x.aval.shape)

    for step in plan_fusion(jaxpr):
        if isinstance(step, FusedKernel):
            local = {}
            for x, s in zip(step.inputs, step.input_shapes):  # as the launch passes them
                v = read(x)
                local[x] = np.broadcast_to(np.reshape(v, s) if s is not None else v,
                                           np.broadcast_shapes(np.shape(v) if s is None
                                                               else s, step.shape)
                                           if s is not None else np.shape(v))
            for eqn in step.eqns:
                if eqn.prim.name == "broadcast_in_dim" and type(eqn.inputs[0]) is not Lit:
                    local[eqn.out_binders[0]] = np.broadcast_to(local[eqn.inputs[0]], step.shape)
                    continue
                outs = bind(eqn.prim, *[read(x, local) for x in eqn.inputs], **eqn.params)
                local.update(zip(eqn.out_binders, outs))
            for v in step.outputs:
                env[v] = local[v]
        else:
            outs = bind(step.prim, *[read(x) for x in step.inputs], **step.params)
            env.update(zip(step.out_binders, outs))
    return [read(x) for x in jaxpr.outvars]


def kernels(closed):
    return [s for s in plan_fusion(closed.open) if isinstance(s, FusedKernel)]


def chain20(x):
    ops = [fnp.sin, fnp.cos, fnp.tanh, fnp.exp, lambda v: v * 0.5, lambda v: v + 1.0,
           fnp.log1p, lambda v: v - 0.25, fnp.abs, fnp.sqrt]
    for i in range(20):
        x = ops[i % len(ops)](x)
    return x


def softmax_mlp(W, b, x):
    h = fnp.tanh(x @ W + b)
    z = h - fnp.max(h, axis=1, keepdims=True)
    e = fnp.exp(z)
    return e / fnp.sum(e, axis=1, keepdims=True)


def sgd_step(params, x, t):
    def loss(p):
        W1, b1, W2, b2 = p
        h = fnp.tanh(x @ W1 + b1)
        z = h @ W2 + b2
        m = fnp.max(z, axis=1, keepdims=True)
        lse = fnp.log(fnp.sum(fnp.exp(z - m), axis=1, keepdims=True)) + m
        return -fnp.mean(fnp.sum((z - lse) * t, axis=1))
    g = fg.grad(loss)(params)
    return [p - 0.1 * gp for p, gp in zip(params, g)]


def test_twenty_primitive_chain_is_one_kernel():
    x = np.linspace(0.1, 1.0, 7).astype(np.float32)
    ir = fg.make_ir(chain20)(x)
    assert sum(1 for e in ir.eqns if is_elementwise(e)) >= 20
    ks = kernels(ir)
    assert len(ks) == 1
    assert len(plan_fusion(ir.open)) == 1
    assert ks[0].source.count("const float") == 20
    np.testing.assert_allclose(run_plan(ir, x)[0], chain20(x), rtol=1e-6)


def test_bias_and_softmax_broadcasts_fuse():
    r = np.random.default_rng(0)
    args = (r.standard_normal((3, 4)).astype(np.float32), r.standard_normal(4).astype(np.float32),
            r.standard_normal((2, 3)).astype(np.float32))
    ir = fg.make_ir(softmax_mlp)(*args)
    steps = plan_fusion(ir.open)
    ks = [s for s in steps if isinstance(s, FusedKernel)]
    # bias+tanh | sub+exp | div: the broadcasts are adapters, not kernels or copies
    assert len(ks) == 3
    assert not any(not isinstance(s, FusedKernel) and s.prim.name == "broadcast_in_dim"
                   for s in steps)
    assert ks[0].input_shapes.count((1, 4)) == 1  # the bias enters reshaped, broadcast at launch
    np.testing.assert_allclose(run_plan(ir, *args)[0], softmax_mlp(*args), rtol=1e-6)


def test_training_step_fuses_to_a_handful_of_kernels():
    r = np.random.default_rng(1)
    params = [r.standard_normal(s).astype(np.float32) * 0.1 for s in [(6, 5), (5,), (5, 3), (3,)]]
    x = r.standard_normal((4, 6)).astype(np.float32)
    t = np.eye(3, dtype=np.float32)[[0, 2, 1, 0]]
    ir = fg.make_ir(sgd_step)(params, x, t)
    n_elementwise = sum(1 for e in ir.eqns if is_elementwise(e))
    steps = plan_fusion(ir.open)
    ks = [s for s in steps if type(s) is FusedKernel]
    library = [s for s in steps if isinstance(s, FusedReduction) or not isinstance(
        s, FusedKernel) and s.prim.name in ("dot_general", "reduce_sum", "reduce_max")]
    assert n_elementwise >= 30
    # between two library calls (matmul, reduction) at most one kernel per iteration shape,
    # plus one update kernel per parameter: never one kernel per primitive
    assert len(ks) <= len(library) + len(params), (len(ks), len(library))
    assert n_elementwise >= 2 * len(ks)
    got = run_plan(ir, *params, x, t)
    want = sgd_step(params, x, t)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_a_group_read_by_a_reduction_closes_and_order_stays_valid():
    def f(x):
        y = fnp.sin(x)
        s = fnp.sum(y)  # reads y: the first kernel must run before the reduction
        return fnp.cos(y) * s + y, y  # y is an output: its kernel stays
    x = np.linspace(0, 1, 5)
    ir = fg.make_ir(f)(x)
    steps = plan_fusion(ir.open)
    kinds = [type(s).__name__ if isinstance(s, FusedKernel) else s.prim.name for s in steps]
    assert kinds.index("reduce_sum") > kinds.index("FusedKernel")
    assert kinds.count("FusedKernel") == 2
    for got, want in zip(run_plan(ir, x), f(x)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_group_read_only_by_a_reduction_and_a_group_is_recomputed_in_both():
    def f(x):
        y = fnp.sin(x) * 2.0
        return fnp.cos(y) * fnp.sum(y) + y
    x = np.linspace(0, 1, 5)
    ir = fg.make_ir(f)(x)
    steps = plan_fusion(ir.open)
    assert [type(s).__name__ for s in steps] == ["FusedReduction", "FusedKernel"]
    assert all(sum(e.prim.name == "sin" for e in s.eqns) == 1 for s in steps)
    assert steps[0].outputs == [e.out_binders[0] for e in ir.eqns if e.prim.name == "reduce_sum"]
    assert "sin(" in steps[0].preamble and steps[0].map_expr.endswith("(in0)")
    np.testing.assert_allclose(run_plan(ir, x)[0], f(x), rtol=1e-12)


def test_mlp_training_step_kernel_count():
    """784-256-10 tanh MLP, softmax cross-entropy, SGD, f32: 12 elementwise kernels and 5
    library reductions before sibling fusion and reductions absorbing their producers; 9
    kernels, 3 fused and 2 library reductions before reductions took epilogues (the bias sums
    now carry the SGD update, the softmax sums their divide / log)."""
    from funcgrad import nn
    model = nn.Sequential([nn.Linear(784, 256), nn.tanh, nn.Linear(256, 10)])
    params = model.init(fg.random.key(0), np.zeros((1, 784), np.float32))

    def step(p, x, y):
        g = fg.grad(lambda p: nn.softmax_cross_entropy(model.apply(p, x), y))(p)
        return fg.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)
    x = np.random.default_rng(0).standard_normal((32, 784)).astype(np.float32)
    y = np.arange(32) % 10
    low = fg.jit(step, device="gpu").lower(params, x, y)
    calls = [ln.split("= _")[1].rsplit("_", 1)[0] for ln in low.source.splitlines()
             if "= _" in ln and "_launch(" not in ln and "_dev_" not in ln]
    kinds = [type(k).__name__ for k in low.kernels]
    assert kinds.count("FusedKernel") == 5 and kinds.count("FusedReduction") == 5, kinds
    assert sum(c.startswith("reduce_") for c in calls) == 0 and calls.count("dot_general") == 5
    for got, want in zip(run_plan(low.ir, *fg.tree_util.tree_leaves((params, x, y))),
                         fg.tree_util.tree_leaves(step(params, x, y))):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_independent_chains_read_by_one_equation_merge():
    def f(x, y):
        return fnp.exp(x) * fnp.sin(y)
    a, b = np.ones(3), np.arange(3.0)
    ir = fg.make_ir(f)(a, b)
    (k,) = kernels(ir)
    assert len(k.inputs) == 2 and len(k.outputs) == 1
    np.testing.assert_allclose(run_plan(ir, a, b)[0], f(a, b))


def test_rendered_source_golden():
    x = np.ones(3, np.float32)
    ir = fg.make_ir(lambda x: fnp.where(x > 0, x ** 3, -x).astype(np.float64))(x)
    (k,) = kernels(ir)
    assert k.in_params == "float32 in0"
    assert k.out_params == "float64 out0"
    assert k.operation == (
        "const bool t0 = (in0 > ((float)0.0));\n"
        "const float t1 = (in0 * in0 * in0);\n"
        "const float t2 = (-in0);\n"
        "const float t3 = (t0 ? t1 : t2);\n"
        "const double t4 = ((double)t3);\n"
        "out0 = t4;")
    assert k.name.startswith("funcgrad_fused_") and k.name in k.source


def test_non_finite_literals_render_as_c():
    x = np.ones(2)
    ir = fg.make_ir(lambda x: fnp.minimum(x, np.inf) + fnp.maximum(x, -np.inf))(x)
    (k,) = kernels(ir)
    assert "(1.0/0.0)" in k.operation and "(-1.0/0.0)" in k.operation


def test_non_elementwise_steps_stay_library_calls():
    x = np.ones((2, 3))
    ir = fg.make_ir(lambda x: fnp.sum(x @ x.T))(x)
    assert kernels(ir) == []
    assert [s.prim.name for s in plan_fusion(ir.open)] == [e.prim.name for e in ir.eqns]


# --- devices (CPU side) ------------------------------------------------------------------------

def _have_cupy() -> bool:
    try:
        import cupy  # noqa: F401
        return True
    except ImportError:
        return False


def test_devices_lists_the_cpu_first():
    ds = fg.devices()
    assert str(ds[0]) == "cpu"
    assert all(str(d).startswith("gpu:") for d in ds[1:])


def test_device_put_cpu_and_to_numpy_round_trip_a_tree():
    tree = {"w": np.ones((2, 2), np.float32), "b": [1.0, None]}
    out = fg.device_put(tree, "cpu")
    assert isinstance(out["w"], np.ndarray) and out["b"][1] is None
    back = fg.to_numpy(out)
    np.testing.assert_array_equal(back["w"], tree["w"])


@pytest.mark.skipif(_have_cupy(), reason="this checks the message shown when CuPy is absent")
def test_asking_for_a_gpu_without_cupy_says_what_is_missing():
    with pytest.raises(FuncgradError, match="CuPy is not installed"):
        fg.device_put(np.ones(2), "gpu")


def test_unknown_device_name_is_rejected():
    with pytest.raises(FuncgradError, match="unknown device 'tpu'"):
        fg.device_put(np.ones(2), "tpu")


class _FakeGpuArray:
    __cuda_array_interface__ = {}
    device = type("Dev", (), {"id": 0})()


def test_mixing_cpu_and_gpu_arrays_is_an_error():
    with pytest.raises(FuncgradError, match="different devices"):
        backend.check_same_device([np.ones(2), _FakeGpuArray()], "jit")
    assert str(backend.check_same_device([np.ones(2), 1.0], "jit")) == "cpu"


# --- GPU lowering (source and kernels need no GPU) ----------------------------------------------

def test_gpu_lowering_of_a_chain_is_one_launch():
    from funcgrad.backend.cupy_codegen import lower_gpu
    ir = fg.make_ir(chain20)(np.ones(5, np.float32))
    low = lower_gpu(ir)
    assert len(low.kernels) == 1
    assert low.source.count("_launch(") == 1
    assert sum(e.prim.name != "broadcast_in_dim" for e in low.kernels[0].eqns) == 20
    assert low.source.startswith("def jitted(a1):")


def test_gpu_lowering_calls_library_ops_between_kernels():
    from funcgrad.backend.cupy_codegen import lower_gpu
    r = np.random.default_rng(0)
    args = (r.standard_normal((3, 4)).astype(np.float32), r.standard_normal(4).astype(np.float32),
            r.standard_normal((2, 3)).astype(np.float32))
    low = lower_gpu(fg.make_ir(softmax_mlp)(*args))
    body = [ln.strip() for ln in low.source.splitlines()[1:]]
    kinds = [("launch" if "_launch(" in ln else ln.split("= _")[1].split("_")[0])
             for ln in body if "=" in ln]
    # max and sum are fused reductions recomputing their producers (tanh(xW + b), exp(h - m))
    assert kinds == ["dot", "launch", "reshape", "launch", "reshape", "launch"], kinds
    assert [type(k).__name__ for k in low.kernels] == ["FusedReduction"] * 2 + ["FusedKernel"]


def test_jit_lowers_for_the_gpu_without_a_gpu():
    x = np.ones((4, 3), np.float32)
    lo = fg.jit(chain20, device="gpu").lower(x)
    assert len(lo.kernels) == 1 and "funcgrad_fused_" in lo.kernels[0].source
    assert "_launch(" in lo.source
    assert fg.jit(chain20).lower(x).kernels == []  # the CPU path has no kernels


@pytest.mark.skipif(_have_cupy(), reason="checks the message shown when CuPy is absent")
def test_running_gpu_code_without_cupy_says_so():
    f = fg.jit(chain20, device="gpu")
    with pytest.raises(FuncgradError, match="CuPy is not installed"):
        f(np.ones(3, np.float32))


def test_jit_rejects_arguments_on_two_devices():
    with pytest.raises(FuncgradError, match="different devices"):
        fg.jit(lambda a, b: a)(np.ones(2), _FakeGpuArray())


def test_dlpack_in_shares_memory_on_the_cpu():
    x = np.arange(6.0).reshape(2, 3)
    y = backend.from_dlpack(x)
    assert isinstance(y, np.ndarray) and np.shares_memory(x, y)
    np.testing.assert_array_equal(fg.grad(lambda a: fnp.sum(a ** 2))(y), 2 * x)


def test_a_group_with_an_output_is_never_recomputed_away():
    def f(x):
        y = fnp.exp(x)
        z = fnp.sin(y)  # y is also a program output, read by a sibling-free reduction below
        return y, fnp.sum(y * 2.0), z @ z
    x = np.linspace(0, 1, 4)
    ir = fg.make_ir(f)(x)
    for got, want in zip(run_plan(ir, x), f(x)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
