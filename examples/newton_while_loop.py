"""Newton's method (DeZero steps 29 and 33) written with `fg.while_loop`, then differentiated
with respect to its starting point.

    x <- x - f'(x) / f''(x),   f(x) = x^4 - 2x^2,  from x0 = 2.0

f' and f'' come from `fg.grad` and `fg.grad(fg.grad(...))`. The loop runs while
|f'(x)| > 1e-12 and stops at the minimum x = 1.0 after 7 steps, the book's trajectory
2.0, 1.4545..., 1.1510..., 1.0253..., 1.0009..., 1.0000012..., 1.000000000002289, 1.0.
The iterates are recorded into a fixed-size buffer carried by the loop.

Reverse mode through a `while_loop` (which JAX refuses): `fg.grad` runs the loop forwards,
records its trip count and per-iteration residuals, and runs a reverse scan over them. We
differentiate two functions of the starting point and compare with central finite differences:

- the final iterate x_7(x0): Newton converges quadratically, so its derivative is (almost) 0;
- the sum of all iterates, S(x0) = x_0 + x_1 + ... + x_7, whose derivative is not small.

Run: python examples/newton_while_loop.py
"""
from __future__ import annotations

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

MAX_STEPS = 16
TOL = 1e-12


def f(x):
    return x ** 4 - 2 * x ** 2


df = fg.grad(f)
d2f = fg.grad(df)


def newton(x0):
    """Returns (number of steps, final x, buffer of iterates x_0..x_n padded with zeros)."""
    def keep_going(carry):
        n, x, _ = carry
        return (fnp.abs(df(x)) > TOL) & (n < MAX_STEPS - 1)

    def step(carry):
        n, x, xs = carry
        x = x - df(x) / d2f(x)
        return n + 1, x, fnp.at(xs)[n + 1].set(x)

    buf = fnp.at(fnp.zeros(MAX_STEPS))[0].set(x0)
    return fg.while_loop(keep_going, step, (0, x0, buf))


def final_x(x0):
    return newton(x0)[1]


def sum_of_iterates(x0):
    return fnp.sum(newton(x0)[2])


def central_difference(fun, x, eps=1e-6):
    return (float(fun(x + eps)) - float(fun(x - eps))) / (2 * eps)


def main(verbose=False):
    n, x, xs = newton(2.0)
    trajectory = [float(v) for v in np.asarray(xs)[:int(n) + 1]]
    results = {
        "steps": int(n),
        "trajectory": trajectory,
        "grad_final": float(fg.grad(final_x)(2.0)),
        "fd_final": central_difference(final_x, 2.0),
        "grad_sum": float(fg.grad(sum_of_iterates)(2.0)),
        "fd_sum": central_difference(sum_of_iterates, 2.0),
        # under jit the trip count is known only when the compiled program runs
        "jit_grad_sum": float(fg.jit(fg.grad(sum_of_iterates))(2.0)),
    }
    if verbose:
        for i, v in enumerate(trajectory):
            print(i, repr(v))
        print(f"steps: {results['steps']}")
        print(f"d x_final / d x0:      grad {results['grad_final']:.6e}   "
              f"finite differences {results['fd_final']:.6e}")
        print(f"d sum(x_k) / d x0:     grad {results['grad_sum']:.10f}   "
              f"finite differences {results['fd_sum']:.10f}")
        print(f"d sum(x_k) / d x0:     jit(grad) {results['jit_grad_sum']:.10f}")
    return results


if __name__ == "__main__":
    main(verbose=True)
