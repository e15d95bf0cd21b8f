"""NumPy's ufunc objects for the functions JAX exposes as `jax.numpy.ufunc`: `fnp.add(x, y)` as
before, plus `fnp.add.reduce`, `.accumulate`, `.outer`, `.reduceat` and `.at`.

Each method is built from the functions of the other modules (a sum is `fnp.sum`, an
accumulated product `fnp.cumprod`); the other binary ufuncs reduce by pairwise folding and
accumulate by log2(n) rounds of shifted applications, so everything stays differentiable and
traceable. The plain functions remain in `ufuncs.py` (tracer operators call those directly).
"""
from __future__ import annotations

import numpy as np

from ..core import FuncgradError, user_frame
from ..util import canonical_axes
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, asarray, astype, full, no_out
from .extra import logaddexp2 as _logaddexp2
from .indexing import at as _at

__all__ = ["ufunc", "add", "subtract", "multiply", "maximum", "minimum", "logaddexp",
           "logaddexp2", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
           "bitwise_xor", "negative"]


class ufunc:  # noqa: N801  (NumPy's and JAX's name)
    """A universal function, like `numpy.ufunc` and `jax.numpy.ufunc`: call it elementwise, or
    use `reduce`, `accumulate`, `outer`, `reduceat` (binary ones) and `at`. Arrays are immutable,
    so `out=` and `where=` of the call are accepted as None only and `at` needs `inplace=False`.
    """

    def __init__(self, fn, name, nin, identity=None, reduce=None, accumulate=None, at=None):
        self._fn, self.__name__, self.nin, self.nout, self.identity = fn, name, nin, 1, identity
        self.nargs, self.__doc__ = nin + 1, fn.__doc__
        self._reduce, self._accumulate, self._at = reduce, accumulate, at

    def __repr__(self):
        return f"<fnp.ufunc '{self.__name__}'>"

    def __call__(self, *args, out=None, where=None):
        if out is not None or where is not None:
            raise FuncgradError(f"fnp.{self.__name__}: `out=` and `where=` are not supported "
                                f"(arrays are immutable); use fnp.where(mask, fnp."
                                f"{self.__name__}(...), other) instead, at {user_frame()}")
        return self._fn(*args)

    def _binary(self, method):
        if self.nin != 2:
            raise FuncgradError(f"fnp.{self.__name__}.{method}: only binary ufuncs have it "
                                f"(this one takes {self.nin} argument), at {user_frame()}")

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False, initial=None, where=None):
        """`a` reduced over `axis` (an int, a tuple or None for all) with this function."""
        self._binary("reduce")
        no_out(f"{self.__name__}.reduce", out)
        a = asarray(a) if dtype is None else astype(a, dtype)
        if self._reduce is not None:
            return self._reduce(a, axis, keepdims, initial, where)
        fill = initial if self.identity is None else self.identity
        if where is not None:
            if fill is None:
                raise FuncgradError(f"fnp.{self.__name__}.reduce: `where=` needs `initial=` "
                                    f"(no identity to put where the mask is False), at "
                                    f"{user_frame()}")
            a = uf.where(where, a, fill)
        axes = canonical_axes(axis, _aval(a).ndim)
        res = a = self._typed(a)
        for ax in sorted(axes, reverse=True):
            res = self._fold(sh.moveaxis(res, ax, 0))
        if initial is not None:
            res = self._fn(res, initial)
        if keepdims:
            shape = _aval(a).shape
            res = sh.reshape(res, tuple(1 if i in axes else n for i, n in enumerate(shape)))
        return res

    def _typed(self, x):
        """`x` in the dtype this function returns for it (the logical ones give bools)."""
        one = sh.reshape(x, (-1,))[:1]
        return astype(x, _aval(self._fn(one, one)).dtype)

    def _fold(self, x):
        """x reduced over its first axis by pairwise application (associative functions)."""
        n = _aval(x).shape[0]
        if n == 0:
            if self.identity is None:
                raise FuncgradError(f"fnp.{self.__name__}.reduce: an empty axis and no "
                                    f"identity; pass initial=, at {user_frame()}")
            return full(_aval(x).shape[1:], self.identity, _aval(x).dtype)
        while n > 1:
            half = n // 2
            y = self._fn(x[:half], x[half:2 * half])
            x, n = (sh.concatenate([y, x[2 * half:]]) if n % 2 else y), n - half
        return x[0]

    def accumulate(self, a, axis=0, dtype=None, out=None):
        """The running results of `reduce` along `axis`."""
        self._binary("accumulate")
        no_out(f"{self.__name__}.accumulate", out)
        a = asarray(a) if dtype is None else astype(a, dtype)
        if self._accumulate is not None:
            return self._accumulate(a, axis)
        x = self._typed(sh.moveaxis(a, axis, 0))
        n, k = _aval(x).shape[0], 1
        while k < n:  # afterwards, entry i combines entries max(0, i - 2k + 1) .. i
            x, k = sh.concatenate([x[:k], self._fn(x[:n - k], x[k:])]), 2 * k
        return sh.moveaxis(x, 0, axis)

    def outer(self, A, B, /):  # noqa: N803  (NumPy's names)
        """`f(a, b)` for every pair of elements: shape `A.shape + B.shape`."""
        self._binary("outer")
        A, B = asarray(A), asarray(B)  # noqa: N806
        return self._fn(sh.reshape(A, _aval(A).shape + (1,) * _aval(B).ndim), B)

    def reduceat(self, a, indices, axis=0, dtype=None, out=None):
        """`reduce` over the slices `indices[i]:indices[i+1]` along `axis` (a single element
        where `indices[i] >= indices[i+1]`), as NumPy; `indices` must be concrete."""
        self._binary("reduceat")
        no_out(f"{self.__name__}.reduceat", out)
        a = asarray(a) if dtype is None else astype(a, dtype)
        x = sh.moveaxis(a, axis, 0)
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        ends = idx[1:] + [_aval(x).shape[0]]
        parts = [self.reduce(x[s:e] if s < e else x[s:s + 1], 0) for s, e in zip(idx, ends)]
        return sh.moveaxis(sh.stack(parts), 0, axis)

    def at(self, a, indices, b=None, /, *, inplace=True):
        """`a` with this function applied at `indices` (with `b`); repeated indices accumulate
        for add and subtract. Needs `inplace=False`: the result is a new array."""
        if inplace:
            raise FuncgradError(f"fnp.{self.__name__}.at: arrays are immutable; pass "
                                f"inplace=False and use the returned array, at {user_frame()}")
        if self._at is None:
            raise FuncgradError(
                f"fnp.{self.__name__}.at is not supported (only add and subtract accumulate over "
                f"repeated indices); with distinct indices write "
                f"x.at[idx].set(fnp.{self.__name__}(x[idx], ...)), at {user_frame()}")
        return self._at(_at(a)[indices], b)


def _reduction(fn, combine):
    """A `reduce` from an `fnp` reduction taking (a, axis, keepdims, where) and `initial`."""
    def reduce(a, axis, keepdims, initial, where):
        out = fn(a, axis, keepdims=keepdims, where=where)
        return out if initial is None else combine(out, initial)
    return reduce


def _extreme(fn):
    return lambda a, axis, keepdims, initial, where: fn(a, axis, None, keepdims, initial, where)


def _subtract_reduce(a, axis, keepdims, initial, where):
    """x0 - x1 - ... - xn = x0 - sum(x1..xn) (or initial - sum(all))."""
    if where is not None or not isinstance(axis, (int, np.integer)):
        raise FuncgradError(f"fnp.subtract.reduce: one integer axis, without where=, at "
                            f"{user_frame()}")
    x = sh.moveaxis(a, axis, 0)
    out = uf.subtract(x[0], sh.sum(x[1:], 0)) if initial is None else uf.subtract(
        initial, sh.sum(x, 0))
    return sh.expand_dims(out, axis) if keepdims else out


def _subtract_accumulate(a, axis):
    """x0, x0 - x1, x0 - x1 - x2, ... = 2 x0 - cumsum(x)."""
    x = sh.moveaxis(a, axis, 0)
    return sh.moveaxis(uf.subtract(uf.multiply(x[0], 2), sh.cumsum(x, 0)), 0, axis)


def _binary(fn, name, identity=None, reduce=None, accumulate=None, at=None):
    return ufunc(fn, name, 2, identity, reduce, accumulate, at)


add = _binary(uf.add, "add", 0, _reduction(sh.sum, uf.add), sh.cumsum, lambda r, b: r.add(b))
subtract = _binary(uf.subtract, "subtract", None, _subtract_reduce, _subtract_accumulate,
                   lambda r, b: r.add(uf.negative(b)))
multiply = _binary(uf.multiply, "multiply", 1, _reduction(sh.prod, uf.multiply), sh.cumprod)
maximum = _binary(uf.maximum, "maximum", None, _extreme(sh.max))
minimum = _binary(uf.minimum, "minimum", None, _extreme(sh.min))
logaddexp = _binary(uf.logaddexp, "logaddexp", -np.inf)
logaddexp2 = _binary(_logaddexp2, "logaddexp2", -np.inf)
logical_and = _binary(uf.logical_and, "logical_and", True, _reduction(sh.all, uf.logical_and))
logical_or = _binary(uf.logical_or, "logical_or", False, _reduction(sh.any, uf.logical_or))
logical_xor = _binary(uf.logical_xor, "logical_xor", False)
bitwise_and = _binary(uf.bitwise_and, "bitwise_and", -1)
bitwise_or = _binary(uf.bitwise_or, "bitwise_or", 0)
bitwise_xor = _binary(uf.bitwise_xor, "bitwise_xor", 0)
negative = ufunc(uf.negative, "negative", 1)
