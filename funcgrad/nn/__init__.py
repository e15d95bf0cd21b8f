"""`funcgrad.nn`: stateless layers, initializers, activations, losses and metrics.

Layers are configuration objects; parameters are plain nested dicts of arrays:

    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import nn
    >>> model = nn.MLP([32, 10], activation=nn.relu)
    >>> params = model.init(fg.random.key(0), np.zeros((1, 784), np.float32))
    >>> logits = model.apply(params, np.zeros((5, 784), np.float32))
    >>> float(nn.softmax_cross_entropy(logits, np.zeros(5, np.int64))) > 0
    True
    >>> print(nn.summary(params))  # doctest: +NORMALIZE_WHITESPACE
    path        shape      dtype  count
    ['0']['W']  (784, 32)  f32    25,088
    ['0']['b']  (32,)      f32        32
    ['1']['W']  (32, 10)   f32       320
    ['1']['b']  (10,)      f32        10
    total params                  25,450

Optimizers live in `funcgrad.nn.optim`.
"""
from __future__ import annotations

from . import initializers as initializers
from .conv import (
    AvgPool2d,
    Conv2d,
    MaxPool2d,
    avg_pool2d,
    col2im,
    conv2d,
    get_conv_outsize,
    im2col,
    max_pool2d,
)
from .functional import (
    accuracy,
    gelu,
    leaky_relu,
    log_softmax,
    mean_squared_error,
    one_hot,
    relu,
    sigmoid,
    sigmoid_cross_entropy,
    softmax,
    softmax_cross_entropy,
    tanh,
)
from .layers import (
    MLP,
    BatchNorm,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    Sequential,
    count_params,
    summary,
)
from .models import VGG16, SimpleRNN
from .module import Module
from .recurrent import LSTM, RNN

__all__ = ["Module", "Linear", "MLP", "Sequential", "Flatten", "Dropout", "BatchNorm",
           "LayerNorm", "Embedding", "initializers", "relu", "leaky_relu", "sigmoid", "tanh",
           "gelu", "softmax", "log_softmax", "mean_squared_error", "softmax_cross_entropy",
           "sigmoid_cross_entropy", "accuracy", "one_hot", "summary", "count_params", "optim",
           "Conv2d", "MaxPool2d", "AvgPool2d", "conv2d", "max_pool2d", "avg_pool2d", "im2col",
           "col2im", "get_conv_outsize", "RNN", "LSTM", "SimpleRNN", "VGG16"]

try:  # funcgrad/nn/optim.py (the functional optimizers)
    from . import optim as optim  # noqa: E402
except ModuleNotFoundError as _e:  # pragma: no cover - only while optim.py is being written
    if _e.name != f"{__name__}.optim":
        raise
