"""examples/newton_while_loop.py and examples/per_example_gradients.py produce their numbers."""
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np

import funcgrad as fg

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# the book (steps 29 and 33): Newton on f(x) = x^4 - 2x^2 from 2.0 reaches 1.0 in 7 steps
BOOK_TRAJECTORY = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
                   1.0009084519430513, 1.0000012353089454, 1.000000000002289, 1.0]


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_newton_while_loop_trajectory_and_derivatives():
    mod = load("newton_while_loop")
    res = mod.main()
    assert res["steps"] == 7
    assert res["trajectory"] == BOOK_TRAJECTORY
    assert abs(res["grad_final"]) < 1e-12 and abs(res["fd_final"]) < 1e-8
    assert abs(res["grad_sum"] - res["fd_sum"]) < 1e-6
    assert 1.9 < res["grad_sum"] < 2.1

    # the same derivative through an unrolled Python loop (runs eagerly under grad)
    def unrolled(x0):
        x, total = x0, x0
        while abs(mod.df(x)) > mod.TOL:  # a comparison on the traced value (not float())
            x = x - mod.df(x) / mod.d2f(x)
            total = total + x
        return total
    assert abs(float(fg.grad(unrolled)(2.0)) - res["grad_sum"]) < 1e-12
    assert abs(res["jit_grad_sum"] - res["grad_sum"]) < 1e-12  # reverse mode under jit


def test_newton_while_loop_prints():
    out = subprocess.run([sys.executable, str(EXAMPLES / "newton_while_loop.py")],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    assert lines[:8] == [f"{i} {v!r}" for i, v in enumerate(BOOK_TRAJECTORY)]
    assert "steps: 7" in out
    grad_line = next(ln for ln in lines if ln.startswith("d sum(x_k)"))
    nums = [float(t) for t in grad_line.split() if t[:1].isdigit()]
    assert len(nums) == 2 and abs(nums[0] - nums[1]) < 1e-6


def test_per_example_gradients_agree_with_loop():
    mod = load("per_example_gradients")
    res = mod.main(n=8, repeats=1)
    assert res["max_abs_diff"] < 1e-5
    assert res["shapes"] == {"W1": (8, 784, 100), "b1": (8, 100), "W2": (8, 100, 10),
                             "b2": (8, 10)}
    # per-example gradients sum to the gradient of the summed loss
    params = mod.init_params()
    xs, labels = mod.make_data(8)
    per = mod.per_example_grads(params, xs, labels)
    total = fg.grad(lambda p: sum(mod.loss(p, x, t) for x, t in zip(xs, labels)))(params)
    for k in params:
        np.testing.assert_allclose(per[k].sum(0), total[k], rtol=1e-4, atol=1e-5)


def test_per_example_gradients_prints():
    out = subprocess.run([sys.executable, str(EXAMPLES / "per_example_gradients.py"), "-n", "16"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert "16 examples" in out and "W1: (16, 784, 100)" in out
    diff = float(next(ln for ln in out.splitlines() if ln.startswith("max |")).split("=")[1])
    assert diff < 1e-5
    assert "speedup:" in out
