"""Step 58 of "Deep Learning from Scratch 3": VGG16.

Prints the architecture with ``nn.summary`` (per-layer output shapes and parameter counts,
138,357,544 parameters in all, computed from shapes only) and, given a weight file, classifies
one image:

    python examples/convert_vgg16_weights.py vgg16.npz vgg16_funcgrad.npz   # once, offline
    python examples/step58_vgg16.py --weights vgg16_funcgrad.npz --image zebra.npy

``--image`` takes an ``(H, W, 3)`` RGB array saved with ``np.save`` (convert a photo with
``np.save("zebra.npy", np.asarray(PIL.Image.open("zebra.jpg").convert("RGB")))``); without it a
random image is used. Without ``--weights`` only the summary is printed (initialising 138
million parameters from the PRNG takes about a minute; a forward pass on one 224x224 image,
about a second).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import funcgrad as fg
from funcgrad import nn


def summary() -> str:
    return nn.summary(nn.VGG16(), np.zeros((1, 3, 224, 224), np.float32))


def classify(params, image, top: int = 5):
    """Top-``top`` class indices and probabilities of one RGB image ``(H, W, 3)``."""
    model = nn.VGG16(num_classes=params["fc8"]["b"].shape[0])
    x = nn.VGG16.preprocess(image)[None]
    probs = np.asarray(nn.softmax(fg.jit(model.apply)(params, x)))[0]
    order = np.argsort(probs)[::-1][:top]
    return [(int(i), float(probs[i])) for i in order]


def main(weights=None, image=None, verbose=False):
    text = summary()
    if verbose:
        print(text)
    res = {"summary": text}
    if weights:
        params = nn.VGG16.load_params(weights)
        img = (np.load(image) if image else
               np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
        t0 = time.perf_counter()
        res["top5"] = classify(params, img)
        res["seconds"] = time.perf_counter() - t0
        if verbose:
            for i, p in res["top5"]:
                print(f"class {i:4d}  p = {p:.4f}")
            print(f"forward pass: {res['seconds']:.1f} s")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="an fg.save file from convert_vgg16_weights.py")
    ap.add_argument("--image", help="an (H, W, 3) RGB image saved with np.save")
    args = ap.parse_args()
    main(args.weights, args.image, verbose=True)
