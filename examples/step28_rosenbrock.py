"""Step 28 of "Deep Learning from Scratch 3" (DeZero): gradient descent on the Rosenbrock function.

    y = 100 (x1 - x0^2)^2 + (x0 - 1)^2,  minimum at (1, 1)

Where the book calls `cleargrad()` and `backward()` each iteration, funcgrad calls one pure
function, `fg.grad(rosenbrock, argnums=(0, 1))`, that returns both partial derivatives. Like the
book, the loop prints the point *before* each update, so with 10,000 iterations the last line is
the state after 9,999 updates: (0.99449622, 0.98900063).
"""
import numpy as np

import funcgrad as fg


def rosenbrock(x0, x1):
    return 100 * (x1 - x0 ** 2) ** 2 + (x0 - 1) ** 2


def main(iters=10000, lr=0.001, verbose=False):
    grad_fn = fg.grad(rosenbrock, argnums=(0, 1))
    g0, g1 = grad_fn(0.0, 2.0)
    res = {"grad_at_start": (float(g0), float(g1))}    # (-2.0, 400.0)
    x0, x1 = np.array(0.0), np.array(2.0)
    for i in range(iters):
        if verbose and (i < 3 or i % 1000 == 0 or i == iters - 1):
            print(i, x0, x1)
        res["last_printed"] = (float(x0), float(x1))
        g0, g1 = grad_fn(x0, x1)
        x0, x1 = x0 - lr * g0, x1 - lr * g1
    res["final"] = (float(x0), float(x1))
    return res


if __name__ == "__main__":
    res = main(verbose=True)
    print("grad at (0, 2):      ", res["grad_at_start"])
    print("last printed:        ", np.round(res["last_printed"], 8))   # [0.99449622 0.98900063]
    print("after 10,000 updates:", np.round(res["final"], 8))          # [0.99449844 0.98900505]
