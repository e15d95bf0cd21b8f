"""Convolution and pooling on NCHW images, written with `funcgrad.numpy` ops only.

There is no convolution primitive: `im2col` cuts the (padded) image into windows with one
strided slice per kernel position, and a convolution is then a single matmul of the windows
with the filters. Because every step is an ordinary `fnp` op, `grad`, `jvp`, `vmap` and `jit`
work through convolutions and pooling with no extra rules: the transpose of a strided slice is
an interior pad, so the backward pass of `im2col` is the familiar `col2im` (overlapping windows
summed back into the image).

Shapes (the book's layout): images ``x: (N, C, H, W)``, filters ``W: (OC, C, KH, KW)``, bias
``b: (OC,)``; the output size along each spatial axis is

    OH = (H + 2 * pad - KH) // stride + 1        (`get_conv_outsize`)

    >>> import numpy as np
    >>> from funcgrad import nn
    >>> x = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], np.float64)
    >>> w = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], np.float64)
    >>> nn.conv2d(x[None, None], w[None, None]).reshape(2, 2)
    array([[15., 16.],
           [ 6., 15.]])
    >>> nn.max_pool2d(x[None, None], 2).reshape(2, 2)
    array([[2., 3.],
           [3., 2.]])

Layers: `Conv2d(out_channels, kernel_size, stride=1, pad=0)` (in-channels inferred at init),
`MaxPool2d(kernel_size, stride=None, pad=0)` and `AvgPool2d(...)` (stride defaults to the kernel
size). Recurrent layers live in `recurrent.py`, the layer contract in `module.py`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import numpy as fnp
from .. import random as fgr
from ..core import FuncgradError, get_aval_of, user_frame
from ..transforms.autodiff import vjp
from . import initializers
from .module import Module

__all__ = ["pair", "get_conv_outsize", "im2col", "col2im", "conv2d", "max_pool2d",
           "avg_pool2d", "Conv2d", "MaxPool2d", "AvgPool2d"]


# --- helpers -----------------------------------------------------------------------------------

def pair(x) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair is returned as a tuple of ints; anything else is an error."""
    if isinstance(x, (int, np.integer)):
        return int(x), int(x)
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return int(x[0]), int(x[1])
    raise FuncgradError(f"expected an int or a pair of ints (for kernel_size/stride/pad), got "
                        f"{x!r}, at {user_frame()}")


def get_conv_outsize(input_size: int, kernel_size: int, stride: int, pad: int) -> int:
    """``(input_size + 2 * pad - kernel_size) // stride + 1``."""
    return (input_size + pad * 2 - kernel_size) // stride + 1


def _image_shape(where: str, x) -> tuple[int, int, int, int]:
    shape = get_aval_of(x).shape
    if len(shape) != 4:
        raise FuncgradError(
            f"{where}: expects NCHW images of shape (N, C, H, W), got shape {shape}, at "
            f"{user_frame()}\nAdd the missing axes, e.g. `x[None]` for one image or "
            f"`x.reshape(N, 1, H, W)` for a batch of gray images.")
    return shape


def _geometry(where, x, kernel_size, stride, pad):
    N, C, H, W = _image_shape(where, x)
    (KH, KW), (SH, SW), (PH, PW) = pair(kernel_size), pair(stride), pair(pad)
    if min(KH, KW, SH, SW) < 1 or min(PH, PW) < 0:
        raise FuncgradError(f"{where}: kernel_size and stride must be >= 1 and pad >= 0, got "
                            f"kernel_size={kernel_size}, stride={stride}, pad={pad}, at "
                            f"{user_frame()}")
    OH, OW = get_conv_outsize(H, KH, SH, PH), get_conv_outsize(W, KW, SW, PW)
    if OH < 1 or OW < 1:
        raise FuncgradError(f"{where}: a {KH}x{KW} window does not fit in the {H}x{W} image "
                            f"padded by {(PH, PW)}, at {user_frame()}\nUse a smaller kernel or "
                            f"more padding.")
    return (N, C, H, W), (KH, KW), (SH, SW), (PH, PW), (OH, OW)


def _pad_value(dtype, kind: str):
    if kind == "max":
        return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min
    return 0


def _windows(x, kernel_size, stride, pad, where):
    """``(N, C, KH*KW, OH, OW)``: entry ``[n, c, i*KW + j, oh, ow]`` is
    ``x_padded[n, c, oh*SH + i, ow*SW + j]`` (one strided slice per kernel position)."""
    _, (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _geometry(where, x, kernel_size, stride, pad)
    if PH or PW:
        x = fnp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    cols = [x[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]
            for i in range(KH) for j in range(KW)]
    return fnp.stack(cols, axis=2)


# --- im2col / col2im ---------------------------------------------------------------------------

def im2col(x, kernel_size, stride=1, pad=0, to_matrix: bool = True):
    """Cut ``x: (N, C, H, W)`` into its ``KH x KW`` windows.

    Returns ``(N*OH*OW, C*KH*KW)`` when ``to_matrix`` (one window per row, ordered n, oh, ow;
    columns ordered c, kh, kw), else ``(N, C, KH, KW, OH, OW)``. Differentiable (its transpose is
    `col2im`) and usable under every transform.

        >>> import numpy as np
        >>> im2col(np.random.rand(1, 3, 7, 7), kernel_size=5).shape
        (9, 75)
    """
    (N, C, _, _), (KH, KW), _, _, (OH, OW) = _geometry("im2col", x, kernel_size, stride, pad)
    col = fnp.reshape(_windows(x, kernel_size, stride, pad, "im2col"), (N, C, KH, KW, OH, OW))
    if to_matrix:
        col = fnp.reshape(fnp.transpose(col, (0, 4, 5, 1, 2, 3)), (N * OH * OW, C * KH * KW))
    return col


def col2im(col, x_shape, kernel_size, stride=1, pad=0, to_matrix: bool = True):
    """The transpose of `im2col`: add every window back at its place in an image of shape
    ``x_shape = (N, C, H, W)`` (overlapping entries are summed; padding is cropped).

    ``<im2col(x), col> == <x, col2im(col, x.shape, ...)>`` for all ``x`` and ``col``; computed
    as the vector-Jacobian product of the linear map `im2col`, so it is itself differentiable.
    """
    dtype = get_aval_of(col).dtype
    x0 = np.zeros(tuple(int(s) for s in x_shape), dtype)
    _, back = vjp(lambda x: im2col(x, kernel_size, stride, pad, to_matrix), x0)
    return back(col)[0]


# --- functional forms --------------------------------------------------------------------------

def conv2d(x, W, b=None, stride=1, pad=0):
    """2-D convolution (cross-correlation, as in deep learning) of NCHW images.

        y[n, o, oh, ow] = b[o] + sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, oh*SH + i, ow*SW + j]

    ``x: (N, C, H, W)``, ``W: (OC, C, KH, KW)``, optional ``b: (OC,)`` -> ``(N, OC, OH, OW)``.
    Computed as im2col followed by one matmul ``cols @ W.reshape(OC, C*KH*KW).T`` with
    ``cols: (N*OH*OW, C*KH*KW)`` (the windows are cut from a channels-last copy of ``x``, so
    the matrix needs no further transpose).
    """
    (N, C, _, _) = _image_shape("conv2d", x)
    w_shape = get_aval_of(W).shape
    if len(w_shape) != 4 or w_shape[1] != C:
        raise FuncgradError(
            f"conv2d: the filters must have shape (OC, C, KH, KW) with C = {C} input channels, "
            f"got W of shape {w_shape} for x of shape {get_aval_of(x).shape}, at {user_frame()}")
    OC, _, KH, KW = w_shape
    _, _, (SH, SW), (PH, PW), (OH, OW) = _geometry("conv2d", x, (KH, KW), stride, pad)
    if PH or PW:
        x = fnp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    x = fnp.transpose(x, (0, 2, 3, 1))                              # NHWC
    cols = fnp.stack([x[:, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW, :]
                      for i in range(KH) for j in range(KW)], axis=-1)  # (N, OH, OW, C, K)
    cols = fnp.reshape(cols, (N * OH * OW, C * KH * KW))
    y = fnp.matmul(cols, fnp.transpose(fnp.reshape(W, (OC, C * KH * KW))))
    if b is not None:
        b_shape = get_aval_of(b).shape
        if b_shape not in ((OC,), ()):
            raise FuncgradError(f"conv2d: the bias must have shape ({OC},) (one per output "
                                f"channel), got {b_shape}, at {user_frame()}")
        y = y + b
    return fnp.transpose(fnp.reshape(y, (N, OH, OW, OC)), (0, 3, 1, 2))


def _pool(x, kernel_size, stride, pad, kind: str):
    where = f"{kind}_pool2d"
    stride = kernel_size if stride is None else stride
    _, (KH, KW), (SH, SW), (PH, PW), (OH, OW) = _geometry(where, x, kernel_size, stride, pad)
    if PH or PW:
        x = fnp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)),
                    constant_values=_pad_value(get_aval_of(x).dtype, kind))
    # fold the KH*KW strided views elementwise (much faster in NumPy than a window reduction)
    combine = fnp.maximum if kind == "max" else fnp.add
    acc = None
    for i in range(KH):
        for j in range(KW):
            v = x[:, :, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]
            acc = v if acc is None else combine(acc, v)
    return acc if kind == "max" else acc * (1.0 / (KH * KW))


def max_pool2d(x, kernel_size, stride=None, pad=0):
    """Max over each ``KH x KW`` window of ``x: (N, C, H, W)`` -> ``(N, C, OH, OW)``.

    ``stride`` defaults to ``kernel_size``. Padding counts as ``-inf`` (never the maximum).
    The gradient of each window goes to its maximal entry (at ties it is shared among the tied
    entries, in total 1 per window).
    """
    return _pool(x, kernel_size, stride, pad, "max")


def avg_pool2d(x, kernel_size, stride=None, pad=0):
    """Mean over each ``KH x KW`` window of ``x: (N, C, H, W)`` -> ``(N, C, OH, OW)``.

    ``stride`` defaults to ``kernel_size``. Padding counts as zeros, and every window is divided
    by ``KH * KW``; the gradient is ``dy / (KH * KW)`` at each position of the window.
    """
    return _pool(x, kernel_size, stride, pad, "avg")


# --- layers ------------------------------------------------------------------------------------

class Conv2d(Module):
    """``y = conv2d(x, W, b, stride, pad)`` on NCHW images; params ``{"W": (OC, C, KH, KW),
    "b": (OC,)}``.

    The input channel count ``C`` comes from the sample at ``init`` (as the book's
    ``Conv2d(out_channels, kernel_size)``). Default init ``W ~ N(0, 1/(C*KH*KW))`` (the book's
    ``randn(OC, C, KH, KW) * sqrt(1/(C*KH*KW))``), ``b = 0``. The dtype follows the sample
    (float32 for integer samples) unless ``dtype`` is given.
    """

    def __init__(self, out_channels: int, kernel_size, stride=1, pad=0, use_bias: bool = True,
                 w_init: Callable = initializers.lecun_normal,
                 b_init: Callable = initializers.zeros, dtype=None):
        self.out_channels = int(out_channels)
        pair(kernel_size), pair(stride), pair(pad)  # validate now, keep as given (for repr)
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad
        self.use_bias, self.w_init, self.b_init, self.dtype = use_bias, w_init, b_init, dtype

    def _init(self, key, x):
        if key is None:
            raise FuncgradError(f"{self!r}.init needs a PRNG key: `layer.init(fg.random.key(0), "
                                f"x_sample)`, at {user_frame()}")
        _geometry("Conv2d", x, self.kernel_size, self.stride, self.pad)
        aval = get_aval_of(x)
        C = aval.shape[1]
        if self.dtype is not None:
            dtype = np.dtype(self.dtype)
        else:
            dtype = aval.dtype if np.issubdtype(aval.dtype, np.floating) else np.dtype(np.float32)
        kw, kb = fgr.split(key)
        params = {"W": self.w_init(kw, (self.out_channels, C) + pair(self.kernel_size), dtype)}
        if self.use_bias:
            params["b"] = self.b_init(kb, (self.out_channels,), dtype)
        return params

    def _apply(self, params, x, *, train=False, key=None):
        del train, key  # unused
        return conv2d(x, params["W"], params.get("b") if self.use_bias else None,
                      self.stride, self.pad)


class _Pool2d(Module):
    _fn: Callable

    def __init__(self, kernel_size, stride=None, pad=0):
        pair(kernel_size), pair(pad), stride is None or pair(stride)  # validate now
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad

    def _apply(self, params, x, *, train=False, key=None):
        del params, train, key  # unused
        return type(self)._fn(x, self.kernel_size, self.stride, self.pad)


class MaxPool2d(_Pool2d):
    """`max_pool2d` as a layer (no parameters); ``stride`` defaults to ``kernel_size``."""
    _fn = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """`avg_pool2d` as a layer (no parameters); ``stride`` defaults to ``kernel_size``."""
    _fn = staticmethod(avg_pool2d)
