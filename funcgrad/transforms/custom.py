"""User-defined derivative rules: `custom_jvp` and `custom_vjp`.

A call of either becomes a call primitive, `custom_jvp_call` / `custom_vjp_call`, carrying the
function as a closed program (`call`, its constants hoisted into the first `num_consts`
operands) and the user's rule as a flat Python function. Every transform sees that one
equation, so none drops the rule: `jit`, control flow and `checkpoint` stage it (their programs
keep it), `vmap` batches the program *and* the rule, forward mode applies the rule, and the
NumPy lowering runs the function's compiled code. `custom_lin` carries a custom VJP's backward
function (the residuals as operands) into the linear program; its transpose calls `bwd`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..backend.compile import compile_closed
from ..backend.fusion import register_c_expr
from ..backend.numpy_codegen import call_emitter, register_emitter
from ..core import NOT_APPLICABLE, FuncgradError, Primitive, Tracer, Zero, _dynamic, user_frame
from ..core import get_aval_of as aval_of
from ..ir import eval_ir
from ..primitives.batching import bdim_at_front, moveaxis
from ..primitives.rules import instantiate, zeros_like_aval
from ..pytree import flatten_fun, tree_flatten, tree_unflatten
from ..staging import trace_to_ir
from .program import batch_ir, closure_convert
from .vmap import vmap_flat

_FWD_MSG = ("a custom_vjp function was differentiated in forward mode (jvp/jacfwd/hessian); it "
            "only defines a reverse rule. Use fg.custom_jvp for forward mode, or jacrev.")


class _Custom:
    def __init__(self, fun: Callable):
        self.fun, self.rule = fun, None
        self.__name__ = getattr(fun, "__name__", type(self).__name__)
        self.__doc__ = getattr(fun, "__doc__", None)

    def __call__(self, *args: Any) -> Any:
        if self.rule is None:
            raise FuncgradError(f"{type(self).__name__} function {self.__name__} has no rule: "
                                f"define it with {self.__name__}.{self._def}")
        leaves, in_tree = tree_flatten(args)
        if _dynamic[0] is None and not any(isinstance(x, Tracer) for x in leaves):
            return self.fun(*args)  # nothing is transformed: just run the function
        f_flat, out_tree = flatten_fun(self.fun, in_tree)
        call, consts = closure_convert(trace_to_ir(f_flat, [aval_of(x) for x in leaves],
                                                   self.__name__))
        outs = self._bind(consts, leaves, call, in_tree, out_tree, len(args))
        return tree_unflatten(out_tree.val, outs)

    def _check(self, what: str, got: list, want: list) -> list:
        if [aval_of(g).shape for g in got] != [w.shape for w in want]:
            raise FuncgradError(
                f"{type(self).__name__} {self.__name__}: the rule's {what} have shapes "
                f"{[aval_of(g).shape for g in got]} where the function's outputs have "
                f"{[w.shape for w in want]}, at {user_frame()}")
        return got


class custom_jvp(_Custom):
    """Give a function a hand-written forward derivative, kept under every transform (vmap,
    jit, control flow, checkpoint, and grad/jacrev/hessian of those).

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
    _def = "defjvp"

    def defjvp(self, jvp: Callable) -> Callable:
        """`jvp(primals, tangents) -> (primals_out, tangents_out)`, tuples as the arguments."""
        self.rule = jvp
        return jvp

    def _bind(self, consts, leaves, call, in_tree, out_tree, nargs):
        def jvp_flat(primals, tangents):
            p_out, t_out = self.rule(tree_unflatten(in_tree, primals),
                                     tree_unflatten(in_tree, tangents))
            return [*self._check("primal outputs", tree_flatten(p_out)[0], call.out_avals),
                    *self._check("tangent outputs", tree_flatten(t_out)[0], call.out_avals)]
        return custom_jvp_call_p.bind(*consts, *leaves, call=call, jvp=jvp_flat,
                                      num_consts=len(consts))


class custom_vjp(_Custom):
    """Give a function a hand-written reverse derivative via `defvjp(fwd, bwd)`, kept under
    every transform. Forward mode (`jvp`, `jacfwd`) of it is an error, as in JAX.

    `fwd(*args) -> (out, residuals)`; `bwd(residuals, ct_out) -> tuple of cts, one per arg`
    (None for an argument without a gradient).
    """
    _def = "defvjp(fwd, bwd)"

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.rule = (fwd, bwd)

    def _bind(self, consts, leaves, call, in_tree, out_tree, nargs):
        in_avals, res_tree = call.in_avals[len(consts):], []

        def fwd_flat(*primals):
            out, res = self.rule[0](*tree_unflatten(in_tree, primals))
            res, tree = tree_flatten(res)
            res_tree[:] = [tree]
            return [*self._check("fwd outputs", tree_flatten(out)[0], call.out_avals), *res]

        def bwd_flat(res, cts):
            cts_in = self.rule[1](tree_unflatten(res_tree[0], res),
                                  tree_unflatten(out_tree.val, cts))
            if not isinstance(cts_in, tuple) or len(cts_in) != nargs:
                raise FuncgradError(f"custom_vjp bwd of {self.__name__} must return a tuple with "
                                    f"one cotangent per argument ({nargs}), at {user_frame()}")
            flat = tree_flatten(cts_in, is_leaf=lambda x: x is None)[0]
            for i, (ct, want) in enumerate(zip(flat, in_avals)):
                if ct is not None and type(ct) is not Zero and aval_of(ct).shape != want.shape:
                    raise FuncgradError(
                        f"custom_vjp bwd of {self.__name__} returned a cotangent of shape "
                        f"{aval_of(ct).shape} for input leaf {i} of shape {want.shape}, at "
                        f"{user_frame()}\nEach cotangent must have its input's shape (return "
                        f"None for inputs without a gradient).")
            return [zeros_like_aval(a) if c is None or type(c) is Zero else c
                    for c, a in zip(flat, in_avals)]
        return custom_vjp_call_p.bind(*consts, *leaves, call=call, fwd=fwd_flat, bwd=bwd_flat,
                                      num_consts=len(consts))


# --- batching helpers: vmap the rules like the function -----------------------------------------

def _vmapped(f: Callable, size: int, split: int | None, in_b: list) -> Callable:
    """`f` (of flat args, or of two lists split at `split`) vmapped over the args flagged in
    `in_b` (at axis 0; all when `in_b` is None), its outputs all batched at axis 0."""
    def g(*args):
        h, args = (f, args) if split is None else (lambda *a: f(a[:split], a[split:]),
                                                   [*args[0], *args[1]])
        outs, bdims = vmap_flat(h, size, list(args), [0 if in_b is None or b else None
                                                      for b in (in_b or args)])
        return [bdim_at_front(o, b, size) for o, b in zip(outs, bdims)]
    return g


def _batched_bwd(bwd: Callable, size: int, res_b: list | None, in_b: list) -> Callable:
    """`bwd` vmapped (residuals batched as `res_b` says, all if None; cotangents at 0); the
    cotangents of unbatched inputs are summed over the batch."""
    def batched(res, cts):
        b = None if res_b is None else [*res_b, *[True] * len(cts)]
        return [o if ib else o.sum(0) for o, ib in
                zip(_vmapped(bwd, size, len(res), b)(res, cts), in_b)]
    return batched


def _moved(xs: list, bdims: list) -> tuple[list, list[bool]]:
    return [moveaxis(x, b, 0) if b is not None else x for x, b in zip(xs, bdims)], \
        [b is not None for b in bdims]


# --- custom_jvp_call and custom_vjp_call: the function's program plus its rule ------------------
custom_jvp_call_p = Primitive("custom_jvp_call", multiple_results=True)
custom_vjp_call_p = Primitive("custom_vjp_call", multiple_results=True)


def _cjvp_jvp(primals, tangents, *, call, jvp, num_consts):
    outs = jvp(primals[num_consts:], [instantiate(t) for t in tangents[num_consts:]])
    return outs[:len(call.out_avals)], outs[len(call.out_avals):]


def _cjvp_batch(size, xs, bdims, *, call, jvp, num_consts):
    xs, in_b = _moved(xs, bdims)
    bjvp = _vmapped(jvp, size, len(xs) - num_consts, in_b[num_consts:] * 2)
    outs = custom_jvp_call_p.bind(*xs, call=batch_ir(call, size, in_b, True)[0], jvp=bjvp,
                                  num_consts=num_consts)
    return outs, [0] * len(outs)


def _cvjp_jvp(primals, tangents, *, call, fwd, bwd, num_consts):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise FuncgradError(f"a custom_vjp function closes over a value being differentiated, "
                            f"at {user_frame()}\nPass that value as an argument instead.")
    outs, n = fwd(*primals[num_consts:]), len(call.out_avals)
    return outs[:n], custom_lin_p.bind(*outs[n:], *map(instantiate, tangents[num_consts:]),
                                       num_res=len(outs) - n, bwd=bwd,
                                       out_avals=tuple(call.out_avals))


def _cvjp_batch(size, xs, bdims, *, call, fwd, bwd, num_consts):
    xs, in_b = _moved(xs, bdims)
    bfwd = _vmapped(fwd, size, None, in_b[num_consts:])  # outputs and residuals batched at 0
    bbwd = _batched_bwd(bwd, size, None, in_b[num_consts:])
    outs = custom_vjp_call_p.bind(*xs, call=batch_ir(call, size, in_b, True)[0], fwd=bfwd,
                                  bwd=bbwd, num_consts=num_consts)
    return outs, [0] * len(outs)


for _p, _jvp, _batch in ((custom_jvp_call_p, _cjvp_jvp, _cjvp_batch),
                         (custom_vjp_call_p, _cvjp_jvp, _cvjp_batch)):
    _p.impl = lambda *args, call, **_: eval_ir(call, args)
    _p.abstract_eval = lambda *avals, call, **_: list(call.out_avals)
    _p.jvp, _p.batch = _jvp, _batch
    _p.transpose = NOT_APPLICABLE  # never linear: reverse mode goes through the jvp rule
    register_emitter(_p, call_emitter(lambda call, **_: compile_closed(call).fn))
    register_c_expr(_p, NOT_APPLICABLE)  # never fused into a GPU kernel


# --- custom_lin: a linear map whose transpose is the user's bwd ---------------------------------
custom_lin_p = Primitive("custom_lin", multiple_results=True)


def _custom_lin_batch(size, xs, bdims, *, num_res, bwd, out_avals):
    xs, in_b = _moved(xs, bdims)
    outs = custom_lin_p.bind(*xs, num_res=num_res, bwd=_batched_bwd(
        bwd, size, in_b[:num_res], in_b[num_res:]), out_avals=tuple(
        a.update(shape=(size, *a.shape)) for a in out_avals))
    return outs, [0] * len(outs)


def _fwd_error(*args, **params):
    raise FuncgradError(_FWD_MSG)


def _custom_lin_impl(*args, num_res, bwd, out_avals):  # a linear map sends zeros to zeros
    if any(np.any(t) for t in args[num_res:]):  # (loops evaluate known zero tangents)
        _fwd_error()
    return [zeros_like_aval(a) for a in out_avals]


custom_lin_p.impl = _custom_lin_impl
custom_lin_p.abstract_eval = lambda *avals, num_res, bwd, out_avals: list(out_avals)
custom_lin_p.jvp = lambda primals, tangents, **p: (  # linear in the tangents, given residuals
    _fwd_error() if any(type(t) is not Zero for t in tangents[:p["num_res"]]) else (
        custom_lin_p.bind(*primals, **p), custom_lin_p.bind(*primals[:p["num_res"]], *map(
            instantiate, tangents[p["num_res"]:]), **p)))
custom_lin_p.transpose = lambda cts, *args, num_res, bwd, out_avals: [None] * num_res + list(
    bwd(list(args[:num_res]), [instantiate(c) for c in cts]))
custom_lin_p.batch = _custom_lin_batch
register_c_expr(custom_lin_p, NOT_APPLICABLE)  # never fused into a GPU kernel
