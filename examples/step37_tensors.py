"""Steps 37-41 of "Deep Learning from Scratch 3": tensors, shapes, sums, broadcasting, matmul.

Every function works elementwise on arrays, and a gradient always has the shape of its input:

- step 37: ``sin`` of a (2, 3) array and its gradient (``cos``), ``c = x + c0`` elementwise;
- step 38: ``reshape`` and ``transpose`` pass gradients back in the input's shape;
- step 39: ``sum`` (and ``axis=``, ``keepdims=``) broadcasts its gradient back to all ones;
- step 40: adding a (3,) vector to a (2, 3) array broadcasts it; its gradient sums the rows;
- step 41: ``matmul`` of (2, 3) by (3, 4): ``gx = gy @ W.T`` (2, 3), ``gW = x.T @ gy`` (3, 4).

    python examples/step37_tensors.py
"""
from __future__ import annotations

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def main(verbose=False):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    res = {
        "sin_grad": fg.grad(lambda x: fnp.sum(fnp.sin(x)))(x),
        "reshape_grad": fg.grad(lambda x: fnp.sum(fnp.reshape(x, (6,)) * np.arange(6.0)))(x),
        "transpose_grad": fg.grad(lambda x: fnp.sum(fnp.transpose(x) * np.arange(6.0)
                                                    .reshape(3, 2)))(x),
        "sum_axis0": fg.grad(lambda x: fnp.sum(fnp.sum(x, axis=0, keepdims=True) ** 2))(x),
        "broadcast": fg.grad(lambda b: fnp.sum(x + b), argnums=0)(np.array([10.0, 20.0, 30.0])),
    }
    W = np.random.default_rng(0).normal(size=(3, 4))
    gx, gW = fg.grad(lambda x, W: fnp.sum(fnp.matmul(x, W)), argnums=(0, 1))(x, W)
    res["matmul_gx"], res["matmul_gW"] = gx, gW
    res["matmul_W"] = W
    res = {k: np.asarray(v) for k, v in res.items()}
    if verbose:
        for k, v in res.items():
            print(f"{k}: shape {v.shape}\n{v}")
    return res


if __name__ == "__main__":
    main(verbose=True)
