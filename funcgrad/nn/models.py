"""Ready-made models of the book's stage 5: `VGG16` (step 58) and `SimpleRNN` (step 59).

Both are built from the layers in layers.py, conv.py and recurrent.py; `nn.summary(model, x)`
(layers.py) prints their per-layer output shapes and parameter counts.

    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import nn
    >>> rnn = nn.SimpleRNN(10, 1)
    >>> params = rnn.init(fg.random.key(0), np.zeros((1, 5, 1), np.float32))
    >>> ys, h = rnn.apply(params, np.ones((2, 5, 1), np.float32))
    >>> ys.shape, h.shape
    ((2, 5, 1), (2, 10))
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import random as fgr
from ..core import FuncgradError, user_frame
from ..io import load
from .conv import Conv2d, MaxPool2d
from .functional import relu
from .layers import Dropout, Flatten, Linear, Sequential
from .module import Module
from .recurrent import RNN

__all__ = ["VGG16", "SimpleRNN"]


class VGG16(Sequential):
    """VGG16 (Simonyan and Zisserman, 2014), the network the book's step 58 runs.

    Thirteen 3x3 convolutions with padding 1 in five blocks of 64, 128, 256, 512 and 512
    channels, each block ending in a 2x2 max pooling, then ``fc6`` (4096), ``fc7`` (4096) with
    ReLU and Dropout(0.5), and ``fc8`` (``num_classes``). On ``(N, 3, 224, 224)`` images it has
    138,357,544 parameters for 1,000 classes. Parameters are keyed by the layer names the book's
    weight file uses: ``{"conv1_1": {"W", "b"}, ..., "conv5_3": ..., "fc6": ..., "fc8": ...}``.

    Pretrained weights come from a local file: ``examples/convert_vgg16_weights.py`` turns the
    book's ``vgg16.npz`` (keys ``conv1_1/W``, ...) into an ``fg.save`` file, which
    ``VGG16.load_params(path)`` reads (and checks). Images go through `VGG16.preprocess` first.
    """

    BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
    MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)  # ImageNet mean, BGR order

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        self.num_classes, self.dropout = int(num_classes), float(dropout)
        layers: list[Any] = []
        names: list[str] = []
        for b, channels in enumerate(self.BLOCKS, 1):
            for c, ch in enumerate(channels, 1):
                layers += [Conv2d(ch, 3, pad=1), relu]
                names += [f"conv{b}_{c}", f"relu{b}_{c}"]
            layers.append(MaxPool2d(2))
            names.append(f"pool{b}")
        layers += [Flatten(), Linear(4096), relu, Dropout(dropout), Linear(4096), relu,
                   Dropout(dropout), Linear(num_classes)]
        names += ["flatten", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
        super().__init__(layers, names)

    def __repr__(self) -> str:
        return f"VGG16(num_classes={self.num_classes}, dropout={self.dropout})"

    @staticmethod
    def preprocess(image, size: tuple[int, int] | None = (224, 224), dtype=np.float32):
        """An RGB image ``(H, W, 3)`` (uint8 or float, e.g. ``np.asarray(PIL_image)``) ->
        the network's input ``(3, H', W')``: resized to ``size`` (bilinear; None keeps it),
        channels reversed to BGR, the ImageNet mean subtracted, channels first (the book's
        ``VGG16.preprocess``; add the batch axis with ``x[None]``)."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise FuncgradError(f"VGG16.preprocess: expected an RGB image (H, W, 3), got shape "
                                f"{img.shape}, at {user_frame()}")
        img = img[:, :, :3].astype(np.float32)
        if size is not None and img.shape[:2] != (size[1], size[0]):
            img = _resize_bilinear(img, size[1], size[0])
        img = img[:, :, ::-1] - VGG16.MEAN_BGR
        return np.ascontiguousarray(img.transpose(2, 0, 1)).astype(dtype)

    @staticmethod
    def load_params(path) -> dict:
        """Parameters from an ``fg.save`` file (``examples/convert_vgg16_weights.py`` writes
        one from the book's weights), checked against the architecture's shapes."""
        params = load(path)
        want = {"conv1_1": (64, 3, 3, 3), "conv5_3": (512, 512, 3, 3), "fc6": (25088, 4096),
                "fc8": None}
        for name, shape in want.items():
            if name not in params or "W" not in params[name]:
                raise FuncgradError(f"VGG16.load_params: {path} has no {name!r} weights (keys: "
                                    f"{sorted(params)[:5]}...), at {user_frame()}")
            if shape is not None and tuple(np.shape(params[name]["W"])) != shape:
                raise FuncgradError(f"VGG16.load_params: {name}.W has shape "
                                    f"{np.shape(params[name]['W'])}, expected {shape}")
        return params


def _resize_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resampling of ``(H, W, C)`` to ``(h, w, C)`` (pixel centres aligned)."""
    H, W = img.shape[:2]
    ys = np.clip((np.arange(h) + 0.5) * H / h - 0.5, 0, H - 1)
    xs = np.clip((np.arange(w) + 0.5) * W / w - 0.5, 0, W - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


class SimpleRNN(Module):
    """The book's step-59 model: an `RNN` (tanh, ``hidden_size``) followed by ``Linear(out_size)``
    at every time step. Parameters ``{"rnn": {...}, "fc": {...}}``.

    ``ys, h = model.apply(params, xs, h0=None)`` for ``xs: (N, T, D)`` gives ``ys: (N, T,
    out_size)`` and the final hidden state, which a truncated-BPTT loop passes to its next window.
    """

    def __init__(self, hidden_size: int, out_size: int):
        self.hidden_size, self.out_size = int(hidden_size), int(out_size)
        self.rnn, self.fc = RNN(hidden_size), Linear(out_size)

    def _init(self, key, x):
        k1, k2 = fgr.split(key)
        rnn = self.rnn.init(k1, x)
        return {"rnn": rnn, "fc": self.fc.init(k2, np.zeros((1, self.hidden_size), np.float32))}

    def apply(self, params, xs, h0=None, *, train: bool = False, key=None):
        """``xs: (N, T, D)`` from ``h0`` (None: zeros) -> ``(ys: (N, T, out_size), h_T)``."""
        hs, h = self.rnn.apply(params["rnn"], xs, h0)
        return self.fc.apply(params["fc"], hs), h

    def _apply(self, params, x, *, train=False, key=None):
        return self.apply(params, x)

    def __call__(self, params, xs, h0=None, *, train: bool = False, key=None):
        return self.apply(params, xs, h0)
