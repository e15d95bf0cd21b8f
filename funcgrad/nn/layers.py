"""Layers: batch-first configuration objects with pure ``init``/``apply`` (see module.py).

    >>> import funcgrad as fg, numpy as np
    >>> from funcgrad import nn
    >>> model = nn.Sequential([nn.Linear(16), nn.relu, nn.Linear(3)])
    >>> params = model.init(fg.random.key(0), np.zeros((1, 4), np.float32))
    >>> {k: v["W"].shape for k, v in params.items()}
    {'0': (4, 16), '2': (16, 3)}
    >>> model.apply(params, np.ones((5, 4), np.float32)).shape
    (5, 3)
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import numpy as fnp
from .. import random as fgr
from ..avals import short_dtype
from ..core import FuncgradError, get_aval_of, user_frame
from ..pytree import keystr, tree_flatten_with_path, tree_leaves
from ..staging import make_ir
from . import initializers
from .functional import sigmoid
from .module import Module, need_key

__all__ = ["Linear", "MLP", "Sequential", "Flatten", "Dropout", "BatchNorm", "LayerNorm",
           "Embedding"]


def _float_dtype_of(x) -> np.dtype:
    dt = get_aval_of(x).dtype
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float32)


def _check_key(layer, key):
    if key is None:
        raise FuncgradError(f"{layer!r}.init needs a PRNG key: `layer.init(fg.random.key(0), "
                            f"x_sample)`, at {user_frame()}")


class Linear(Module):
    """``y = x @ W + b`` with ``W: (in_size, out_size)``, ``b: (out_size,)``.

    ``in_size`` is inferred from the last axis of the sample at ``init`` (as the book's
    ``Linear(out_size)``). Default init: ``W ~ N(0, 1/in_size)`` (the book's
    ``randn(I, O) * sqrt(1/I)``), ``b = 0``. Inputs may have any number of leading axes.
    """

    def __init__(self, out_size: int, use_bias: bool = True,
                 w_init: Callable = initializers.lecun_normal,
                 b_init: Callable = initializers.zeros, in_size: int | None = None,
                 dtype=None):
        self.out_size, self.use_bias, self.in_size = int(out_size), use_bias, in_size
        self.w_init, self.b_init, self.dtype = w_init, b_init, dtype

    def _init(self, key, x):
        _check_key(self, key)
        aval = get_aval_of(x)
        if aval.ndim == 0:
            raise FuncgradError(f"Linear.init: the sample must have a feature axis, got a "
                                f"scalar, at {user_frame()}")
        in_size = aval.shape[-1]
        if self.in_size is not None and self.in_size != in_size:
            raise FuncgradError(f"Linear(in_size={self.in_size}): the sample has {in_size} "
                                f"features on its last axis, at {user_frame()}")
        dtype = np.dtype(self.dtype) if self.dtype is not None else _float_dtype_of(x)
        kw, kb = fgr.split(key)
        params = {"W": self.w_init(kw, (in_size, self.out_size), dtype)}
        if self.use_bias:
            params["b"] = self.b_init(kb, (self.out_size,), dtype)
        return params

    def _apply(self, params, x, *, train=False, key=None):
        del train, key  # unused
        W = params["W"]
        if get_aval_of(x).shape[-1:] != get_aval_of(W).shape[:1]:
            raise FuncgradError(
                f"Linear: input with {get_aval_of(x).shape[-1:]} features on its last axis, but "
                f"W has shape {get_aval_of(W).shape} (in_size, out_size), at {user_frame()}")
        y = fnp.matmul(x, W)
        return y + params["b"] if self.use_bias else y


class Sequential(Module):
    """Layers and plain functions applied in order: ``Sequential([Linear(100), relu, ...])``.

    Parameters (and state) are dicts keyed by position, ``{"0": {...}, "2": {...}}``, or by
    ``names`` when given (``Sequential(layers, names=["conv1", "relu1", ...])``, one per entry);
    entries without parameters (functions, Flatten, Dropout) have no key. Each layer gets its own
    key (``fold_in(key, position)``) at init and, for random layers, in training.
    """

    def __init__(self, layers: Sequence[Module | Callable], names: Sequence[str] | None = None):
        self.layers = tuple(layers)
        self.names = (tuple(str(n) for n in names) if names is not None else
                      tuple(str(i) for i in range(len(self.layers))))
        if len(self.names) != len(self.layers) or len(set(self.names)) != len(self.names):
            raise FuncgradError(f"Sequential: `names` must give {len(self.layers)} distinct "
                                f"names, one per entry, got {names!r}, at {user_frame()}")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Module) and not callable(layer):
                raise FuncgradError(f"Sequential: entry {i} ({layer!r}) is neither a layer nor "
                                    f"a function, at {user_frame()}")
        self.has_state = any(isinstance(m, Module) and m.has_state for m in self.layers)
        self.uses_key = any(isinstance(m, Module) and m.uses_key for m in self.layers)

    def init_with_state(self, key, x):
        _check_key(self, key)
        params, state = {}, {}
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Module):
                p, s = layer.init_with_state(fgr.fold_in(key, i), x)
                if i < len(self.layers) - 1:  # the next layer's sample
                    x, _ = layer.apply_with_state(p, s, x, train=False)
                if p:
                    params[self.names[i]] = p
                if s:
                    state[self.names[i]] = s
            elif i < len(self.layers) - 1:
                x = layer(x)
        return params, state

    def apply_with_state(self, params, state, x, *, train=False, key=None):
        new_state = {}
        for i, layer in enumerate(self.layers):
            name = self.names[i]
            if isinstance(layer, Module):
                k = fgr.fold_in(key, i) if train and layer.uses_key and key is not None else None
                if train and layer.uses_key and key is None:
                    need_key(layer, key, train)
                x, s = layer.apply_with_state(params.get(name, {}), state.get(name, {}), x,
                                              train=train, key=k)
                if s:
                    new_state[name] = s
            else:
                x = layer(x)
        return x, new_state

    def __repr__(self) -> str:
        names = [repr(m) if isinstance(m, Module) else getattr(m, "__name__", repr(m))
                 for m in self.layers]
        return "Sequential([" + ", ".join(names) + "])"


class MLP(Module):
    """Fully connected layers ``Linear(sizes[0]) -> activation -> ... -> Linear(sizes[-1])``
    (no activation after the last). Parameters ``{"0": {"W", "b"}, "1": ...}``, one per Linear.

    The book's default activation is ``sigmoid``: ``MLP((10, 1))`` is its 2-layer regressor,
    ``MLP((1000, 1000, 10), activation=nn.relu)`` its MNIST network.
    """

    def __init__(self, sizes: Sequence[int], activation: Callable = sigmoid,
                 use_bias: bool = True, w_init: Callable = initializers.lecun_normal,
                 b_init: Callable = initializers.zeros):
        if len(sizes) == 0:
            raise FuncgradError("MLP: `sizes` must list at least one output size")
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self._linears = tuple(Linear(s, use_bias=use_bias, w_init=w_init, b_init=b_init)
                              for s in self.sizes)

    def _init(self, key, x):
        _check_key(self, key)
        params = {}
        dtype = _float_dtype_of(x)
        for i, lin in enumerate(self._linears):
            params[str(i)] = lin._init(fgr.fold_in(key, i), x)
            x = np.empty((0, lin.out_size), dtype)  # the next layer needs only the shape
        return params

    def _apply(self, params, x, *, train=False, key=None):
        del train, key  # unused
        for i, lin in enumerate(self._linears):
            x = lin._apply(params[str(i)], x)
            if i < len(self._linears) - 1:
                x = self.activation(x)
        return x

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", repr(self.activation))
        return f"MLP({list(self.sizes)}, activation={act})"


class Flatten(Module):
    """Reshape ``(N, d1, d2, ...)`` to ``(N, d1 * d2 * ...)`` (the batch axis is kept)."""

    def _apply(self, params, x, *, train=False, key=None):
        del params, train, key  # unused
        shape = get_aval_of(x).shape
        if len(shape) == 0:
            raise FuncgradError(f"Flatten: needs a batch axis, got a scalar, at {user_frame()}")
        return fnp.reshape(x, (shape[0], int(np.prod(shape[1:], dtype=np.int64))))


class Dropout(Module):
    """Inverted dropout: in training each entry is zeroed with probability ``rate`` and the
    kept ones are scaled by ``1 / (1 - rate)``, so ``E[y] = x``; in inference it is the identity.

    Training needs a key: ``model.apply(params, x, train=True, key=k)``.
    """

    uses_key = True

    def __init__(self, rate: float):
        if not 0.0 <= rate <= 1.0:
            raise FuncgradError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate = float(rate)

    def _apply(self, params, x, *, train=False, key=None):
        del params  # unused
        if not train or self.rate == 0.0:
            return x
        need_key(self, key, train)
        fgr.note_consumed(key, "Dropout")
        if self.rate == 1.0:
            return x * 0
        keep = fgr.bernoulli(key, 1.0 - self.rate, get_aval_of(x).shape)
        return fnp.where(keep, x * (1.0 / (1.0 - self.rate)), 0)


def _bshape(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    return tuple(size if i == axis else 1 for i in range(ndim))


class BatchNorm(Module):
    """Batch normalisation over every axis except the feature ``axis`` (default 1: ``(N, C)``
    and ``(N, C, H, W)`` inputs alike).

    Training: ``y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta`` with the batch mean and
    (biased) variance, and the running statistics in ``state`` become

        mean <- momentum * mean + (1 - momentum) * mean_B
        var  <- momentum * var  + (1 - momentum) * var_B * m / (m - 1)   (m values per feature)

    (``momentum`` is the weight of the old value, 0.9 by default, as in the book's ``decay``).
    Inference uses the running statistics. Use ``init_with_state``/``apply_with_state``.
    """

    has_state = True

    def __init__(self, momentum: float = 0.9, eps: float = 1e-5, axis: int = 1,
                 use_scale: bool = True, use_bias: bool = True):
        self.momentum, self.eps, self.axis = float(momentum), float(eps), axis
        self.use_scale, self.use_bias = use_scale, use_bias

    def _axis(self, x) -> int:
        nd = get_aval_of(x).ndim
        if nd < 2:
            raise FuncgradError(f"BatchNorm: needs a batch axis and a feature axis, got shape "
                                f"{get_aval_of(x).shape}, at {user_frame()}")
        return self.axis % nd

    def init_with_state(self, key, x):
        del key  # unused: scale 1, offset 0
        c = get_aval_of(x).shape[self._axis(x)]
        dt = _float_dtype_of(x)
        params = {}
        if self.use_scale:
            params["gamma"] = np.ones(c, dt)
        if self.use_bias:
            params["beta"] = np.zeros(c, dt)
        return params, {"mean": np.zeros(c, dt), "var": np.ones(c, dt)}

    def apply_with_state(self, params, state, x, *, train=False, key=None):
        del key  # unused
        ax = self._axis(x)
        shape = get_aval_of(x).shape
        nd, c = len(shape), shape[ax]
        axes = tuple(i for i in range(nd) if i != ax)
        bs = _bshape(nd, ax, c)
        if train:
            mean = fnp.mean(x, axis=axes, keepdims=True)
            xc = x - mean
            var = fnp.mean(xc * xc, axis=axes, keepdims=True)
            m = int(np.prod([shape[i] for i in axes]))
            mom = self.momentum
            new_state = {
                "mean": mom * state["mean"]
                + (1.0 - mom) * fnp.reshape(fnp.stop_gradient(mean), (c,)),
                "var": mom * state["var"]
                + (1.0 - mom) * (m / max(m - 1, 1)) * fnp.reshape(fnp.stop_gradient(var), (c,)),
            }
        else:
            xc = x - fnp.reshape(state["mean"], bs)
            var = fnp.reshape(state["var"], bs)
            new_state = state
        y = xc * (1.0 / fnp.sqrt(var + self.eps))
        if self.use_scale:
            y = y * fnp.reshape(params["gamma"], bs)
        if self.use_bias:
            y = y + fnp.reshape(params["beta"], bs)
        return y, new_state


class LayerNorm(Module):
    """``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with the mean and variance over the
    last axis of each example; ``gamma``/``beta`` have the size of that axis."""

    def __init__(self, eps: float = 1e-5, use_scale: bool = True, use_bias: bool = True):
        self.eps, self.use_scale, self.use_bias = float(eps), use_scale, use_bias

    def _init(self, key, x):
        del key  # unused
        d, dt = get_aval_of(x).shape[-1], _float_dtype_of(x)
        params = {}
        if self.use_scale:
            params["gamma"] = np.ones(d, dt)
        if self.use_bias:
            params["beta"] = np.zeros(d, dt)
        return params

    def _apply(self, params, x, *, train=False, key=None):
        del train, key  # unused
        mean = fnp.mean(x, axis=-1, keepdims=True)
        xc = x - mean
        var = fnp.mean(xc * xc, axis=-1, keepdims=True)
        y = xc * (1.0 / fnp.sqrt(var + self.eps))
        if self.use_scale:
            y = y * params["gamma"]
        if self.use_bias:
            y = y + params["beta"]
        return y


class Embedding(Module):
    """A lookup table ``W: (num_embeddings, features)``: ``apply(params, ids) = W[ids]`` for
    integer ``ids`` of any shape (output shape ``ids.shape + (features,)``). Default init
    ``W ~ N(0, 1)``. Its gradient scatters-adds into the rows that were looked up."""

    def __init__(self, num_embeddings: int, features: int,
                 w_init: Callable = initializers.normal, dtype=np.float32):
        self.num_embeddings, self.features = int(num_embeddings), int(features)
        self.w_init, self.dtype = w_init, dtype

    def _init(self, key, x):
        _check_key(self, key)
        del x  # only the table size matters
        return {"W": self.w_init(key, (self.num_embeddings, self.features), self.dtype)}

    def _apply(self, params, ids, *, train=False, key=None):
        del train, key  # unused
        if not np.issubdtype(get_aval_of(ids).dtype, np.integer):
            raise FuncgradError(f"Embedding: ids must be integers, got "
                                f"{get_aval_of(ids).str_short()}, at {user_frame()}")
        return fnp.take(params["W"], ids, axis=0)


def _fmt_count(n: int) -> str:
    return f"{n:,}"


def summary(params: Any, state: Any = None) -> str:
    """A table of a model's layers, or of a parameter tree's leaves.

    ``summary(model, x_sample)`` (a layer and an input sample): one row per layer with its
    output shape and parameter count, computed from shapes only (nothing is initialised, so
    ``nn.VGG16`` takes a second). `Sequential` (and models built on it, such as ``VGG16``) and
    `MLP` list their layers; any other layer is one row.

    ``summary(params, state=None)`` (parameter and state trees): key path, shape, dtype and count
    of every leaf.

        >>> print(nn.summary(params))  # doctest: +SKIP
        path        shape      dtype  count
        ['0']['W']  (784, 10)  f32    7,840
        ['0']['b']  (10,)      f32       10
        total                         7,850
    """
    if isinstance(params, Module):
        return _layer_summary(params, state)

    rows = []
    total = 0
    for title, tree in (("", params), ("state ", state)):
        if tree is None:
            continue
        for path, leaf in tree_flatten_with_path(tree)[0]:
            aval = get_aval_of(leaf)
            rows.append((title + keystr(path), str(aval.shape), short_dtype(aval.dtype),
                         aval.size))
            if not title:
                total += aval.size
    head = ("path", "shape", "dtype", "count")
    w = [max([len(head[i])] + [len(str(r[i])) for r in rows]) for i in range(3)]
    wc = max([len("count"), len(_fmt_count(total))] + [len(_fmt_count(r[3])) for r in rows])
    lines = [f"{head[0]:<{w[0]}}  {head[1]:<{w[1]}}  {head[2]:<{w[2]}}  {head[3]:>{wc}}"]
    lines += [f"{p:<{w[0]}}  {s:<{w[1]}}  {d:<{w[2]}}  {_fmt_count(n):>{wc}}"
              for p, s, d, n in rows]
    lines.append(f"{'total params':<{w[0] + w[1] + w[2] + 4}}  {_fmt_count(total):>{wc}}")
    return "\n".join(lines)


def count_params(params: Any) -> int:
    """Total number of scalars in a parameter tree."""
    return int(sum(get_aval_of(x).size for x in tree_leaves(params)))


def _named_entries(model: Module) -> list[tuple[str, Any]]:
    if isinstance(model, Sequential):
        return list(zip(model.names, model.layers))
    if isinstance(model, MLP):
        out: list[tuple[str, Any]] = []
        for i, lin in enumerate(model._linears):
            out.append((str(i), lin))
            if i < len(model._linears) - 1:
                out.append(("", model.activation))
        return out
    return [("", model)]


def _layer_summary(model: Module, x: Any) -> str:
    """Per-layer output shapes and parameter counts of ``model`` on the sample ``x`` (shapes only:
    each layer's init and apply are traced, never run)."""
    def init_and_apply(layer, key, x):  # -> (the output's first leaf, params)
        params, state = layer.init_with_state(key, x)
        return tree_leaves(layer.apply_with_state(params, state, x)[0])[0], params

    rows, total = [], 0
    aval = get_aval_of(x)
    x = np.zeros(aval.shape, aval.dtype)
    for i, (name, layer) in enumerate(_named_entries(model)):
        if isinstance(layer, Module):
            key = fgr.fold_in(fgr.key(0), i)
            ir = make_ir(lambda x: init_and_apply(layer, key, x))(x)
            y_aval, p_avals = ir.out_avals[0], ir.out_avals[1:]
            count = int(sum(a.size for a in p_avals))
            what = repr(layer)
        else:
            y_aval, count = make_ir(layer)(x).out_avals[0], 0
            what = getattr(layer, "__name__", repr(layer))
        total += count
        rows.append((name, what, str(tuple(y_aval.shape)), _fmt_count(count) if count else "0"))
        x = np.zeros(y_aval.shape, y_aval.dtype)
    head = ("name", "layer", "output shape", "params")
    w = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(4)]
    w[3] = max(w[3], len(_fmt_count(total)))
    fmt = lambda r: f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}".rstrip()
    lines = [fmt(head), *(fmt(r) for r in rows)]
    lines.append(f"{'total params':<{w[0] + w[1] + w[2] + 4}}  {_fmt_count(total):>{w[3]}}")
    return "\n".join(lines)
