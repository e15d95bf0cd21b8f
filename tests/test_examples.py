"""The book-reproduction scripts in examples/ return the book's numbers (stages 1-3).

Values the book prints with all 16-17 significant digits are compared exactly (our float64
arithmetic does the same operations); the one exception is np.sin(pi/4), see below.
"""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_step01_basics():
    res = load("step01_basics").main()
    assert res["y"] == 1.648721270700128                       # S3
    assert res["numerical_grad"] == 3.2974426293330694         # S4
    assert res["square_numerical_grad_at_2"] == 4.000000000004  # S4
    assert res["grad"] == 3.297442541400256                    # S6-S9
    assert (res["add_z"], res["add_gx"], res["add_gy"]) == (13.0, 4.0, 6.0)  # S13
    assert (res["diamond_y"], res["diamond_grad"]) == (32.0, 64.0)            # S16


def test_step24_optimization_benchmarks():
    res = load("step24_optimization_benchmarks").main()
    assert res["sphere"] == (2.0, 2.0)
    assert res["matyas"] == (0.040000000000000036, 0.040000000000000036)
    assert res["goldstein"] == (-5376.0, 8064.0)


def test_step27_taylor_sin():
    mod = load("step27_taylor_sin")
    res = mod.main()
    # The book prints sin(pi/4) = 0.7071067811865476; this platform's correctly rounded np.sin
    # gives ...475 (1 ulp lower; the exact value is 0.70710678118654750275...). cos is ...476.
    assert abs(res["sin"] - 0.7071067811865476) <= math.ulp(0.7071067811865476)
    assert res["sin_grad"] == 0.7071067811865476
    assert res["my_sin"] == 0.7071064695751781
    assert res["my_sin_grad"] == 0.7071032148228457
    small, long = res["threshold=0.0001"], res["threshold=1e-150"]
    assert (small["terms"], long["terms"]) == (4, 47)
    assert long["eqns"] > 10 * small["eqns"] and long["grad_eqns"] > 10 * small["grad_eqns"]
    # the fixed-length stand-in used for make_ir computes exactly what the `break` loop computes
    x = np.pi / 4
    for threshold in (1e-4, 1e-150):
        n = mod.n_terms(x, threshold)
        assert mod.sin_n_terms(x, n) == mod.my_sin(x, threshold)


def test_step28_rosenbrock():
    mod = load("step28_rosenbrock")
    res = mod.main(iters=10000)
    assert res["grad_at_start"] == (-2.0, 400.0)
    # the book prints 8 decimals: the last printed line is the state after 9,999 updates
    assert tuple(np.round(res["last_printed"], 8)) == (0.99449622, 0.98900063)
    assert tuple(np.round(res["final"], 8)) == (0.99449844, 0.98900505)
    # and it is bit-for-bit the hand-derived gradient descent
    x0, x1 = 0.0, 2.0
    for _ in range(9999):
        t = x1 - x0 ** 2
        x0, x1 = x0 - 0.001 * (100 * 2 * t * (-2 * x0) + 2 * (x0 - 1)), x1 - 0.001 * (200 * t)
    assert res["last_printed"] == (x0, x1)


def test_step28_rosenbrock_1000_iterations():
    res = load("step28_rosenbrock").main(iters=1000)
    assert tuple(np.round(res["last_printed"], 8)) == (0.68349178, 0.4656506)


def test_step29_newton():
    res = load("step29_newton").main()
    assert res["xs"] == [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
                         1.0009084519430513, 1.0000012353089454, 1.000000000002289,
                         1.0, 1.0, 1.0]
    assert (res["df_at_2"], res["d2f_at_2"]) == (24.0, 44.0)  # S33: 44, not 68


def test_step34_higher_order(tmp_path):
    mod = load("step34_higher_order")
    dot = tmp_path / "tanh.dot"
    res = mod.main(max_order=6, dot_path=str(dot))
    assert res["sin_d2"] == -0.8414709848078965
    assert res["sin_d3"] == -0.5403023058681398
    assert res["sin_d4"] == 0.8414709848078965
    # d^n/dx^n tanh = P_n(tanh x) with P_1 = 1 - y^2, P_{n+1} = P_n'(y) (1 - y^2)
    y, p = np.tanh(1.0), np.polynomial.Polynomial([1.0, 0.0, -1.0])
    for n in range(1, 7):
        np.testing.assert_allclose(res["tanh"][n]["value"], p(y), rtol=1e-13)
        p = p.deriv() * np.polynomial.Polynomial([1.0, 0.0, -1.0])
    counts = [res["tanh"][n]["eqns"] for n in range(1, 7)]
    assert counts[0] == 3 and counts == sorted(counts)  # S35 less its product with the seed 1
    text = dot.read_text()
    assert text.startswith("digraph g {") and text.rstrip().endswith("}")
    assert text.count("shape=box") == counts[-1]


def test_step34_first_derivative_graph_is_the_books():
    import funcgrad as fg
    import funcgrad.numpy as fnp
    ir = fg.make_ir(fg.grad(fnp.tanh))(1.0)
    # the book's tanh, mul, sub, mul, without its last product with the unit seed gy = 1
    assert [str(e.prim) for e in ir.eqns] == ["tanh", "mul", "sub"]


def test_step36_double_backprop():
    res = load("step36_double_backprop").main()
    assert res["dz_dx"] == 100.0
    for key in ("hvp_fwd_over_rev", "hvp_rev_over_rev", "hessian_times_v"):
        np.testing.assert_array_equal(res[key], [8.0, 10.0])


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("step*.py")), ids=lambda p: p.stem)
def test_scripts_have_docstring_and_main(path):
    mod = load(path.stem)
    assert mod.__doc__ and "Deep Learning from Scratch 3" in mod.__doc__
    assert callable(mod.main)


def _load_with_examples_on_path(name, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the script imports its sibling step51_mnist
    return load(name)


def test_mnist_gpu_example_runs_on_the_cpu(monkeypatch):
    res = _load_with_examples_on_path("mnist_gpu", monkeypatch).main(
        model="relu", epochs=2, limit=1000, devices=("cpu",))
    (seconds1, acc1), (seconds2, acc2) = res["cpu"]
    assert seconds1 > 0 and acc2 > 0.6  # 20 Adam steps on 1,000 real digits


@pytest.mark.gpu
def test_mnist_gpu_example_trains_on_the_gpu_like_on_the_cpu(monkeypatch):
    res = _load_with_examples_on_path("mnist_gpu", monkeypatch).main(
        model="relu", epochs=1, limit=1000, devices=("cpu", "gpu"))
    assert abs(res["cpu"][0][1] - res["gpu"][0][1]) < 0.02  # same data order, same init
