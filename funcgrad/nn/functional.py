"""Activations, losses and metrics: pure functions of arrays (work eagerly and under every
transform). Re-exported as ``funcgrad.nn.relu``, ``funcgrad.nn.softmax_cross_entropy``, ...

    >>> import numpy as np
    >>> from funcgrad import nn
    >>> logits = np.array([[2.0, 0.0, -1e4], [0.0, 3.0, 1e4]])
    >>> round(float(nn.softmax_cross_entropy(logits, np.array([0, 2]))), 4)   # stable at 1e4
    0.0635
    >>> float(nn.accuracy(logits, np.array([0, 1])))
    0.5
"""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from ..core import FuncgradError, get_aval_of, user_frame
from ..scipy.special import logsumexp

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax",
           "mean_squared_error", "softmax_cross_entropy", "sigmoid_cross_entropy", "accuracy",
           "one_hot"]


# --- activations ------------------------------------------------------------------------------

def relu(x):
    """``max(x, 0)``; its derivative is 1 where x > 0 and 0 elsewhere (0 at x = 0)."""
    return fnp.where(x > 0, x, 0)


def leaky_relu(x, negative_slope: float = 0.01):
    """``x`` where x > 0, ``negative_slope * x`` elsewhere."""
    return fnp.where(x > 0, x, x * negative_slope)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed without overflow for any x."""
    return fnp.logistic(x)


def tanh(x):
    """Hyperbolic tangent."""
    return fnp.tanh(x)


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def gelu(x):
    """Gaussian error linear unit, tanh form:
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    return 0.5 * x * (1.0 + fnp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))))


def softmax(x, axis: int = -1):
    """``exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max(x)`` (never overflows)."""
    m = fnp.stop_gradient(fnp.max(x, axis=axis, keepdims=True))
    e = fnp.exp(x - m)
    return e / fnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """``x - logsumexp(x)`` along ``axis`` (stable for logits of any size)."""
    return x - logsumexp(x, axis=axis, keepdims=True)


# --- losses -----------------------------------------------------------------------------------

def _check_same_shape(name, a, b):
    sa, sb = get_aval_of(a).shape, get_aval_of(b).shape
    if sa != sb:
        raise FuncgradError(f"{name}: prediction and target shapes differ: {sa} vs {sb}, at "
                            f"{user_frame()}\nReshape the target, e.g. `t.reshape(y.shape)`; "
                            f"silent broadcasting here would give a wrong loss.")


def mean_squared_error(y, t):
    """``mean((y - t)^2)`` over all elements. For targets of shape (N, 1) or (N,) this is the
    book's ``sum((y - t)^2) / N``."""
    _check_same_shape("mean_squared_error", y, t)
    d = y - t
    return fnp.mean(d * d)


def one_hot(labels, num_classes: int, dtype=np.float32):
    """``one_hot(labels, C)[..., c] = (labels == c)``."""
    return fnp.astype(fnp.equal(fnp.expand_dims(labels, -1), np.arange(num_classes)), dtype)


def _labels_to_probs(name, logits, labels):
    la, ta = get_aval_of(logits), get_aval_of(labels)
    if np.issubdtype(ta.dtype, np.integer) and ta.shape == la.shape[:-1]:
        return one_hot(labels, la.shape[-1], la.dtype)
    if ta.shape == la.shape:
        return labels
    raise FuncgradError(
        f"{name}: labels must be integer class indices of shape {la.shape[:-1]} or one-hot / "
        f"probability vectors of shape {la.shape}; got {ta.str_short()} for logits "
        f"{la.str_short()}, at {user_frame()}")


def softmax_cross_entropy(logits, labels):
    """Mean over examples of ``-sum_c p_c log softmax(logits)_c`` (classes on the last axis).

    ``labels`` are integer class indices (shape ``logits.shape[:-1]``) or one-hot/probability
    vectors (shape ``logits.shape``). Computed through ``log_softmax``, so logits of +-1e4 give a
    finite loss and the finite gradient ``(softmax(logits) - p) / N``.
    """
    p = _labels_to_probs("softmax_cross_entropy", logits, labels)
    return -fnp.mean(fnp.sum(p * log_softmax(logits, axis=-1), axis=-1))


def sigmoid_cross_entropy(logits, labels):
    """Mean over elements of ``-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))``, computed as
    ``max(x, 0) - x t + log(1 + exp(-|x|))`` (stable for any logit)."""
    _check_same_shape("sigmoid_cross_entropy", logits, labels)
    x = logits
    t = fnp.astype(labels, get_aval_of(x).dtype)
    return fnp.mean(fnp.maximum(x, 0) - x * t + fnp.log1p(fnp.exp(-fnp.abs(x))))


# --- metrics ----------------------------------------------------------------------------------

def accuracy(logits, labels):
    """Fraction of examples whose ``argmax(logits, -1)`` equals the label (integer labels, or
    one-hot labels whose argmax is taken). Not differentiable: use it for reporting."""
    la, ta = get_aval_of(logits), get_aval_of(labels)
    if ta.shape == la.shape and ta.ndim >= 1 and la.ndim >= 1 and \
            not (ta.ndim == 1 and np.issubdtype(ta.dtype, np.integer)):
        labels = fnp.argmax(labels, axis=-1)
        ta = get_aval_of(labels)
    if ta.shape != la.shape[:-1]:
        raise FuncgradError(f"accuracy: labels of shape {ta.shape} do not match logits "
                            f"{la.shape} (expected {la.shape[:-1]}), at {user_frame()}")
    pred = fnp.argmax(logits, axis=-1)
    return fnp.mean(fnp.astype(fnp.equal(pred, labels), np.float32))
