"""Steps 25-26 of "Deep Learning from Scratch 3": pictures of computational graphs.

The book writes DOT text for the graph behind a ``Variable`` and renders it with Graphviz. In
funcgrad the graph is the program a transform builds: ``fg.make_ir(f)(x, y)`` stages ``f`` and
``.to_dot()`` gives its DOT text (values as orange ellipses, operations as blue boxes). The
Goldstein-Price function (the book's figure 26-1) and its gradient program:

    python examples/step25_graph_pictures.py [--out goldstein.png] [--verbose]

``--out`` renders PNG files with Graphviz's ``dot`` program (``apt-get install graphviz``);
without it the DOT text files are written next to it (``goldstein.dot``, ``goldstein_grad.dot``).
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess

import funcgrad as fg


def goldstein(x, y):
    return ((1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2))
            * (30 + (2 * x - 3 * y) ** 2
               * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)))


def main(out=None, verbose=False):
    ir = fg.make_ir(goldstein)(1.0, 1.0)
    grad_ir = fg.make_ir(fg.grad(goldstein, argnums=(0, 1)))(1.0, 1.0)
    res = {"dot": ir.to_dot(verbose=verbose), "grad_dot": grad_ir.to_dot(verbose=verbose),
           "eqns": len(ir.eqns), "grad_eqns": len(grad_ir.eqns), "files": []}
    if out:
        out = pathlib.Path(out)
        for suffix, text in (("", res["dot"]), ("_grad", res["grad_dot"])):
            dot_path = out.with_name(out.stem + suffix + ".dot")
            dot_path.write_text(text)
            res["files"].append(dot_path)
            if shutil.which("dot"):
                png = out.with_name(out.stem + suffix + out.suffix)
                subprocess.run(["dot", "-T" + out.suffix.lstrip("."), str(dot_path), "-o",
                                str(png)], check=True, timeout=60)
                res["files"].append(png)
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="image to write, e.g. goldstein.png")
    ap.add_argument("--verbose", action="store_true", help="label values with shape and dtype")
    args = ap.parse_args()
    r = main(args.out, args.verbose)
    print(f"goldstein: {r['eqns']} equations; its gradient: {r['grad_eqns']} equations")
    for f in r["files"]:
        print(f"wrote {f}")
    if not args.out:
        print(r["dot"])
