"""User-defined derivative rules: `custom_jvp` and `custom_vjp`, and the `custom_lin` primitive
that carries a custom VJP's backward function into the linear program.
"""
from __future__ import annotations

from typing import Any, Callable

from ..backend.fusion import register_c_expr
from ..core import (
    NOT_APPLICABLE,
    FuncgradError,
    Primitive,
    Zero,
    find_top_trace,
    full_raise,
    get_aval_of,
    user_frame,
)
from ..primitives.rules import instantiate
from ..pytree import flatten_fun, tree_flatten, tree_unflatten


class custom_jvp:
    """Give a function a hand-written forward derivative.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp
        >>> @fg.custom_jvp
        ... def f(x):
        ...     return fnp.sin(x)
        >>> @f.defjvp
        ... def f_jvp(primals, tangents):
        ...     (x,), (t,) = primals, tangents
        ...     return f(x), 2.0 * t
        >>> fg.grad(f)(0.0)
        array(2.)
    """

    def __init__(self, fun: Callable):
        self.fun = fun
        self.jvp: Callable | None = None
        self.__name__ = getattr(fun, "__name__", "custom_jvp")
        self.__doc__ = getattr(fun, "__doc__", None)

    def defjvp(self, jvp: Callable) -> Callable:
        """`jvp(primals, tangents) -> (primals_out, tangents_out)`, tuples as the arguments."""
        self.jvp = jvp
        return jvp

    def __call__(self, *args: Any) -> Any:
        if self.jvp is None:
            raise FuncgradError(f"custom_jvp function {self.__name__} has no rule: decorate one "
                                f"with @{self.__name__}.defjvp")
        leaves, in_tree = tree_flatten(args)
        fun_flat, out_tree = flatten_fun(self.fun, in_tree)

        def jvp_flat(primals, tangents):
            p_out, t_out = self.jvp(tree_unflatten(in_tree, primals),
                                    tree_unflatten(in_tree, tangents))
            p_leaves, out_tree.val = tree_flatten(p_out)
            return p_leaves, tree_flatten(t_out)[0]

        trace = find_top_trace(leaves)
        outs = trace.process_custom_jvp(fun_flat, jvp_flat, [full_raise(trace, x) for x in leaves])
        return tree_unflatten(out_tree.val, outs)


class custom_vjp:
    """Give a function a hand-written reverse derivative via `defvjp(fwd, bwd)`.

    `fwd(*args) -> (out, residuals)`; `bwd(residuals, ct_out) -> tuple of cts, one per arg`.
    """

    def __init__(self, fun: Callable):
        self.fun = fun
        self.fwd = self.bwd = None
        self.__name__ = getattr(fun, "__name__", "custom_vjp")
        self.__doc__ = getattr(fun, "__doc__", None)

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None:
            raise FuncgradError(f"custom_vjp function {self.__name__} has no rule: call "
                                f"{self.__name__}.defvjp(fwd, bwd)")
        leaves, in_tree = tree_flatten(args)
        fun_flat, out_tree = flatten_fun(self.fun, in_tree)

        def fwd_flat(*ls):
            out, res = self.fwd(*tree_unflatten(in_tree, ls))
            o_leaves, out_tree.val = tree_flatten(out)
            return o_leaves, res

        def bwd_flat(res, cts):
            cts_in = self.bwd(res, tree_unflatten(out_tree.val, cts))
            if not isinstance(cts_in, tuple) or len(cts_in) != len(args):
                raise FuncgradError(f"custom_vjp bwd of {self.__name__} must return a tuple with "
                                    f"one cotangent per argument ({len(args)}), at {user_frame()}")
            flat = tree_flatten(cts_in, is_leaf=lambda x: x is None)[0]
            for i, (ct, x) in enumerate(zip(flat, leaves)):
                if ct is None or type(ct) is Zero:
                    continue
                want, got = get_aval_of(x), get_aval_of(ct)
                if got.shape != want.shape:
                    raise FuncgradError(
                        f"custom_vjp bwd of {self.__name__} returned a cotangent of shape "
                        f"{got.shape} for input leaf {i} of shape {want.shape}, at "
                        f"{user_frame()}\nEach cotangent must have its input's shape (return "
                        f"None for inputs without a gradient).")
            return flat

        trace = find_top_trace(leaves)
        outs = trace.process_custom_vjp(fun_flat, fwd_flat, bwd_flat,
                                        [full_raise(trace, x) for x in leaves])
        return tree_unflatten(out_tree.val, outs)


# --- custom_lin: a linear map whose transpose is the user's bwd ---------------------------------
custom_lin_p = Primitive("custom_lin", multiple_results=True)


class _Opaque:
    """Hashable-by-identity holder for residuals and callbacks in params."""
    __slots__ = ("val",)

    def __init__(self, val):
        self.val = val

    def __repr__(self):
        return "<opaque>"


def custom_lin(res, bwd, tangents, out_avals):
    return custom_lin_p.bind(*[instantiate(t) for t in tangents], _res=_Opaque(res),
                             _bwd=_Opaque(bwd), out_avals=tuple(out_avals))


def _custom_lin_impl(*tangents, _res, _bwd, out_avals):
    raise FuncgradError("a custom_vjp function was differentiated in forward mode (jvp/jacfwd/"
                        "hessian); it only defines a reverse rule. Use fg.custom_jvp for "
                        "forward mode, or jacrev.")


def _custom_lin_transpose(cts, *args, _res, _bwd, out_avals):
    cts = [instantiate(c) if type(c) is Zero else c for c in cts]
    cts_in = _bwd.val(_res.val, cts)
    return [None if c is None else c for c in cts_in]


custom_lin_p.impl = _custom_lin_impl
custom_lin_p.abstract_eval = lambda *avals, _res, _bwd, out_avals: list(out_avals)
custom_lin_p.jvp = lambda primals, tangents, **params: (
    custom_lin_p.bind(*primals, **params), custom_lin_p.bind(*map(instantiate, tangents), **params))
custom_lin_p.transpose = _custom_lin_transpose
custom_lin_p.batch = lambda size, xs, bdims, **params: _custom_lin_impl(*xs, **params)
register_c_expr(custom_lin_p, NOT_APPLICABLE)  # never fused into a GPU kernel
