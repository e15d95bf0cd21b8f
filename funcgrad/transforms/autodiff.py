"""The autodiff API, assembled from jvp (jvp.py), staging of the tangent program (staging.py)
and transposition (transpose.py): `grad` is `vjp`, which is `linearize` then transpose.

funcgrad writes no VJP rules: every primitive has a jvp rule, linear ones a transpose rule.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..avals import ShapedArray, float0, is_float
from ..backend import constant_xp, constants_on, is_gpu_array, place
from ..core import FuncgradError, Tracer, UndefPrimal, Zero, get_aval_of, new_main, user_frame
from ..errors import grad_output_msg
from ..ir import IR, eval_ir
from ..primitives import reshape, slice_
from ..primitives import stop_gradient as _stop_gradient
from ..primitives.batching import moveaxis
from ..pytree import flatten_fun, leaf_label, partial_args, tree_flatten, tree_map, tree_unflatten
from ..staging import Builder, IRTrace, IRTracer, region
from .jvp import jvp_flat
from .transpose import backward_pass
from .vmap import aval_of_arg, vmap

CHECK_LINEAR = [False]  # typecheck every linearized program (tests switch this on)


# --- flat cores -------------------------------------------------------------------------------

def linearize_flat(f: Callable, primals: list, name: str = "linearize") -> tuple[list, IR]:
    """Run `f` at `primals`, staging only its tangent computation into a linear program."""
    builder = Builder(partial=True)
    with new_main(IRTrace, builder, name=name) as main:
        trace = main.live_trace
        tangents_in, tangent_args = [], []
        for p in primals:  # a plain loop: cheaper than comprehensions on short lists
            t = trace.new_arg(get_aval_of(p))
            tangents_in.append(t)
            tangent_args.append(t if is_float(t.aval.dtype) else Zero(t.aval))
        primals_out, tangents_out = jvp_flat(f, primals, tangent_args, name, main.site)
        for i, t in enumerate(tangents_out):
            if not (type(t) is Zero or type(t) is IRTracer and t._trace is trace):
                tangents_out[i] = trace.pure(t)
        return primals_out, builder.build(tangents_in, tangents_out, check=CHECK_LINEAR[0])


def vjp_flat(f: Callable, primals: list, name: str = "vjp") -> tuple[list, Callable]:
    primals_out, lin = linearize_flat(f, primals, name)

    def f_vjp(cts: list) -> list:
        with region("backward"):  # the transposed part, a cluster in a staged program's picture
            return backward_pass(lin, [UndefPrimal(v.aval) for v in lin.open.invars], cts)
    return primals_out, f_vjp


def _materialize(x, aval: ShapedArray | None = None):
    """A value to hand back to the user: zeros for symbolic zeros, owned arrays at rest."""
    if type(x) in _FLOAT_TYPES:
        return np.asarray(x)
    if type(x) is Zero:
        aval = x.aval
        return constant_xp().zeros(aval.shape, aval.dtype)
    if isinstance(x, Tracer):
        return x
    if isinstance(x, np.ndarray):
        return x if x.flags.writeable else x.copy()
    if isinstance(x, (np.generic, float, int, bool, complex)):
        return np.asarray(x)
    return x


_FLOAT_TYPES = frozenset({float, np.float64, np.float32})


# --- argument handling --------------------------------------------------------------------------

def _split_args(fun_name: str, args: tuple, argnums: int | Sequence[int]):
    if type(argnums) is int and -len(args) <= argnums < len(args):  # the common case
        return False, (argnums % len(args),)
    multi = not isinstance(argnums, int)
    nums = tuple(argnums) if multi else (argnums,)
    for i in nums:
        if not isinstance(i, int) or not -len(args) <= i < len(args):
            raise FuncgradError(
                f"{fun_name}: argnums={argnums!r} is out of range for a call with {len(args)} "
                f"positional argument(s), at {user_frame()}\nPass argnums between 0 and "
                f"{len(args) - 1}, or pass the arguments you differentiate positionally.")
    nums = tuple(i % len(args) for i in nums)
    return multi, nums


def _check_float_inputs(fun_name: str, leaves: list, fun, dargs, nums) -> None:
    for i, x in enumerate(leaves):
        t = type(x)
        if t in _FLOAT_TYPES or t is np.ndarray and x.dtype.kind in "fc":
            continue
        aval = aval_of_arg(fun_name, x, fun, dargs, i, nums)
        if not is_float(aval.dtype):
            raise FuncgradError(
                f"{fun_name} requires real or complex floating-point inputs, but argument "
                f"`{leaf_label(fun, dargs, i, nums)}` has dtype {aval.dtype} "
                f"({aval.str_short()}), at {user_frame()}\nConvert it first, e.g. "
                f"`x.astype(np.float64)` or write `1.0` instead of `1`; integer inputs have no "
                f"gradient (leave them out of `argnums`).")


def _check_complex(fun_name: str, values: list, holomorphic: bool, what: str,
                   real: bool = True) -> None:
    """holomorphic=True requires complex `what` (inputs or outputs); without it, real ones
    (where `real`)."""
    if not (holomorphic or real):  # real or complex inputs are both fine
        return
    for a in map(get_aval_of, values):
        if holomorphic != (a.dtype.kind == "c") and (holomorphic or real):
            raise FuncgradError(
                f"{fun_name} with holomorphic=True requires {what} with complex dtype, got "
                f"{a.str_short()}, at {user_frame()}\nPass complex {what}, or drop holomorphic="
                f"True." if holomorphic else f"{fun_name} requires real-valued {what}, got "
                f"{a.str_short()}, at {user_frame()}\nFor holomorphic differentiation pass "
                f"holomorphic=True; for a non-holomorphic function use `fg.vjp` directly, or "
                f"differentiate a real function of it such as `fnp.abs(y) ** 2`.")


class _Desc(str):  # an output's description
    __repr__ = str.__str__  # prints bare inside a container's repr: (f64[], f64[3])


def _short(x) -> str | None:
    try:
        return get_aval_of(x).str_short()
    except TypeError:
        return None


def _scalar_check(out, holomorphic: bool = False) -> ShapedArray:
    try:
        aval = get_aval_of(out)
    except TypeError:
        aval = None
    if aval is not None and aval.shape == () and aval.dtype.kind in "fc":
        if holomorphic or aval.dtype.kind == "c":
            _check_complex("grad", [out], holomorphic, "outputs")
        return aval
    got, (leaves, tree) = _short(out), tree_flatten(out)
    desc = tree_unflatten(tree, [_Desc(_short(x) or type(x).__name__) for x in leaves])
    raise FuncgradError(grad_output_msg(out, got or (
        f"a {type(out).__name__} {desc!r}" if out is not None else "None")))


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """Returns a function computing `(fun(*args), ∇fun(*args))` for a scalar-valued `fun`.

    Args:
        fun: function returning a scalar (or `(scalar, aux)` when `has_aux`).
        argnums: which positional argument(s) to differentiate (int or tuple of ints).
        has_aux: whether `fun` returns a pair whose second element is passed through.
        holomorphic: `fun` is holomorphic: complex inputs and a complex output, and the result
            is the complex derivative. Without it the output must be real; for complex inputs
            the result is the conjugate of the gradient in the real-pair sense (as in JAX:
            `grad(abs)(3+4j) == 0.6-0.8j`).

    Returns:
        A function returning `(value, grads)` or `((value, aux), grads)`; `grads` has the
        structure of the selected argument (a tuple of them when argnums is a tuple).

    Examples:
        >>> import funcgrad as fg
        >>> fg.value_and_grad(lambda x: x ** 3)(2.0)
        (array(8.), array(12.))
    """
    def value_and_grad_f(*args: Any, **kwargs: Any):
        multi, nums = _split_args("grad", args, argnums)
        f_part, dargs = partial_args(fun if not has_aux else _checked_aux(fun), args, nums,
                                     kwargs)
        leaves, in_tree = tree_flatten(dargs)
        _check_float_inputs("grad", leaves, fun, dargs, nums)
        if holomorphic:  # (without it, real and complex inputs are both fine)
            _check_complex("grad", leaves, holomorphic, "inputs", real=False)
        f_flat, out_tree = flatten_fun(f_part, in_tree, has_aux)
        with constants_on(leaves):
            primals_out, f_vjp = vjp_flat(f_flat, leaves, name="grad")
            out_tree, aux_tree = out_tree.val if has_aux else (out_tree.val, None)
            value = _materialize(tree_unflatten(out_tree, primals_out[:out_tree.num_leaves]))
            aval = _scalar_check(value, holomorphic)
            seed = aval.dtype.type(1)  # the unit cotangent, on the output's device
            cts = [place(np.asarray(seed)) if is_gpu_array(value) else seed]
            if len(primals_out) > 1:  # (aux outputs: zero cotangents)
                cts += [Zero(get_aval_of(p)) for p in primals_out[1:]]
            grads = tree_unflatten(in_tree, [_materialize(g) for g in f_vjp(cts)])
        grads = grads if multi else grads[0]
        if has_aux:
            aux = tree_unflatten(aux_tree, [_materialize(p) for p in primals_out[1:]])
            return (value, aux), grads
        return value, grads

    value_and_grad_f.__name__ = f"value_and_grad({getattr(fun, '__name__', 'fun')})"
    return value_and_grad_f


def _checked_aux(fun: Callable) -> Callable:
    """`fun`, checked to return a pair `(output, aux)` (for `has_aux=True`)."""
    def fun_with_aux(*args, **kwargs):
        res = fun(*args, **kwargs)
        if not (isinstance(res, (tuple, list)) and len(res) == 2):
            raise FuncgradError(f"has_aux=True requires the function to return a pair "
                                f"(output, aux), got {_short(res) or type(res).__name__}, at "
                                f"{user_frame()}\nReturn `(loss, aux)`, or drop has_aux=True.")
        return res
    return fun_with_aux


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False) -> Callable:
    """Returns a function computing the gradient of scalar-valued `fun`.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp
        >>> fg.grad(fnp.sin)(0.0)
        array(1.)
        >>> fg.grad(fg.grad(lambda x: x ** 4 - 2 * x ** 2))(2.0)
        array(44.)
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic)

    def grad_f(*args: Any, **kwargs: Any):
        (value, g) = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = f"grad({getattr(fun, '__name__', 'fun')})"
    return grad_f


def _check_tangent(fun, primals: tuple, p, t, i: int) -> None:
    pa = aval_of_arg("jvp", p, fun, primals, i)
    ta = aval_of_arg("jvp", t, fun, primals, i)
    want = pa.dtype if is_float(pa.dtype) else float0
    if pa.shape != ta.shape or ta.dtype not in (pa.dtype, want):
        what, p_, t_ = (("shape", pa.shape, ta.shape) if pa.shape != ta.shape else
                        ("dtype", pa.dtype, ta.dtype))
        raise FuncgradError(
            f"jvp: the tangent of `{leaf_label(fun, primals, i)}` has {what} {t_} but its primal "
            f"has {what} {p_}, at {user_frame()}\nEach tangent must have its primal's shape and "
            f"dtype (as in JAX; an integer or boolean primal has no derivative: its tangent has "
            f"its dtype or float0): convert it, e.g. `t.astype(x.dtype)`.")


def jvp(fun: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Forward-mode Jacobian-vector product: returns `(fun(*primals), J @ tangents)`.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp
        >>> fg.jvp(fnp.sin, (0.0,), (2.0,))
        (array(0.), array(2.))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise FuncgradError(f"jvp: `primals` and `tangents` must be tuples of arguments, at "
                            f"{user_frame()}\nWrap them: fg.jvp(f, (x,), (v,))")
    p_leaves, in_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if in_tree != t_tree:
        raise FuncgradError(f"jvp: primals and tangents have different structures: {in_tree} "
                            f"vs {t_tree}, at {user_frame()}\nGive one tangent per primal, "
                            f"with the same nesting: fg.jvp(f, (x, y), (tx, ty)).")
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        _check_tangent(fun, primals, p, t, i)
    f_flat, out_tree = flatten_fun(fun, in_tree)
    t_leaves = [t if is_float(get_aval_of(p).dtype) else Zero(get_aval_of(p))
                for p, t in zip(p_leaves, t_leaves)]
    with constants_on(p_leaves):
        primals_out, tangents_out = jvp_flat(f_flat, p_leaves, t_leaves)
        return (tree_unflatten(out_tree.val, [_materialize(p) for p in primals_out]),
                tree_unflatten(out_tree.val, [_materialize(t) for t in tangents_out]))


def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Returns `(fun(*primals), jvp_fun)` where `jvp_fun(*tangents)` evaluates the linear map."""
    p_leaves, in_tree = tree_flatten(primals)
    f_flat, out_tree = flatten_fun(fun, in_tree)
    with constants_on(p_leaves):
        primals_out, lin = linearize_flat(f_flat, p_leaves)
    out_tree = out_tree.val

    def jvp_fun(*tangents):
        t_leaves, t_tree = tree_flatten(tangents)
        if t_tree != in_tree:
            raise FuncgradError(f"linearize: tangents {t_tree} do not match primals {in_tree}")
        with constants_on(p_leaves):
            outs = eval_ir(lin, t_leaves)
            return tree_unflatten(out_tree, [_materialize(o) for o in outs])
    with constants_on(p_leaves):
        return tree_unflatten(out_tree, [_materialize(p) for p in primals_out]), jvp_fun


def vjp(fun: Callable, *primals: Any, has_aux: bool = False, holomorphic: bool = False):
    """Reverse mode: returns `(fun(*primals), vjp_fun[, aux])`; `vjp_fun(ct)` returns a tuple
    with one cotangent per primal. Cotangents of complex values are not conjugated (as in JAX);
    `holomorphic=True` only checks that the inputs and outputs are complex.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> y, f_vjp = fg.vjp(fnp.sin, np.zeros(2))
        >>> f_vjp(np.ones(2))
        (array([1., 1.]),)
    """
    p_leaves, in_tree = tree_flatten(primals)
    for i, x in enumerate(p_leaves):
        aval_of_arg("vjp", x, fun, primals, i)
    f_flat, out_trees = flatten_fun(_checked_aux(fun) if has_aux else fun, in_tree, has_aux)
    _check_complex("vjp", p_leaves, holomorphic, "inputs", real=False)
    with constants_on(p_leaves):
        primals_out, f_vjp_flat = vjp_flat(f_flat, p_leaves)
    out_tree, aux_tree = out_trees.val if has_aux else (out_trees.val, None)
    n_out = out_tree.num_leaves
    out_avals = [get_aval_of(p) for p in primals_out]
    _check_complex("vjp", primals_out[:n_out], holomorphic, "outputs", real=False)

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise FuncgradError(f"vjp: cotangent structure {ct_tree} does not match the output "
                                f"structure {out_tree}")
        for c, a in zip(ct_leaves, out_avals):
            if get_aval_of(c).shape != a.shape:
                raise FuncgradError(f"vjp: cotangent of shape {get_aval_of(c).shape} for an output "
                                    f"of shape {a.shape}, at {user_frame()}")
        cts = list(ct_leaves) + [Zero(a) for a in out_avals[n_out:]]
        with constants_on(p_leaves):
            return tree_unflatten(in_tree, [_materialize(g) for g in f_vjp_flat(cts)])

    with constants_on(p_leaves):
        outs = [_materialize(p) for p in primals_out]
    out = tree_unflatten(out_tree, outs[:n_out])
    if has_aux:
        return out, vjp_fun, tree_unflatten(aux_tree, outs[n_out:])
    return out, vjp_fun


# --- Jacobians and Hessians (one batched pass each, through vmap) -------------------------------

def _std_basis(leaves: list):
    """Identity rows for the flattened inputs: an (n, *shape) array per leaf."""
    sizes = [math.prod(get_aval_of(x).shape) for x in leaves]
    n = sum(sizes)
    dtype = np.result_type(*[get_aval_of(x).dtype for x in leaves])
    with constants_on(leaves):  # tracers of device arrays (hessian): the caller's device
        eye = constant_xp().eye(n, dtype=dtype)
    out, start = [], 0
    for x, s in zip(leaves, sizes):
        out.append(eye[:, start:start + s].reshape((n,) + get_aval_of(x).shape))
        start += s
    return out, n


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """Jacobian by forward mode: one vmapped jvp over the standard basis of the inputs. With
    `has_aux`, `fun` returns `(output, aux)` and the Jacobian function `(jacobian, aux)`. Inputs
    must be real, or complex with `holomorphic=True` (then the outputs must be complex too)."""
    def jacfun(*args):
        multi, nums = _split_args("jacfwd", args, argnums)
        f_aux, dargs = partial_args(_checked_aux(fun) if has_aux else fun, args, nums)
        leaves, in_tree = tree_flatten(dargs)
        _check_float_inputs("jacfwd", leaves, fun, dargs, nums)
        _check_complex("jacfwd", leaves, holomorphic, "inputs")
        basis, n = _std_basis(leaves)
        def pushfwd(*ts):  # -> ((output, aux), output tangent)
            out, t_out = jvp(f_aux, dargs, tree_unflatten(in_tree, ts))
            return (out, t_out[0]) if has_aux else ((out, None), t_out)
        # one call of `fun`: its value (and aux) is the unbatched primal output of the vmapped jvp
        (y, aux), jac_cols = vmap(pushfwd, out_axes=((None, None), 0))(*basis)
        _check_complex("jacfwd", tree_flatten(y)[0], holomorphic, "outputs", real=False)

        def arrange(col, y_leaf):
            out_shape = get_aval_of(y_leaf).shape
            parts, start = [], 0
            for x in leaves:  # the rows of x: (s, *out_shape) -> (*out_shape, *x_shape)
                xs = get_aval_of(x).shape
                s = math.prod(xs)
                part = moveaxis(_rows(col, start, start + s), 0, -1)
                parts.append(reshape(part, out_shape + xs))
                start += s
            tree = tree_unflatten(in_tree, parts)
            return tree if multi else tree[0]
        jac = tree_map(arrange, jac_cols, y)
        return (jac, aux) if has_aux else jac
    return jacfun


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """Jacobian by reverse mode: one vmapped vjp over the standard basis of the outputs. With
    `has_aux`, `fun` returns `(output, aux)` and the Jacobian function `(jacobian, aux)`. Outputs
    must be real, or complex with `holomorphic=True` (then the inputs must be complex too)."""
    def jacfun(*args):
        multi, nums = _split_args("jacrev", args, argnums)
        f_of, dargs = partial_args(fun, args, nums)
        _check_float_inputs("jacrev", tree_flatten(dargs)[0], fun, dargs, nums)
        _check_complex("jacrev", tree_flatten(dargs)[0], holomorphic, "inputs", real=False)
        y, f_vjp, *aux = vjp(f_of, *dargs, has_aux=has_aux)
        y_leaves, y_tree = tree_flatten(y)
        _check_complex("jacrev", y_leaves, holomorphic, "outputs")
        basis, n = _std_basis(y_leaves)
        rows = vmap(lambda *cts: f_vjp(tree_unflatten(y_tree, cts)))(*basis)  # tuple per arg

        outs, start = [], 0
        for yl in y_leaves:
            ys = get_aval_of(yl).shape
            per_arg = tuple(tree_map(lambda row, x: reshape(_rows(
                row, start, start + math.prod(ys)), ys + get_aval_of(x).shape), r, a)
                for r, a in zip(rows, dargs))
            outs.append(per_arg if multi else per_arg[0])
            start += math.prod(ys)
        jac = tree_unflatten(y_tree, outs)
        return (jac, aux[0]) if has_aux else jac
    return jacfun


def _rows(x, start: int, stop: int):
    """Rows `start:stop` (along the leading axis) of `x`."""
    shape = get_aval_of(x).shape
    return slice_(x, (start,) + (0,) * (len(shape) - 1), (stop,) + shape[1:])


def hessian(fun: Callable, argnums: int | Sequence[int] = 0,
            holomorphic: bool = False) -> Callable:
    """Hessian of scalar-valued `fun`: forward-over-reverse, `jacfwd(jacrev(fun))`."""
    return jacfwd(jacrev(fun, argnums, holomorphic=holomorphic), argnums,
                  holomorphic=holomorphic)


def stop_gradient(x: Any) -> Any:
    """Identity whose derivative is zero (applies to every leaf of a pytree)."""
    return tree_map(_stop_gradient, x)
