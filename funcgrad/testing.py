"""`check_grads`: finite-difference checks of forward and reverse mode, to any order.

Defaults follow DeZero's gradient check (float64, eps 1e-4, rtol 1e-4, atol 1e-5). Reverse mode
is checked with the inner-product identity <v, J u> = <J^T v, u> against the forward mode.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .pytree import tree_flatten, tree_map
from .transforms.autodiff import jvp, vjp

EPS, RTOL, ATOL = 1e-4, 1e-4, 1e-5


def _as_f64(x):
    x = np.asarray(x)
    return x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else \
        x.astype(np.complex128) if np.issubdtype(x.dtype, np.complexfloating) else x


def numerical_jvp(f: Callable, primals: Sequence, tangents: Sequence, eps: float = EPS):
    """Central difference (f(x + eps t) - f(x - eps t)) / 2 eps."""
    plus = f(*tree_map(lambda x, t: x + eps * t, tuple(primals), tuple(tangents)))
    minus = f(*tree_map(lambda x, t: x - eps * t, tuple(primals), tuple(tangents)))
    return tree_map(lambda a, b: (np.asarray(a) - np.asarray(b)) / (2 * eps), plus, minus)


def _rand_like(rng, x):
    """A random direction like `x` (complex: random real and imaginary parts; integers: 0)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.complexfloating):
        return (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)).astype(x.dtype)
    return rng.standard_normal(x.shape).astype(x.dtype) if np.issubdtype(x.dtype, np.floating) \
        else np.zeros(x.shape, x.dtype)


def _vdot(a, b) -> float:
    """Re(sum(a * b)) over the leaves: the real pairing under which vjp is jvp's transpose
    (for complex values too, as in JAX: the transpose, not the adjoint)."""
    la, _ = tree_flatten(a)
    lb, _ = tree_flatten(b)
    return float(sum(np.real(np.sum(np.asarray(x, np.complex128) * np.asarray(y, np.complex128)))
                     for x, y in zip(la, lb)))


def _close(what: str, got, want, atol: float, rtol: float) -> None:
    lg, _ = tree_flatten(got)
    lw, _ = tree_flatten(want)
    for g, w in zip(lg, lw):
        g, w = np.asarray(g, np.complex128), np.asarray(w, np.complex128)
        if g.shape != w.shape:
            raise AssertionError(f"{what}: shape {g.shape} != expected {w.shape}")
        if not np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
            err = np.max(np.abs(g - w))
            raise AssertionError(f"{what} mismatch (max abs error {err:.3g}, atol={atol}, "
                                 f"rtol={rtol}):\n got      {g}\n expected {w}")


def check_jvp(f, primals, atol=ATOL, rtol=RTOL, eps=EPS, rng=None):
    rng = rng or np.random.default_rng(0)
    tangents = tree_map(lambda x: _rand_like(rng, x), tuple(primals))
    y, t_out = jvp(f, tuple(primals), tangents)
    t_num = numerical_jvp(f, primals, tangents, eps)
    _close("jvp (forward mode vs finite differences)", t_out, t_num, atol, rtol)


def check_vjp(f, primals, atol=ATOL, rtol=RTOL, eps=EPS, rng=None):
    rng = rng or np.random.default_rng(1)
    y, f_vjp = vjp(f, *primals)
    u = tree_map(lambda x: _rand_like(rng, x), tuple(primals))
    v = tree_map(lambda x: _rand_like(rng, x), y)
    ju = numerical_jvp(f, primals, u, eps)
    lhs = _vdot(v, ju)
    rhs = _vdot(f_vjp(v), u)
    tol = atol * 10 + rtol * max(abs(lhs), abs(rhs))
    if not abs(lhs - rhs) <= tol:
        raise AssertionError(f"vjp (reverse mode) fails the inner-product test: <v, J u> = "
                             f"{lhs!r} (finite differences) but <J^T v, u> = {rhs!r}")


def check_grads(f: Callable, args: Sequence, order: int = 2, modes: Sequence[str] = ("fwd", "rev"),
                atol: float | None = None, rtol: float | None = None, eps: float | None = None):
    """Check derivatives of `f` at `args` against finite differences, up to `order`.

    Args:
        f: function of the positional `args` (pytrees of float arrays).
        args: tuple of arguments; float arrays are promoted to float64 for the check.
        order: highest derivative order checked (each order differentiates the previous check's
            linear map, as forward-over-forward and reverse-over-reverse).
        modes: any of "fwd" and "rev".

    Raises:
        AssertionError: naming the mode, the order and the mismatch.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.testing.check_grads(fnp.tanh, (np.array([0.1, 0.5]),), order=2)
    """
    atol = ATOL if atol is None else atol
    rtol = RTOL if rtol is None else rtol
    eps = EPS if eps is None else eps
    args = tuple(tree_map(_as_f64, a) for a in args)
    _check(f, args, order, tuple(modes), atol, rtol, eps, np.random.default_rng(0))


def _check(f, args, order, modes, atol, rtol, eps, rng):
    if "fwd" in modes:
        check_jvp(f, args, atol, rtol, eps, rng)
        if order > 1:
            tangents = tree_map(lambda x: _rand_like(rng, x), args)
            _check(lambda *a: jvp(f, a, tangents)[1], args, order - 1, ("fwd",), atol, rtol,
                   eps, rng)
    if "rev" in modes:
        check_vjp(f, args, atol, rtol, eps, rng)
        if order > 1:
            y = f(*args)
            v = tree_map(lambda x: _rand_like(rng, x), y)
            _check(lambda *a: vjp(f, *a)[1](v), args, order - 1, ("rev",), atol, rtol, eps, rng)
