"""Step 27 of "Deep Learning from Scratch 3" (DeZero): sin as a Taylor series.

    sin(x) = sum_i (-1)^i x^(2i+1) / (2i+1)!

`my_sin` stops adding terms once a term drops below `threshold`. That is Python control flow on
a value computed from `x`, and it works inside `fg.grad` because eager grad tracers carry their
concrete value (`abs(t) < threshold` is an ordinary bool).

`fg.make_ir` is different: it stages the function without running it on values, so it cannot
decide that `if`. To compare graph sizes for threshold 1e-4 and 1e-150 (the book's figures 27-1
and 27-2) we first count, with ordinary floats, how many terms the loop would add, and then stage
`sin_n_terms(x, n)`, the same sum with a fixed `range(n)` loop.
"""
import math

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def my_sin(x, threshold=1e-4):
    y = 0.0
    for i in range(100000):
        c = (-1) ** i / math.factorial(2 * i + 1)
        t = c * x ** (2 * i + 1)
        y = y + t
        if abs(t) < threshold:  # data-dependent break: fine under fg.grad
            break
    return y


def n_terms(x, threshold):
    """How many terms `my_sin(x, threshold)` adds, computed with plain floats."""
    for i in range(100000):
        t = (-1) ** i / math.factorial(2 * i + 1) * float(x) ** (2 * i + 1)
        if abs(t) < threshold:
            return i + 1


def sin_n_terms(x, n):
    """`my_sin` with the loop length fixed in advance, so `fg.make_ir` can stage it."""
    y = 0.0
    for i in range(n):
        y = y + (-1) ** i / math.factorial(2 * i + 1) * x ** (2 * i + 1)
    return y


def main():
    x = np.array(np.pi / 4)
    y, gx = fg.value_and_grad(fnp.sin)(x)
    res = {"sin": float(y), "sin_grad": float(gx)}                    # 0.7071067811865476 (both)
    y, gx = fg.value_and_grad(my_sin)(x)
    res.update(my_sin=float(y), my_sin_grad=float(gx))  # 0.7071064695751781 0.7071032148228457
    for threshold in (1e-4, 1e-150):
        n = n_terms(x, threshold)
        ir = fg.make_ir(lambda x: sin_n_terms(x, n))(x)
        grad_ir = fg.make_ir(fg.grad(lambda x: sin_n_terms(x, n)))(x)
        res[f"threshold={threshold:g}"] = {"terms": n, "eqns": len(ir.eqns),
                                           "grad_eqns": len(grad_ir.eqns)}
    return res


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k:18s} {v!r}")
