"""Convert the book's VGG16 weights (``vgg16.npz``, as DeZero saves them: keys ``conv1_1/W``,
``conv1_1/b``, ..., ``fc8/b``) into an ``fg.save`` file that ``nn.VGG16.load_params`` reads.

Nothing is downloaded: pass a file you already have. The layouts agree (convolution weights
``(out, in, 3, 3)``, linear weights ``(in, out)``, the flatten before ``fc6`` in C order), so
the conversion only regroups the keys and checks every shape against ``nn.VGG16``.

    python examples/convert_vgg16_weights.py vgg16.npz vgg16_funcgrad.npz
"""
from __future__ import annotations

import argparse

import numpy as np

import funcgrad as fg
from funcgrad import nn


def expected_shapes(num_classes: int = 1000) -> dict:
    """``{layer: {"W": shape, "b": shape}}`` of ``nn.VGG16`` on 224x224 images."""
    shapes, c_in = {}, 3
    for b, channels in enumerate(nn.VGG16.BLOCKS, 1):
        for c, ch in enumerate(channels, 1):
            shapes[f"conv{b}_{c}"] = {"W": (ch, c_in, 3, 3), "b": (ch,)}
            c_in = ch
    for name, n_in, n_out in (("fc6", 512 * 7 * 7, 4096), ("fc7", 4096, 4096),
                              ("fc8", 4096, num_classes)):
        shapes[name] = {"W": (n_in, n_out), "b": (n_out,)}
    return shapes


def convert(src, dst, dtype=np.float32) -> dict:
    """Read the book's ``src`` .npz, check it, write ``dst`` with ``fg.save``; returns params."""
    flat = np.load(src)
    num_classes = flat["fc8/b"].shape[0]
    params = {}
    for layer, shapes in expected_shapes(num_classes).items():
        params[layer] = {}
        for leaf, shape in shapes.items():
            key = f"{layer}/{leaf}"
            if key not in flat:
                raise SystemExit(f"{src}: no array {key!r} (has {sorted(flat.files)[:4]}...)")
            if flat[key].shape != shape:
                raise SystemExit(f"{src}: {key} has shape {flat[key].shape}, expected {shape}")
            params[layer][leaf] = np.ascontiguousarray(flat[key], dtype=dtype)
    fg.save(dst, params)
    return params


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="the book's vgg16.npz")
    ap.add_argument("dst", help="where to write the funcgrad parameter file")
    args = ap.parse_args()
    p = convert(args.src, args.dst)
    print(f"wrote {args.dst}: {nn.count_params(p):,} parameters")
