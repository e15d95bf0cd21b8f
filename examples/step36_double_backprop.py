"""Step 36 of "Deep Learning from Scratch 3" (DeZero): uses of double backprop.

1. A gradient inside the function being differentiated: y = x^2, gx = dy/dx = 2x,
   z = gx^3 + y, so dz/dx = 24x^2 + 2x = 100 at x = 2. In the book this needs
   `backward(create_graph=True)`; here `fg.grad` is simply called inside the function.
2. The Hessian-vector product H v of f(x) = sum(x^2) at x = [1, 2], v = [4, 5] (H = 2I, so
   H v = [8, 10]) without building H: forward-over-reverse `fg.jvp(fg.grad(f), (x,), (v,))`, and
   the book's way, the gradient of the dot product <grad f(x), v> (reverse-over-reverse).
"""
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def z_of(x):
    y = x ** 2
    gx = fg.grad(lambda x: x ** 2)(x)
    return gx ** 3 + y


def f(x):
    return fnp.sum(x ** 2)


def main():
    x, v = np.array([1.0, 2.0]), np.array([4.0, 5.0])
    _, hvp_fwd = fg.jvp(fg.grad(f), (x,), (v,))
    hvp_rev = fg.grad(lambda x: fnp.dot(fg.grad(f)(x), v))(x)
    return {"dz_dx": float(fg.grad(z_of)(2.0)),  # 100.0
            "hvp_fwd_over_rev": hvp_fwd,          # [ 8. 10.]
            "hvp_rev_over_rev": hvp_rev,          # [ 8. 10.]
            "hessian_times_v": fg.hessian(f)(x) @ v}


if __name__ == "__main__":
    for k, val in main().items():
        print(f"{k:18s} {val!r}")
