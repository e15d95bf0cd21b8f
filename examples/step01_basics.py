"""Stage 1 of "Deep Learning from Scratch 3" (DeZero), steps 1-16, written functionally.

The book builds `Variable`/`Function` objects and calls `y.backward()`. In funcgrad a function is
plain Python over `funcgrad.numpy`, and `fg.grad(f)` is its derivative:

- S3/S6-S9: the chain square(exp(square(x))) at x=0.5 and its derivative.
- S4: numerical differentiation (central difference, eps=1e-4) against the exact gradient.
- S13: z = x**2 + y**2 with two inputs (`argnums=(0, 1)`).
- S16: the "diamond" graph a = x**2; y = a**2 + a**2 = 2x^4, whose gradient checks that every
  path through `a` is accumulated once (the book's generation ordering).
"""
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def f(x):
    """S3: C(B(A(x))) with A, C = square and B = exp."""
    return fnp.square(fnp.exp(fnp.square(x)))


def numerical_diff(f, x, eps=1e-4):
    """S4: central difference, as in the book."""
    x = np.asarray(x)
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def add_squares(x, y):
    return fnp.square(x) + fnp.square(y)


def diamond(x):
    a = fnp.square(x)
    return fnp.square(a) + fnp.square(a)


def main():
    x = np.array(0.5)
    res = {
        "y": float(f(x)),                                    # 1.648721270700128
        "numerical_grad": float(numerical_diff(f, x)),       # 3.2974426293330694
        "grad": float(fg.grad(f)(x)),                        # 3.297442541400256
        "square_numerical_grad_at_2": float(numerical_diff(fnp.square, 2.0)),  # 4.000000000004
    }
    z, (gx, gy) = fg.value_and_grad(add_squares, argnums=(0, 1))(2.0, 3.0)
    res.update(add_z=float(z), add_gx=float(gx), add_gy=float(gy))  # 13.0 4.0 6.0
    y, gx = fg.value_and_grad(diamond)(2.0)
    res.update(diamond_y=float(y), diamond_grad=float(gx))  # 32.0 64.0
    return res


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k:28s} {v!r}")
