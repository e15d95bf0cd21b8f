"""Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, expand_dims, slice, pad,
concatenate, rev, convert_element_type. One block each: impl, abstract eval, jvp, transpose,
batching (the batching helpers they share live in batching.py), and the
lowerings: views for the NumPy code, a cast in fused GPU kernels; slice, pad, concatenate and
rev lower to their impls.
"""
from __future__ import annotations

import math

import numpy as np

from ..avals import ShapedArray, is_float
from ..backend import constant_xp, place
from ..backend.fusion import C_TYPES, register_c_expr
from ..backend.native import ctor, register_native
from ..backend.numpy_codegen import register_broadcast, register_emitter
from ..core import NOT_APPLICABLE, Zero, get_aval_of, is_undefined_primal
from .batching import bdim_at_front as _bdim_front
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import ShapeError, deflinear, deftranspose
from .rules import xp_of as _xp


# --- broadcast_in_dim ---------------------------------------------------------------------------
def _broadcast_in_dim_impl(x, *, shape, broadcast_dimensions):
    if type(x) is not np.ndarray and (isinstance(x, np.generic) or not hasattr(x, "reshape")):
        x = np.asarray(x)  # NumPy and Python scalars: a 0-d array
    if type(x) is np.ndarray:
        x = place(x)  # a host constant (`full`, a seed) meeting a GPU call goes to its device
    if type(x) is np.ndarray and x.flags.c_contiguous:
        # a read-only view with stride 0 along the new and the stretched axes, built directly
        # (no reshape first; numpy.broadcast_to costs several times more)
        strides = [0] * len(shape)
        xs, xst = x.shape, x.strides
        for i, d in enumerate(broadcast_dimensions):
            if xs[i] == shape[d]:
                strides[d] = xst[i]
        out = np.ndarray(shape, x.dtype, x, 0, tuple(strides))
        out.flags.writeable = False
        return out
    if x.ndim != len(shape):
        tmp = [1] * len(shape)
        for i, d in enumerate(broadcast_dimensions):
            tmp[d] = x.shape[i]
        x = x.reshape(tmp)
    return _xp(x).broadcast_to(x, shape)


def _broadcast_in_dim_abstract_eval(x, *, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != x.ndim or any(
            x.shape[i] not in (1, shape[d]) for i, d in enumerate(broadcast_dimensions)):
        raise ShapeError(f"broadcast_in_dim: cannot broadcast {x.str_short()} to {shape} "
                         f"along dimensions {broadcast_dimensions}")
    return [ShapedArray(shape, x.dtype, x.weak_type)]


def _broadcast_in_dim_transpose(ct, x, *, shape, broadcast_dimensions):
    new_dims = tuple([d for d in range(len(shape)) if d not in broadcast_dimensions])
    x_shape = x.aval.shape
    expanded = tuple([i for i, d in enumerate(broadcast_dimensions)
                      if x_shape[i] == 1 and shape[d] != 1])
    out = reduce_sum(ct, new_dims) if new_dims else ct
    if expanded:
        out = reduce_sum(out, expanded)
        out = reshape(out, x.aval.shape)
    return [out]


def _broadcast_in_dim_batch(size, xs, bdims, *, shape, broadcast_dimensions):
    (x,), (bd,) = xs, bdims
    x = _bdim_front(x, bd, size)
    dims = (0,) + tuple(d + 1 for d in broadcast_dimensions)
    return [broadcast_in_dim(x, (size,) + tuple(shape), dims)], [0]


broadcast_in_dim_p.impl = _broadcast_in_dim_impl
broadcast_in_dim_p.abstract_eval = _broadcast_in_dim_abstract_eval
deflinear(broadcast_in_dim_p, _broadcast_in_dim_transpose)
broadcast_in_dim_p.batch = _broadcast_in_dim_batch


def _operand_shape(eqn):  # the operand with size-1 axes where the broadcast adds axes
    shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    tmp = [1] * len(shape)
    for i, d in enumerate(dims):
        tmp[d] = eqn.inputs[0].aval.shape[i]
    return tuple(tmp)


def _bcast_reshape(x, tmp, shape):
    return np.broadcast_to(np.reshape(x, tmp), shape)


def _broadcast_in_dim_emit(eqn, args, names):
    shape = eqn.params["shape"]
    if eqn.inputs[0].aval.ndim == len(shape):
        return f"np.broadcast_to({args[0]}, {shape!r})", "view"
    return f"{names.obj(_bcast_reshape, '_bcast')}({args[0]}, {_operand_shape(eqn)!r}, " \
           f"{shape!r})", "view"


register_emitter(broadcast_in_dim_p, _broadcast_in_dim_emit)
register_broadcast(broadcast_in_dim_p, _operand_shape)  # NumPy's implicit broadcasting
register_native(broadcast_in_dim_p, lambda eqn, args, ctx: (
    f"np.full({eqn.params['shape']!r}, {args[0]})" if eqn.inputs[0].aval.ndim == 0 else
    f"np.broadcast_to(np.ascontiguousarray({args[0]}).reshape({_operand_shape(eqn)!r}), "
    f"{eqn.params['shape']!r})"), view=True)


# --- reshape ------------------------------------------------------------------------------------
def _reshape_abstract_eval(x, *, new_sizes):
    if math.prod(new_sizes) != x.size:
        raise ShapeError(f"reshape: cannot reshape {x.str_short()} into shape {new_sizes}")
    return [ShapedArray(new_sizes, x.dtype, x.weak_type)]


reshape_p.impl = lambda x, *, new_sizes: (x.reshape(new_sizes) if hasattr(x, "reshape")
                                           else np.reshape(x, new_sizes))
reshape_p.abstract_eval = _reshape_abstract_eval


def _reshape_back(ct, x, **_):  # the transpose of reshape, squeeze and expand_dims
    return [reshape(ct, x.aval.shape)]


deflinear(reshape_p, _reshape_back)
reshape_p.batch = lambda size, xs, bdims, *, new_sizes: (
    [reshape(_bdim_front(xs[0], bdims[0], size), (size,) + new_sizes)], [0])


def _reshape_emit(eqn, args, names):  # (squeeze and expand_dims too)
    shape = eqn.out_binders[0].aval.shape
    if eqn.inputs[0].aval.shape == shape:
        return args[0], "alias"
    return f"np.reshape({args[0]}, {shape!r})", "view"


register_emitter(reshape_p, _reshape_emit)


def _reshape_native(eqn, args, ctx):  # (squeeze and expand_dims too)
    x, shape = eqn.inputs[0].aval, eqn.out_binders[0].aval.shape
    return (args[0] if x.shape == shape else f"np.full({shape!r}, {args[0]})" if not x.ndim else
            f"np.ascontiguousarray({args[0]}).ravel()[0]" if not shape else
            f"np.ascontiguousarray({args[0]}).reshape({shape!r})")


for _p in (reshape_p, squeeze_p, expand_dims_p):
    register_native(_p, _reshape_native, view=True)


# --- transpose ----------------------------------------------------------------------------------
def _transpose_abstract_eval(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {permutation} is not a permutation of the axes of "
                         f"{x.str_short()}")
    return [ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype, x.weak_type)]


transpose_p.impl = lambda x, *, permutation: (
    x.transpose(permutation) if hasattr(x, "transpose") else np.transpose(x, permutation))
transpose_p.abstract_eval = _transpose_abstract_eval
deflinear(transpose_p, lambda ct, x, *, permutation: [transpose(ct, np.argsort(permutation))])
transpose_p.batch = lambda size, xs, bdims, *, permutation: (
    [transpose(_bdim_front(xs[0], bdims[0], size), (0,) + tuple(p + 1 for p in permutation))],
    [0])
register_emitter(transpose_p, lambda eqn, args, names: (
    f"np.transpose({args[0]}, {eqn.params['permutation']!r})", "view"))
register_native(transpose_p, lambda eqn, args, ctx: f"np.transpose({args[0]}, "
                f"{eqn.params['permutation']!r})" if eqn.inputs[0].aval.ndim else args[0],
                view=True)


# --- squeeze / expand_dims ----------------------------------------------------------------------
def _squeeze_abstract_eval(x, *, dimensions):
    if any(x.shape[d] != 1 for d in dimensions):
        raise ShapeError(f"squeeze: dimensions {dimensions} of {x.str_short()} are not all 1")
    shape = tuple(s for i, s in enumerate(x.shape) if i not in dimensions)
    return [ShapedArray(shape, x.dtype, x.weak_type)]


def _expand_dims_shape(shape, dimensions):
    out = list(shape)
    for d in sorted(dimensions):
        out.insert(d, 1)
    return tuple(out)


squeeze_p.impl = lambda x, *, dimensions: _xp(x).squeeze(x, dimensions)
squeeze_p.abstract_eval = _squeeze_abstract_eval
deflinear(squeeze_p, _reshape_back)
squeeze_p.batch = lambda size, xs, bdims, *, dimensions: (
    [squeeze(_bdim_front(xs[0], bdims[0], size), tuple(d + 1 for d in dimensions))], [0])
register_emitter(squeeze_p, _reshape_emit)

expand_dims_p.impl = lambda x, *, dimensions: _xp(x).reshape(  # np.shape: Python scalars too
    x, _expand_dims_shape(np.shape(x), dimensions))
expand_dims_p.abstract_eval = lambda x, *, dimensions: [
    ShapedArray(_expand_dims_shape(x.shape, dimensions), x.dtype, x.weak_type)]
deflinear(expand_dims_p, _reshape_back)
expand_dims_p.batch = lambda size, xs, bdims, *, dimensions: (
    [expand_dims(_bdim_front(xs[0], bdims[0], size), tuple(d + 1 for d in dimensions))], [0])
register_emitter(expand_dims_p, _reshape_emit)


# --- slice --------------------------------------------------------------------------------------
def _slice_shape(start_indices, limit_indices, strides):
    return tuple(max(0, -(-(hi - lo) // s)) for lo, hi, s in
                 zip(start_indices, limit_indices, strides))


def _slice_abstract_eval(x, *, start_indices, limit_indices, strides):
    if not all(0 <= lo <= hi <= n for lo, hi, n in zip(start_indices, limit_indices, x.shape)):
        raise ShapeError(f"slice: [{start_indices}:{limit_indices}] out of bounds for "
                         f"{x.str_short()}")
    return [ShapedArray(_slice_shape(start_indices, limit_indices, strides), x.dtype, x.weak_type)]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    out_shape = ct.aval.shape if hasattr(ct, "aval") else np.shape(ct)
    config = []
    for lo, n, s, m in zip(start_indices, x.aval.shape, strides, out_shape):
        real_hi = lo + (m - 1) * s + 1 if m else lo
        config.append((lo, n - real_hi, s - 1 if m else 0))
    return [pad(ct, np.zeros((), x.aval.dtype), config)]


slice_p.impl = lambda x, *, start_indices, limit_indices, strides: x[tuple(
    slice(lo, hi, s) for lo, hi, s in zip(start_indices, limit_indices, strides))]
slice_p.abstract_eval = _slice_abstract_eval
deflinear(slice_p, _slice_transpose)
slice_p.batch = lambda size, xs, bdims, *, start_indices, limit_indices, strides: (
    [slice_(_bdim_front(xs[0], bdims[0], size), (0,) + start_indices, (size,) + limit_indices,
            (1,) + strides)], [0])
register_native(slice_p, lambda eqn, args, ctx: args[0] + "[" + ", ".join(
    f"{a}:{b}:{c}" for a, b, c in zip(*(eqn.params[k] for k in (
        "start_indices", "limit_indices", "strides")))) + "]" if eqn.inputs[0].aval.ndim
    else args[0], view=True)


# --- pad ----------------------------------------------------------------------------------------
def _pad_impl(x, v, *, padding_config):
    xp = _xp(x)
    x = xp.asarray(x)  # Python scalars too
    shape = tuple(lo + hi + n + max(0, n - 1) * it
                  for (lo, hi, it), n in zip(padding_config, x.shape))
    out = xp.full(shape, v[()] if type(v) is np.ndarray else v, dtype=x.dtype)  # host 0-d: a scalar
    out[tuple(slice(lo, lo + (n - 1) * (it + 1) + 1 if n else lo, it + 1)
              for (lo, hi, it), n in zip(padding_config, x.shape))] = x
    return out


def _pad_abstract_eval(x, v, *, padding_config):
    if v.shape != () or v.dtype != x.dtype:
        raise ShapeError(f"pad: padding value must be a scalar of dtype {x.dtype}, got "
                         f"{v.str_short()}")
    if any(lo < 0 or hi < 0 or it < 0 for lo, hi, it in padding_config):
        raise ShapeError("pad: negative padding is not supported; slice instead")
    shape = tuple(lo + hi + n + max(0, n - 1) * it
                  for (lo, hi, it), n in zip(padding_config, x.shape))
    return [ShapedArray(shape, x.dtype, x.weak_type)]


def _pad_transpose(ct, x, v, *, padding_config):
    shape = ct.aval.shape if hasattr(ct, "aval") else np.shape(ct)
    starts = tuple(lo for lo, _, _ in padding_config)
    limits = tuple(n - hi for (_, hi, _), n in zip(padding_config, shape))
    strides = tuple(it + 1 for _, _, it in padding_config)
    ct_x = slice_(ct, starts, limits, strides)
    ct_v = None
    if is_undefined_primal(v):
        total = reduce_sum(ct, tuple(range(len(shape))))
        ct_v = sub(total, reduce_sum(ct_x, tuple(range(len(shape))))) if shape else total
    return [ct_x if is_undefined_primal(x) else None, ct_v]


def _pad_batch(size, xs, bdims, *, padding_config):
    (x, v), (bx, bv) = xs, bdims
    x = _bdim_front(x, bx, size)
    config = ((0, 0, 0),) + tuple(padding_config)
    if bv is None:
        return [pad(x, v, config)], [0]
    # a batched padding value (shape (size,)): pad with zeros, then select v where padded
    aval = get_aval_of(x)
    mask = _pad_impl(constant_xp().zeros(aval.shape, bool), True, padding_config=config)
    padded = pad(x, np.zeros((), aval.dtype), config)
    return [select(mask, broadcast_in_dim(v, mask.shape, (0,)), padded)], [0]


pad_p.impl = _pad_impl
pad_p.abstract_eval = _pad_abstract_eval
deflinear(pad_p, _pad_transpose)
pad_p.batch = _pad_batch


def _pad_native(eqn, args, ctx):  # a filled array, then x into its strided slots
    x, out = eqn.inputs[0].aval, eqn.out_binders[0].aval
    if not x.ndim:
        return None
    ctx.line(f"{(o := ctx.fresh('p'))} = np.full({out.shape!r}, {args[1]}, {ctor(out.dtype)})")
    ctx.line(f"{o}[" + ", ".join(f"{lo}:{lo + (n - 1) * (it + 1) + 1 if n else lo}:{it + 1}" for
                                 (lo, _, it), n in zip(eqn.params["padding_config"], x.shape))
             + f"] = {args[0]}")
    return o


register_native(pad_p, _pad_native)


# --- concatenate --------------------------------------------------------------------------------
def _concatenate_abstract_eval(*xs, dimension):
    x0 = xs[0]
    for x in xs[1:]:
        if (x.dtype != x0.dtype or x.ndim != x0.ndim or
                any(a != b for i, (a, b) in enumerate(zip(x.shape, x0.shape)) if i != dimension)):
            raise ShapeError(f"concatenate: incompatible operands "
                             f"{', '.join(a.str_short() for a in xs)} along axis {dimension}")
    shape = list(x0.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return [ShapedArray(tuple(shape), x0.dtype, all(x.weak_type for x in xs))]


def _concatenate_transpose(ct, *xs, dimension):
    outs, start = [], 0
    for x in xs:
        aval = x.aval if hasattr(x, "aval") else ShapedArray(np.shape(x), np.result_type(x))
        n = aval.shape[dimension]
        if is_undefined_primal(x):
            lo, hi = [0] * aval.ndim, list(aval.shape)
            lo[dimension], hi[dimension] = start, start + n
            outs.append(slice_(ct, lo, hi))
        else:
            outs.append(None)
        start += n
    return outs


def _concatenate_batch(size, xs, bdims, *, dimension):
    xs = [_bdim_front(x, b, size) for x, b in zip(xs, bdims)]
    return [concatenate(xs, dimension + 1)], [0]


concatenate_p.impl = lambda *xs, dimension: _xp(xs[0]).concatenate(xs, axis=dimension)
concatenate_p.abstract_eval = _concatenate_abstract_eval
deflinear(concatenate_p, _concatenate_transpose)
concatenate_p.batch = _concatenate_batch


# --- rev ----------------------------------------------------------------------------------------
rev_p.impl = lambda x, *, dimensions: _xp(x).flip(x, dimensions) if dimensions else x
rev_p.abstract_eval = lambda x, *, dimensions: [x]
deflinear(rev_p, lambda ct, x, *, dimensions: [rev(ct, dimensions)])
rev_p.batch = lambda size, xs, bdims, *, dimensions: (
    [rev(_bdim_front(xs[0], bdims[0], size), tuple(d + 1 for d in dimensions))], [0])
register_native(rev_p, lambda eqn, args, ctx: args[0] + "[" + ", ".join(
    "::-1" if d in eqn.params["dimensions"] else ":" for d in range(eqn.inputs[0].aval.ndim))
    + "]" if eqn.params["dimensions"] else args[0], view=True)


# --- convert_element_type -----------------------------------------------------------------------
def _convert_jvp(primals, tangents, *, new_dtype, weak_type):
    (x,), (x_dot,) = primals, tangents
    out = convert_element_type(x, new_dtype, weak_type)
    if type(x_dot) is Zero or not is_float(new_dtype) or not is_float(get_aval_of(x_dot).dtype):
        return [out], [Zero(ShapedArray(get_aval_of(out).shape, new_dtype, weak_type))]
    return [out], [convert_element_type(x_dot, new_dtype, weak_type)]


def _convert_transpose(ct, x, *, new_dtype, weak_type):  # real -> complex: the real part
    ct = real(ct) if new_dtype.kind == "c" != x.aval.dtype.kind else ct
    return [convert_element_type(ct, x.aval.dtype, x.aval.weak_type)]


def _convert_impl(x, *, new_dtype, weak_type):  # complex -> real keeps the real part, silently
    x = _xp(x).asarray(x)
    return (x.real if x.dtype.kind == "c" and new_dtype.kind != "c" else x).astype(new_dtype)


convert_element_type_p.impl = _convert_impl
convert_element_type_p.abstract_eval = lambda x, *, new_dtype, weak_type: [
    ShapedArray(x.shape, new_dtype, weak_type)]
convert_element_type_p.jvp = _convert_jvp
deftranspose(convert_element_type_p, _convert_transpose)
convert_element_type_p.batch = lambda size, xs, bdims, **params: (
    [convert_element_type_p.bind1(xs[0], **params)], [bdims[0]])
_drops_imag = lambda eqn: (eqn.inputs[0].aval.dtype.kind == "c"  # noqa: E731
                           and eqn.params["new_dtype"].kind != "c")
register_emitter(convert_element_type_p, lambda eqn, args, names: (
    f"_as_array({args[0]}){'.real' * _drops_imag(eqn)}.astype("
    f"{names.obj(eqn.params['new_dtype'], '_dt', ('dtype', eqn.params['new_dtype'].str))})",
    "fresh"))
register_native(convert_element_type_p, lambda eqn, args, ctx: (
    f"{args[0]}.astype({ctor(eqn.params['new_dtype'])})" if eqn.inputs[0].aval.ndim else
    f"{ctor(eqn.params['new_dtype'])}({args[0]})"))
for _p in (broadcast_in_dim_p, reshape_p, transpose_p, squeeze_p, expand_dims_p, slice_p, pad_p,
           concatenate_p, rev_p):  # (broadcasts fuse as kernel input adapters instead)
    register_c_expr(_p, NOT_APPLICABLE)
register_c_expr(convert_element_type_p,
                lambda args, in_dtypes, out_dtype, **_: f"(({C_TYPES[out_dtype]}){args[0]})")

