"""Steps 34 and 35 of "Deep Learning from Scratch 3" (DeZero): higher-order derivatives.

Nesting `fg.grad` gives derivatives of any order: the 2nd, 3rd and 4th derivatives of sin at 1.0,
and derivatives of tanh up to the 6th. `fg.make_ir(d)(1.0)` stages the n-th derivative into IR;
its equation count shows how the graph grows with the order (the book's figures 35-1 to 35-6),
and `--dot out.dot` writes its Graphviz picture (render with `dot -Tpng out.dot -o out.png`).

    python examples/step34_higher_order.py --order 3 --dot tanh3.dot
"""
import argparse

import funcgrad as fg
import funcgrad.numpy as fnp


def nth_derivative(f, n):
    for _ in range(n):
        f = fg.grad(f)
    return f


def main(max_order=6, dot_path=None):
    res = {f"sin_d{n}": float(nth_derivative(fnp.sin, n)(1.0)) for n in (2, 3, 4)}
    res["tanh"] = {}
    for n in range(1, max_order + 1):
        d = nth_derivative(fnp.tanh, n)
        ir = fg.make_ir(d)(1.0)
        res["tanh"][n] = {"value": float(d(1.0)), "eqns": len(ir.eqns)}
        if dot_path is not None and n == max_order:
            with open(dot_path, "w") as fh:
                fh.write(ir.to_dot())
    return res


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--order", type=int, default=6, help="highest derivative of tanh (default 6)")
    p.add_argument("--dot", metavar="PATH", help="write the DOT of the highest order's IR here")
    args = p.parse_args()
    res = main(max_order=args.order, dot_path=args.dot)
    for n in (2, 3, 4):
        print(f"sin^({n})(1.0) = {res[f'sin_d{n}']!r}")
    for n, r in res["tanh"].items():
        print(f"tanh^({n})(1.0) = {r['value']!r:22}  IR equations: {r['eqns']}")
