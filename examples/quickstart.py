"""A 30-second tour of funcgrad: derivatives of any order, Jacobians, batching and the IR."""
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def main():
    f = fnp.tanh
    d = f
    for n in range(1, 5):
        d = fg.grad(d)
        print(f"d^{n}/dx^{n} tanh(1.0) = {float(d(1.0)):+.12f}")

    print("hessian of sum(x**4) at [0, 1, 2]:\n", fg.hessian(lambda x: fnp.sum(x ** 4))(
        np.arange(3.0)))

    def loss(w, x, t):
        return fnp.mean((fnp.tanh(x @ w) - t) ** 2)

    rng = np.random.default_rng(0)
    w, xs, ts = rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5)
    per_example = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(w, xs, ts)
    print("per-example gradients, shape", per_example.shape)

    print("IR of grad(tanh):")
    print(fg.make_ir(fg.grad(f))(1.0))


if __name__ == "__main__":
    main()
