"""The table of differentiable funcgrad.numpy operations shared by the primitive tests.

`PRIMITIVE_SPECS` has one row per (fnp op, usage) that maps onto one or more primitives. Each row
names the fnp function under test (`fn`), its JAX twin (`jax_fn`, built lazily from `jnp`, so the
table imports without JAX), the number of positional arguments, a hypothesis strategy of argument
shapes (`shapes`; `example` is its first option, for deterministic tests) and a value `domain`:
a function `(rng, shapes) -> list[np.ndarray]` keeping each row inside the region where the op
is smooth (positive for log/sqrt, (-0.9, 0.9) for arcsin/arctanh, > 1 for arccosh, away from
ties for max/min/abs, ...).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp


class Spec(NamedTuple):
    name: str
    fn: Callable
    nargs: int
    shapes: Any  # hypothesis strategy of tuples of shapes, one per argument
    domain: Callable  # (rng, shapes) -> list of arrays
    jax_fn: Callable  # (jax, jnp) -> function
    example: tuple  # a deterministic choice of shapes (the strategy's first option)
    dtype: Any = np.float64
    tol: dict = {}  # extra keyword arguments for check_grads (eps, atol, rtol)

    def __repr__(self) -> str:
        return f"Spec({self.name})"

    def draw(self, seed: int, shapes: tuple | None = None, dtype=None) -> list[np.ndarray]:
        """Argument values for `shapes` (default: the example) from a seeded generator."""
        rng = np.random.default_rng(seed)
        arrs = self.domain(rng, tuple(shapes if shapes is not None else self.example))
        return [np.asarray(a, dtype=dtype or self.dtype) if np.issubdtype(np.asarray(a).dtype,
                                                                          np.floating)
                else np.asarray(a) for a in arrs]


def float_argnums(args) -> tuple[int, ...]:
    """Positions of the floating-point (differentiable) arguments; the others are indices."""
    return tuple(i for i, a in enumerate(args) if np.issubdtype(fnp.asarray(a).dtype, np.floating))


def restrict(fn: Callable, args) -> tuple[Callable, list]:
    """`fn` as a function of its float arguments only (integer index arguments closed over)."""
    nums = float_argnums(args)

    def g(*floats):
        full = list(args)
        for i, a in zip(nums, floats):
            full[i] = a
        return fn(*full)
    return g, [args[i] for i in nums]


# --- value domains ------------------------------------------------------------------------------

def uniform(lo: float, hi: float) -> Callable:
    return lambda rng, shapes: [rng.uniform(lo, hi, s) for s in shapes]


def away_from_zero(lo: float = 0.3, hi: float = 2.0) -> Callable:
    return lambda rng, shapes: [rng.choice([-1.0, 1.0], s) * rng.uniform(lo, hi, s)
                                for s in shapes]


def distinct(lo: float = -2.0, hi: float = 2.0) -> Callable:
    """No two entries of an argument within (hi - lo) / (2 n) of each other: no ties."""
    def draw(rng, shapes):
        out = []
        for s in shapes:
            n = int(np.prod(s, dtype=np.int64))
            slots = rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, n)
            out.append((lo + (hi - lo) * slots / max(n, 1)).reshape(s))
        return out
    return draw


def per_arg(*domains: Callable) -> Callable:
    return lambda rng, shapes: [d(rng, (s,))[0] for d, s in zip(domains, shapes)]


def apart(gap: float = 0.3) -> Callable:
    """Two broadcastable arguments whose broadcast entries differ by at least `gap` (no ties)."""
    def draw(rng, shapes):
        sa, sb = shapes
        full = np.broadcast_shapes(sa, sb)
        offset = lambda: rng.choice([-1.0, 1.0], full) * rng.uniform(gap, 1.5, full)  # noqa
        if full == tuple(sb):
            a = rng.uniform(-2, 2, sa)
            return [a, np.broadcast_to(a, full) + offset()]
        b = rng.uniform(-2, 2, sb)
        return [np.broadcast_to(b, full) + offset(), b]
    return draw


def with_indices(index_arg: int, axis: int, distinct_values: bool = False,
                 value: Callable | None = None) -> Callable:
    """Argument `index_arg` holds integer indices (negative ones too) into axis `axis` of
    argument 0; the other float arguments are drawn by `value` (default: uniform in [-2, 2))."""
    def draw(rng, shapes):
        out = []
        for k, s in enumerate(shapes):
            if k == index_arg:
                n = shapes[0][axis]
                size = int(np.prod(s, dtype=np.int64))
                idx = rng.permutation(n)[:size] if distinct_values else rng.integers(0, n, size)
                neg = rng.random(size) < 0.3
                out.append(np.where(neg, idx - n, idx).reshape(s).astype(np.int64))
            else:
                out.append((value or REAL)(rng, (s,))[0])
        return out
    return draw


REAL = uniform(-2.0, 2.0)
POSITIVE = uniform(0.5, 2.0)
UNIT = uniform(-0.9, 0.9)


# --- shapes -------------------------------------------------------------------------------------

def _spec(name, fn, nargs, shape_options, domain, jax_fn, **kw) -> Spec:
    options = [tuple(tuple(s) for s in opt) for opt in shape_options]
    assert all(len(o) == nargs for o in options), name
    return Spec(name, fn, nargs, st.sampled_from(options), domain, jax_fn, options[0], **kw)


UNARY = [((),), ((4,),), ((2, 3),)]
NONSCALAR = [((4,),), ((2, 3),), ((3, 1, 2),)]
MATRIX = [((2, 3),), ((3, 3),), ((4, 2),)]
BINARY = [((3,), (3,)), ((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((2, 3), ())]
SAME = [((3,), (3,)), ((2, 3), (2, 3)), ((), ())]
ATLEAST3 = [((4,),), ((3, 2),), ((5, 2, 2),)]  # leading axis of size >= 3
COLS3 = [((2, 3),), ((1, 4),), ((3, 5),)]  # trailing axis of size >= 3

IDX = np.array([2, 0, 2, 1])  # repeated indices: the transpose must accumulate
IDX1, IDX2 = np.array([0, 1, 1]), np.array([2, 0, 1])
IDX_2D = np.array([[0, 1], [2, 0]])
SET_IDX = np.array([0, 2])  # distinct: `.set` with repeats is order-dependent
ADD_IDX = np.array([0, 2, 0])


def _unary(name, fnp_fn, jnp_name, domain=REAL, shapes=UNARY, **kw):
    return _spec(name, fnp_fn, 1, shapes, domain,
                 lambda jax, jnp: getattr(jnp, jnp_name), **kw)


def _binary(name, fnp_fn, jnp_name, domain=REAL, shapes=BINARY, **kw):
    return _spec(name, fnp_fn, 2, shapes, domain,
                 lambda jax, jnp: getattr(jnp, jnp_name), **kw)


PRIMITIVE_SPECS: list[Spec] = [
    # --- elementwise arithmetic ---------------------------------------------------------------
    _unary("neg", fnp.negative, "negative"),
    _spec("neg_operator", lambda x: -x, 1, UNARY, REAL, lambda jax, jnp: lambda x: -x),
    _binary("add", fnp.add, "add"),
    _binary("sub", fnp.subtract, "subtract"),
    _binary("mul", fnp.multiply, "multiply"),
    _binary("divide", fnp.divide, "divide", domain=per_arg(REAL, away_from_zero(0.5, 2.0))),
    _binary("power", fnp.power, "power", domain=per_arg(POSITIVE, uniform(-1.5, 2.5))),
    _spec("power_float_scalar", lambda x: x ** 2.5, 1, UNARY, POSITIVE,
          lambda jax, jnp: lambda x: x ** 2.5),
    _spec("integer_pow", lambda x: x ** 3, 1, UNARY, REAL, lambda jax, jnp: lambda x: x ** 3),
    _spec("integer_pow_neg", lambda x: x ** -2, 1, UNARY, away_from_zero(0.5, 2.0),
          lambda jax, jnp: lambda x: x ** -2),
    _spec("square", fnp.square, 1, UNARY, REAL, lambda jax, jnp: jnp.square),
    _spec("integer_pow_small", lambda x: x ** 2 * 0.5 + x ** 1 - x ** 0, 1, UNARY, REAL,
          lambda jax, jnp: lambda x: x ** 2 * 0.5 + x ** 1 - x ** 0),
    _binary("mod", fnp.mod, "mod", domain=per_arg(uniform(2.1, 2.9), uniform(1.5, 2.0))),
    _binary("maximum", fnp.maximum, "maximum", domain=apart()),
    _binary("minimum", fnp.minimum, "minimum", domain=apart()),
    _binary("arctan2", fnp.arctan2, "arctan2", domain=per_arg(REAL, uniform(0.5, 2.0))),
    # --- transcendental -----------------------------------------------------------------------
    _unary("exp", fnp.exp, "exp"),
    _unary("log", fnp.log, "log", domain=POSITIVE),
    _unary("log1p", fnp.log1p, "log1p", domain=uniform(-0.5, 2.0)),
    _unary("expm1", fnp.expm1, "expm1"),
    _unary("sqrt", fnp.sqrt, "sqrt", domain=POSITIVE),
    _unary("sin", fnp.sin, "sin"),
    _unary("cos", fnp.cos, "cos"),
    _unary("tan", fnp.tan, "tan", domain=uniform(-1.0, 1.0)),
    _unary("arcsin", fnp.arcsin, "arcsin", domain=UNIT),
    _unary("arccos", fnp.arccos, "arccos", domain=UNIT),
    _unary("arctan", fnp.arctan, "arctan"),
    _unary("sinh", fnp.sinh, "sinh"),
    _unary("cosh", fnp.cosh, "cosh"),
    _unary("tanh", fnp.tanh, "tanh"),
    _unary("arcsinh", fnp.arcsinh, "arcsinh"),
    _unary("arccosh", fnp.arccosh, "arccosh", domain=uniform(1.2, 3.0)),
    _unary("arctanh", fnp.arctanh, "arctanh", domain=UNIT),
    _spec("logistic", fnp.logistic, 1, UNARY, uniform(-4.0, 4.0),
          lambda jax, jnp: jax.nn.sigmoid),
    _unary("abs", fnp.abs, "abs", domain=away_from_zero()),
    _spec("where", lambda x, y: fnp.where(x > 0, x * y, fnp.sin(y)), 2, BINARY,
          per_arg(away_from_zero(), REAL),
          lambda jax, jnp: lambda x, y: jnp.where(x > 0, x * y, jnp.sin(y))),
    _spec("clip", lambda x: fnp.clip(x, -0.5, 0.5), 1, UNARY,
          lambda rng, shapes: [rng.choice([-1.0, 1.0], s) * np.where(
              rng.random(s) < 0.5, rng.uniform(0.1, 0.4, s), rng.uniform(0.6, 2.0, s))
              for s in shapes],
          lambda jax, jnp: lambda x: jnp.clip(x, -0.5, 0.5)),
    # --- reductions and scans -----------------------------------------------------------------
    _spec("sum", fnp.sum, 1, UNARY + [((2, 3, 2),)], REAL, lambda jax, jnp: jnp.sum),
    _spec("sum_axis0", lambda x: fnp.sum(x, axis=0), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.sum(x, axis=0)),
    _spec("sum_axes_keepdims", lambda x: fnp.sum(x, axis=(0, 2), keepdims=True), 1,
          [((2, 3, 2),), ((1, 2, 3),), ((3, 1, 1, 2),)], REAL,
          lambda jax, jnp: lambda x: jnp.sum(x, axis=(0, 2), keepdims=True)),
    _spec("sum_method", lambda x: x.sum(-1), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: x.sum(-1)),
    _spec("max", fnp.max, 1, NONSCALAR, distinct(), lambda jax, jnp: jnp.max),
    _spec("max_axis", lambda x: fnp.max(x, axis=-1), 1, NONSCALAR, distinct(),
          lambda jax, jnp: lambda x: jnp.max(x, axis=-1)),
    _spec("max_axes_keepdims", lambda x: fnp.max(x, axis=(0, 2), keepdims=True), 1,
          [((2, 3, 2),), ((3, 1, 2),), ((1, 2, 4),)], distinct(),
          lambda jax, jnp: lambda x: jnp.max(x, axis=(0, 2), keepdims=True)),
    _spec("max_method", lambda x: x.max(0), 1, NONSCALAR, distinct(),
          lambda jax, jnp: lambda x: x.max(0)),
    _spec("min", fnp.min, 1, NONSCALAR, distinct(), lambda jax, jnp: jnp.min),
    _spec("min_axis_keepdims", lambda x: fnp.min(x, axis=0, keepdims=True), 1, NONSCALAR,
          distinct(), lambda jax, jnp: lambda x: jnp.min(x, axis=0, keepdims=True)),
    _spec("cumsum", lambda x: fnp.cumsum(x, axis=0), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.cumsum(x, axis=0)),
    _spec("cumsum_last", lambda x: fnp.cumsum(x, axis=-1), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.cumsum(x, axis=-1)),
    _spec("cumsum_flat", fnp.cumsum, 1, NONSCALAR, REAL, lambda jax, jnp: jnp.cumsum),
    _spec("mean", fnp.mean, 1, NONSCALAR, REAL, lambda jax, jnp: jnp.mean),
    _spec("mean_axis", lambda x: fnp.mean(x, axis=-1), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.mean(x, axis=-1)),
    _spec("var", fnp.var, 1, NONSCALAR, REAL, lambda jax, jnp: jnp.var),
    _spec("var_axis_ddof", lambda x: fnp.var(x, axis=0, ddof=1), 1,
          [((3,),), ((2, 3),), ((4, 1, 2),)], REAL,
          lambda jax, jnp: lambda x: jnp.var(x, axis=0, ddof=1)),
    _spec("std", fnp.std, 1, NONSCALAR, distinct(), lambda jax, jnp: jnp.std),
    _spec("std_axis", lambda x: fnp.std(x, axis=-1), 1, [((3,),), ((2, 3),), ((3, 1, 2),)],
          distinct(), lambda jax, jnp: lambda x: jnp.std(x, axis=-1)),
    _spec("prod", fnp.prod, 1, NONSCALAR, away_from_zero(0.5, 1.5), lambda jax, jnp: jnp.prod),
    _spec("prod_axis", lambda x: fnp.prod(x, axis=0), 1, NONSCALAR, away_from_zero(0.5, 1.5),
          lambda jax, jnp: lambda x: jnp.prod(x, axis=0)),
    _spec("logsumexp", fg.scipy.special.logsumexp, 1, NONSCALAR, REAL,
          lambda jax, jnp: jax.scipy.special.logsumexp),
    _spec("logsumexp_axis", lambda x: fg.scipy.special.logsumexp(x, axis=-1), 1, NONSCALAR,
          REAL, lambda jax, jnp: lambda x: jax.scipy.special.logsumexp(x, axis=-1)),
    _spec("norm", fnp.linalg.norm, 1, NONSCALAR, away_from_zero(),
          lambda jax, jnp: jnp.linalg.norm),
    _spec("norm_axis", lambda x: fnp.linalg.norm(x, axis=-1), 1, NONSCALAR, away_from_zero(),
          lambda jax, jnp: lambda x: jnp.linalg.norm(x, axis=-1)),
    _spec("norm_l1", lambda x: fnp.linalg.norm(x, ord=1), 1, [((4,),), ((3,),)],
          away_from_zero(), lambda jax, jnp: lambda x: jnp.linalg.norm(x, ord=1)),
    # --- shapes -------------------------------------------------------------------------------
    _spec("broadcast_to", lambda x: fnp.broadcast_to(x, (2, 3)), 1,
          [((3,),), ((),), ((1, 3),), ((2, 1),), ((2, 3),)], REAL,
          lambda jax, jnp: lambda x: jnp.broadcast_to(x, (2, 3))),
    _spec("reshape", lambda x: fnp.reshape(x, (3, 2)), 1, [((6,),), ((2, 3),), ((1, 6, 1),)],
          REAL, lambda jax, jnp: lambda x: jnp.reshape(x, (3, 2))),
    _spec("ravel", fnp.ravel, 1, UNARY + [((2, 1, 2),)], REAL, lambda jax, jnp: jnp.ravel),
    _spec("transpose", fnp.transpose, 1, [((2, 3),), ((2, 3, 4),), ((3,),)], REAL,
          lambda jax, jnp: jnp.transpose),
    _spec("transpose_perm", lambda x: fnp.transpose(x, (1, 2, 0)), 1,
          [((2, 3, 4),), ((1, 2, 3),), ((3, 1, 2),)], REAL,
          lambda jax, jnp: lambda x: jnp.transpose(x, (1, 2, 0))),
    _spec("T", lambda x: x.T, 1, MATRIX, REAL, lambda jax, jnp: lambda x: x.T),
    _spec("swapaxes", lambda x: fnp.swapaxes(x, 0, -1), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.swapaxes(x, 0, -1)),
    _spec("squeeze", fnp.squeeze, 1, [((1, 3),), ((2, 1, 3),), ((1, 1),), ((3, 1),)], REAL,
          lambda jax, jnp: jnp.squeeze),
    _spec("squeeze_axis", lambda x: fnp.squeeze(x, axis=1), 1,
          [((2, 1, 3),), ((3, 1),), ((1, 1),)], REAL,
          lambda jax, jnp: lambda x: jnp.squeeze(x, axis=1)),
    _spec("expand_dims", lambda x: fnp.expand_dims(x, 0), 1, UNARY, REAL,
          lambda jax, jnp: lambda x: jnp.expand_dims(x, 0)),
    _spec("expand_dims_last", lambda x: fnp.expand_dims(x, -1), 1, UNARY, REAL,
          lambda jax, jnp: lambda x: jnp.expand_dims(x, -1)),
    _spec("newaxis", lambda x: x[None, :, None], 1, [((3,),), ((2, 3),)], REAL,
          lambda jax, jnp: lambda x: x[None, :, None]),
    _spec("slice", lambda x: x[1:3], 1, ATLEAST3, REAL, lambda jax, jnp: lambda x: x[1:3]),
    _spec("slice_reverse", lambda x: x[::-1], 1, ATLEAST3, REAL,
          lambda jax, jnp: lambda x: x[::-1]),
    _spec("slice_stride", lambda x: x[::2], 1, ATLEAST3 + [((5,),)], REAL,
          lambda jax, jnp: lambda x: x[::2]),
    _spec("slice_2d", lambda x: x[1:, ::-2], 1, [((3, 4),), ((2, 5),), ((4, 3, 2),)], REAL,
          lambda jax, jnp: lambda x: x[1:, ::-2]),
    _spec("int_index", lambda x: x[1], 1, ATLEAST3, REAL, lambda jax, jnp: lambda x: x[1]),
    _spec("int_index_last", lambda x: x[..., -1], 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: x[..., -1]),
    _spec("pad", lambda x: fnp.pad(x, 1), 1, [((3,),), ((2, 3),), ((1, 2, 2),)], REAL,
          lambda jax, jnp: lambda x: jnp.pad(x, 1)),
    _spec("pad_value", lambda x: fnp.pad(x, ((1, 2), (0, 1)), constant_values=0.5), 1, MATRIX,
          REAL, lambda jax, jnp: lambda x: jnp.pad(x, ((1, 2), (0, 1)), constant_values=0.5)),
    _spec("concatenate", lambda x, y: fnp.concatenate([x, y], axis=0), 2,
          [((2, 3), (1, 3)), ((3,), (2,)), ((1, 2, 2), (2, 2, 2))], REAL,
          lambda jax, jnp: lambda x, y: jnp.concatenate([x, y], axis=0)),
    _spec("concatenate_axis1", lambda x, y: fnp.concatenate([x, y, x], axis=1), 2,
          [((2, 3), (2, 1)), ((1, 2, 3), (1, 1, 3))], REAL,
          lambda jax, jnp: lambda x, y: jnp.concatenate([x, y, x], axis=1)),
    _spec("stack", lambda x, y: fnp.stack([x, y]), 2, SAME, REAL,
          lambda jax, jnp: lambda x, y: jnp.stack([x, y])),
    _spec("stack_last", lambda x, y: fnp.stack([x, y, x], axis=-1), 2, SAME, REAL,
          lambda jax, jnp: lambda x, y: jnp.stack([x, y, x], axis=-1)),
    _spec("flip", lambda x: fnp.flip(x, 0), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.flip(x, 0)),
    _spec("flip_all", fnp.flip, 1, NONSCALAR, REAL, lambda jax, jnp: jnp.flip),
    _spec("moveaxis", lambda x: fnp.moveaxis(x, 0, -1), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.moveaxis(x, 0, -1)),
    _spec("tile", lambda x: fnp.tile(x, (2, 1)), 1, [((3,),), ((2, 2),), ((),)], REAL,
          lambda jax, jnp: lambda x: jnp.tile(x, (2, 1))),
    _spec("repeat", lambda x: fnp.repeat(x, 2, axis=0), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.repeat(x, 2, axis=0)),
    _spec("split", lambda x: fnp.split(x, 2, axis=-1)[1], 1, [((4,),), ((3, 2),), ((1, 6),)],
          REAL, lambda jax, jnp: lambda x: jnp.split(x, 2, axis=-1)[1]),
    _spec("astype_f32_to_f64", lambda x: fnp.astype(x, fnp.float64), 1, UNARY, REAL,
          lambda jax, jnp: lambda x: x.astype(jnp.float64), dtype=np.float32),
    # f64 -> f32 -> f64 rounds to float32: linear, so a wide finite-difference step is exact
    _spec("astype_roundtrip", lambda x: fnp.astype(fnp.astype(x, fnp.float32), fnp.float64),
          1, UNARY, REAL,
          lambda jax, jnp: lambda x: x.astype(jnp.float32).astype(jnp.float64),
          tol=dict(eps=1e-2, atol=1e-4, rtol=1e-3)),
    # --- linear algebra -----------------------------------------------------------------------
    _spec("matmul", fnp.matmul, 2, [((2, 3), (3, 4)), ((1, 2), (2, 1)), ((3, 3), (3, 2))], REAL,
          lambda jax, jnp: jnp.matmul),
    _spec("matmul_vec", fnp.matmul, 2, [((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,))], REAL,
          lambda jax, jnp: jnp.matmul),
    _spec("matmul_batched", fnp.matmul, 2,
          [((2, 2, 3), (2, 3, 2)), ((3, 1, 2), (2, 4)), ((1, 2, 3), (2, 3, 1))], REAL,
          lambda jax, jnp: jnp.matmul),
    _spec("matmul_operator", lambda x, y: x @ y, 2, [((2, 3), (3, 2)), ((3,), (3, 2))], REAL,
          lambda jax, jnp: lambda x, y: x @ y),
    _spec("dot", fnp.dot, 2, [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 2)),
                              ((2, 2, 3), (2, 3, 2)), ((), (2,))], REAL,
          lambda jax, jnp: jnp.dot),
    _spec("outer", fnp.outer, 2, [((3,), (2,)), ((1,), (4,)), ((2, 2), (3,))], REAL,
          lambda jax, jnp: jnp.outer),
    _spec("vdot", fnp.vdot, 2, [((3,), (3,)), ((2, 3), (3, 2))], REAL,
          lambda jax, jnp: lambda x, y: jnp.vdot(x, y)),
    _spec("tensordot", lambda x, y: fnp.tensordot(x, y, axes=1), 2,
          [((2, 3), (3, 2)), ((2, 2, 3), (3,))], REAL,
          lambda jax, jnp: lambda x, y: jnp.tensordot(x, y, axes=1)),
    _spec("tensordot_2", lambda x, y: fnp.tensordot(x, y, axes=2), 2,
          [((2, 3, 2), (3, 2, 2)), ((3, 2), (3, 2))], REAL,
          lambda jax, jnp: lambda x, y: jnp.tensordot(x, y, axes=2)),
    _spec("tensordot_pairs", lambda x, y: fnp.tensordot(x, y, axes=((0,), (1,))), 2,
          [((3, 2), (2, 3)), ((2, 4), (3, 2, 1))], REAL,
          lambda jax, jnp: lambda x, y: jnp.tensordot(x, y, axes=((0,), (1,)))),
    _spec("einsum_ij_jk", lambda x, y: fnp.einsum("ij,jk->ik", x, y), 2,
          [((2, 3), (3, 4)), ((1, 2), (2, 2)), ((3, 1), (1, 3))], REAL,
          lambda jax, jnp: lambda x, y: jnp.einsum("ij,jk->ik", x, y)),
    _spec("einsum_bij_bjk", lambda x, y: fnp.einsum("bij,bjk->bik", x, y), 2,
          [((2, 2, 3), (2, 3, 2)), ((1, 3, 2), (1, 2, 1)), ((3, 1, 2), (3, 2, 2))], REAL,
          lambda jax, jnp: lambda x, y: jnp.einsum("bij,bjk->bik", x, y)),
    _spec("einsum_transposed_out", lambda x, y: fnp.einsum("ij,kj->ki", x, y), 2,
          [((2, 3), (4, 3)), ((1, 2), (2, 2))], REAL,
          lambda jax, jnp: lambda x, y: jnp.einsum("ij,kj->ki", x, y)),
    # --- gather / scatter ---------------------------------------------------------------------
    _spec("gather", lambda x: x[IDX], 1, ATLEAST3, REAL, lambda jax, jnp: lambda x: x[IDX]),
    _spec("gather_2d_index", lambda x: x[IDX_2D], 1, ATLEAST3, REAL,
          lambda jax, jnp: lambda x: x[IDX_2D]),
    _spec("gather_axis1", lambda x: x[:, IDX], 1, COLS3 + [((2, 3, 2),)], REAL,
          lambda jax, jnp: lambda x: x[:, IDX]),
    _spec("gather_pair", lambda x: x[IDX1, IDX2], 1, [((2, 3),), ((3, 4),), ((2, 3, 2),)], REAL,
          lambda jax, jnp: lambda x: x[IDX1, IDX2]),
    _spec("gather_negative", lambda x: x[np.array([-1, 0])], 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: x[np.array([-1, 0])]),
    _spec("gather_noncontiguous", lambda x: x[IDX1, :, IDX2], 1,
          [((2, 2, 3),), ((3, 1, 4),)], REAL, lambda jax, jnp: lambda x: x[IDX1, :, IDX2]),
    _spec("gather_int_and_array", lambda x: x[1, IDX], 1, [((2, 3),), ((3, 4, 2),)], REAL,
          lambda jax, jnp: lambda x: x[1, IDX]),
    _spec("gather_slice_and_array", lambda x: x[1:, IDX], 1, [((2, 3),), ((3, 4, 2),)], REAL,
          lambda jax, jnp: lambda x: x[1:, IDX]),
    _spec("gather_argmax", lambda x: x[fnp.argmax(x)], 1, [((4,),), ((2,),)], distinct(),
          lambda jax, jnp: lambda x: x[jnp.argmax(x)]),
    # traced integer index arguments (batched under vmap). `x[i]` itself would hand a traced `i`
    # to NumPy's indexing when vmap leaves `x` unbatched (a plain array), hence fnp.take/getitem
    _spec("gather_traced", lambda x, i: fnp.take(x, i, axis=0), 2,
          [((4,), (3,)), ((3, 2), (2, 2)), ((5,), ())], with_indices(1, 0),
          lambda jax, jnp: lambda x, i: x[i]),
    _spec("gather_traced_axis1", lambda x, i: fnp.take(x, i, axis=1), 2,
          [((2, 4), (3,)), ((3, 2, 2), (2, 1)), ((2, 3), ())], with_indices(1, 1),
          lambda jax, jnp: lambda x, i: x[:, i]),
    _spec("gather_traced_pair", lambda x, i, j: fnp.getitem(x, (i, j)), 3,
          [((3, 4), (2,), (2,)), ((2, 3, 2), (3,), (3,))],
          lambda rng, shapes: with_indices(1, 0)(rng, shapes[:2]) + [
              with_indices(1, 1)(rng, (shapes[0], shapes[2]))[1]],
          lambda jax, jnp: lambda x, i, j: x[i, j]),
    _spec("at_add_traced", lambda x, i, v: fnp.at(x)[i].add(v), 3,
          [((4,), (3,), (3,)), ((3, 2), (2,), (2, 2)), ((3,), (), ())], with_indices(1, 0),
          lambda jax, jnp: lambda x, i, v: x.at[i].add(v)),
    _spec("at_set_traced", lambda x, i, v: fnp.at(x)[i].set(v), 3,
          [((4,), (3,), (3,)), ((3, 2), (2,), (2, 2)), ((3,), (), ())],
          with_indices(1, 0, distinct_values=True),
          lambda jax, jnp: lambda x, i, v: x.at[i].set(v)),
    _spec("take", lambda x: fnp.take(x, IDX, axis=0), 1, ATLEAST3, REAL,
          lambda jax, jnp: lambda x: jnp.take(x, IDX, axis=0)),
    _spec("at_set", lambda x, v: fnp.at(x)[SET_IDX].set(v), 2,
          [((3,), (2,)), ((4, 2), (2, 2)), ((3, 2), ())], REAL,
          lambda jax, jnp: lambda x, v: x.at[SET_IDX].set(v)),
    _spec("at_add", lambda x, v: fnp.at(x)[ADD_IDX].add(v), 2,
          [((3,), (3,)), ((4, 2), (3, 2)), ((3, 2), (2,))], REAL,
          lambda jax, jnp: lambda x, v: x.at[ADD_IDX].add(v)),
    _spec("at_set_slice", lambda x, v: fnp.at(x)[1:3].set(v), 2,
          [((4,), (2,)), ((3, 2), (2, 2)), ((3,), ())], REAL,
          lambda jax, jnp: lambda x, v: x.at[1:3].set(v)),
    _spec("at_add_int", lambda x, v: fnp.at(x)[1].add(v), 2, [((3,), ()), ((3, 2), (2,))], REAL,
          lambda jax, jnp: lambda x, v: x.at[1].add(v)),
    # --- NumPy surface, session 3: elementwise, cumprod, sorting, diagonals, stacking ---------
    _unary("positive", fnp.positive, "positive"),
    _unary("exp2", fnp.exp2, "exp2"),
    _unary("log2", fnp.log2, "log2", domain=POSITIVE),
    _unary("log10", fnp.log10, "log10", domain=POSITIVE),
    _unary("cbrt", fnp.cbrt, "cbrt", domain=away_from_zero(0.3, 2.0)),
    _binary("fmax", fnp.fmax, "fmax", domain=apart()),
    _binary("fmin", fnp.fmin, "fmin", domain=apart()),
    _binary("logaddexp", fnp.logaddexp, "logaddexp", domain=uniform(-3.0, 3.0)),
    _unary("nan_to_num", fnp.nan_to_num, "nan_to_num"),
    _spec("cumprod", lambda x: fnp.cumprod(x, axis=0), 1, NONSCALAR + [((5, 2),)],
          away_from_zero(0.5, 1.5), lambda jax, jnp: lambda x: jnp.cumprod(x, axis=0)),
    _spec("cumprod_last", lambda x: fnp.cumprod(x, axis=-1), 1, [((2, 7),), ((3,),), ((1, 4),)],
          away_from_zero(0.5, 1.5), lambda jax, jnp: lambda x: jnp.cumprod(x, axis=-1)),
    _spec("cumprod_flat", fnp.cumprod, 1, NONSCALAR, away_from_zero(0.5, 1.5),
          lambda jax, jnp: jnp.cumprod),
    # exact zeros in the input: a product of entries, smooth everywhere (no division by x)
    _spec("cumprod_zeros", lambda x: fnp.cumprod(x, axis=-1), 1, [((6,),), ((2, 5),)],
          lambda rng, shapes: [np.where(rng.random(s) < 0.3, 0.0, rng.uniform(0.5, 1.5, s))
                               for s in shapes],
          lambda jax, jnp: lambda x: jnp.cumprod(x, axis=-1)),
    _spec("sort", fnp.sort, 1, NONSCALAR + [((5,),)], distinct(), lambda jax, jnp: jnp.sort),
    _spec("sort_axis0", lambda x: fnp.sort(x, axis=0), 1, [((4, 2),), ((3,),), ((3, 2, 2),)],
          distinct(), lambda jax, jnp: lambda x: jnp.sort(x, axis=0)),
    _spec("sort_flat", lambda x: fnp.sort(x, axis=None), 1, [((2, 3),), ((4,),)], distinct(),
          lambda jax, jnp: lambda x: jnp.sort(x, axis=None)),
    _spec("take_along_axis", lambda x, i: fnp.take_along_axis(x, i, axis=0), 2,
          [((4,), (3,)), ((3, 2), (2, 2)), ((3, 2), (5, 1))], with_indices(1, 0),
          lambda jax, jnp: lambda x, i: jnp.take_along_axis(x, i, axis=0)),
    _spec("take_along_axis_last", lambda x, i: fnp.take_along_axis(x, i, axis=-1), 2,
          [((2, 3), (2, 4)), ((1, 4), (3, 2))], with_indices(1, -1),
          lambda jax, jnp: lambda x, i: jnp.take_along_axis(x, i, axis=-1)),
    _spec("diag_vector", fnp.diag, 1, [((3,),), ((1,),)], REAL, lambda jax, jnp: jnp.diag),
    _spec("diag_vector_k", lambda x: fnp.diag(x, 1) + fnp.diag(x[::-1], -1), 1,
          [((3,),), ((2,),)], REAL,
          lambda jax, jnp: lambda x: jnp.diag(x, 1) + jnp.diag(x[::-1], -1)),
    _spec("diag_matrix", lambda x: fnp.diag(x, -1), 1, MATRIX, REAL,
          lambda jax, jnp: lambda x: jnp.diag(x, -1)),
    _spec("diagonal", lambda x: fnp.diagonal(x, 1, 0, 2), 1,
          [((3, 2, 4),), ((2, 1, 2),), ((4, 3, 2),)], REAL,
          lambda jax, jnp: lambda x: jnp.diagonal(x, 1, 0, 2)),
    _spec("trace", fnp.trace, 1, MATRIX, REAL, lambda jax, jnp: jnp.trace),
    _spec("trace_offset", lambda x: fnp.trace(x, -1, 1, 2), 1, [((2, 3, 3),), ((1, 4, 2),)],
          REAL, lambda jax, jnp: lambda x: jnp.trace(x, -1, 1, 2)),
    _spec("roll", lambda x: fnp.roll(x, 2), 1, NONSCALAR, REAL,
          lambda jax, jnp: lambda x: jnp.roll(x, 2)),
    _spec("roll_axes", lambda x: fnp.roll(x, (1, -1), axis=(0, -1)), 1,
          [((3, 2),), ((2, 3, 4),), ((1, 5),)], REAL,
          lambda jax, jnp: lambda x: jnp.roll(x, (1, -1), axis=(0, -1))),
    _spec("tril", lambda x: fnp.tril(x, -1), 1, MATRIX + [((2, 3, 3),)], REAL,
          lambda jax, jnp: lambda x: jnp.tril(x, -1)),
    _spec("triu", fnp.triu, 1, MATRIX + [((2, 3, 3),)], REAL, lambda jax, jnp: jnp.triu),
    _spec("broadcast_arrays", lambda x, y: fnp.stack(fnp.broadcast_arrays(x, y)), 2, BINARY,
          REAL, lambda jax, jnp: lambda x, y: jnp.stack(jnp.broadcast_arrays(x, y))),
    _spec("vstack", lambda x, y: fnp.vstack([x, y, x]), 2,
          [((3,), (3,)), ((2, 3), (1, 3)), ((), ())], REAL,
          lambda jax, jnp: lambda x, y: jnp.vstack([x, y, x])),
    _spec("hstack", lambda x, y: fnp.hstack([x, y]), 2,
          [((3,), (2,)), ((2, 3), (2, 1)), ((), ())], REAL,
          lambda jax, jnp: lambda x, y: jnp.hstack([x, y])),
    _spec("atleast_2d", fnp.atleast_2d, 1, UNARY, REAL, lambda jax, jnp: jnp.atleast_2d),
    _spec("atleast_3d", fnp.atleast_3d, 1, UNARY + [((2, 3),)], REAL,
          lambda jax, jnp: jnp.atleast_3d),
]


# --- linear algebra: fnp.linalg and fg.scipy.linalg (primitives/decompositions.py) ---------------

def well_conditioned(rng, shapes) -> list[np.ndarray]:
    """Square matrices n I + noise (in [-1/2, 1/2)) with a random sign per row (negative
    determinants too); non-square arguments (right-hand sides) uniform in [-2, 2)."""
    out = []
    for s in shapes:
        if len(s) < 2 or s[-1] != s[-2]:
            out.append(rng.uniform(-2.0, 2.0, s))
            continue
        signs = rng.choice([-1.0, 1.0], tuple(s[:-1]) + (1,))
        # noise below 1/2 keeps every matrix diagonally dominant, 1 x 1 ones at least 1/2 from 0
        out.append((rng.uniform(-0.5, 0.5, s) + s[-1] * np.eye(s[-1])) * signs)
    return out


def separated_spectrum(rng, shapes) -> list[np.ndarray]:
    """Symmetric matrices with eigenvalues at least 1 apart (eigh's derivative needs gaps)."""
    out = []
    for s in shapes:
        n = s[-1]
        q, _ = np.linalg.qr(rng.standard_normal(s))
        w = np.arange(n) * 1.5 + rng.uniform(-0.25, 0.25, tuple(s[:-1]))
        out.append((q * w[..., None, :]) @ np.swapaxes(q, -1, -2))
    return out


def separated_general(rng, shapes) -> list[np.ndarray]:
    """Non-symmetric matrices q diag(w) q^-1 with real eigenvalues at least 1 apart (eig's
    derivative needs gaps; real ones keep the order LAPACK returns stable under perturbation)."""
    out = []
    for s in shapes:
        n = s[-1]
        q = np.eye(n) + 0.2 * rng.uniform(-1.0, 1.0, s)
        w = np.arange(n) * 1.5 + 1.0 + rng.uniform(-0.25, 0.25, tuple(s[:-1]))
        out.append((q * w[..., None, :]) @ np.linalg.inv(q))
    return out


def _spd(m, a):  # a @ a.T + n I: symmetric positive definite, for any a (m: fnp or jnp)
    n = a.shape[-1]
    return m.matmul(a, m.swapaxes(a, -1, -2)) + n * (m.eye(n, like=a) if m is fnp else m.eye(n))


def _sym(m, a):
    return (a + m.swapaxes(a, -1, -2)) * 0.5


SQUARE = [((3, 3),), ((2, 2, 2),), ((1, 1),)]
PRIMITIVE_SPECS += [
    _spec("linalg_solve", lambda a, b: fnp.linalg.solve(a, b), 2,
          [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (2, 3, 1)), ((2, 2, 2), (2, 3)),
           ((2, 2), (3, 2, 1))], well_conditioned,
          lambda jax, jnp: jnp.linalg.solve),
    _spec("linalg_inv", lambda a: fnp.linalg.inv(a), 1, SQUARE, well_conditioned,
          lambda jax, jnp: jnp.linalg.inv),
    _spec("linalg_det", lambda a: fnp.linalg.det(a), 1, SQUARE, well_conditioned,
          lambda jax, jnp: jnp.linalg.det),
    _spec("linalg_slogdet", lambda a: fnp.linalg.slogdet(a)[1], 1, SQUARE, well_conditioned,
          lambda jax, jnp: lambda a: jnp.linalg.slogdet(a)[1]),
    _spec("linalg_cholesky", lambda a: fnp.linalg.cholesky(_spd(fnp, a)), 1, SQUARE, REAL,
          lambda jax, jnp: lambda a: jnp.linalg.cholesky(_spd(jnp, a))),
    _spec("linalg_eigh_values", lambda a: fnp.linalg.eigh(_sym(fnp, a))[0], 1, SQUARE,
          separated_spectrum, lambda jax, jnp: lambda a: jnp.linalg.eigh(_sym(jnp, a))[0]),
    _spec("linalg_eigh_vectors_sq", lambda a: fnp.linalg.eigh(_sym(fnp, a))[1] ** 2, 1,
          SQUARE, separated_spectrum,
          lambda jax, jnp: lambda a: jnp.linalg.eigh(_sym(jnp, a))[1] ** 2),
    _spec("linalg_eig_values", lambda a: fnp.sort(fnp.real(fnp.linalg.eigvals(a))), 1, SQUARE,
          separated_general, lambda jax, jnp: lambda a: jnp.sort(jnp.real(jnp.linalg.eigvals(a)))),
    _spec("solve_triangular", lambda a, b: fg.scipy.linalg.solve_triangular(a, b, lower=True),
          2, [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 2, 2), (2, 2, 3))], well_conditioned,
          lambda jax, jnp: lambda a, b: jax.scipy.linalg.solve_triangular(a, b, lower=True)),
    _spec("solve_triangular_trans", lambda a, b: fg.scipy.linalg.solve_triangular(a, b, trans=1),
          2, [((3, 3), (3, 2)), ((2, 2), (2,))], well_conditioned,
          lambda jax, jnp: lambda a, b: jax.scipy.linalg.solve_triangular(a, b, trans=1)),
]

# complex intermediates of real arguments (real, imag, conj, abs of complex values)
PRIMITIVE_SPECS += [
    _spec("complex_parts", lambda x: fnp.real(fnp.conj(x * (1 + 2j)) * x) + fnp.imag(x * 1j - x),
          1, UNARY, REAL,
          lambda jax, jnp: lambda x: jnp.real(jnp.conj(x * (1 + 2j)) * x) + jnp.imag(x * 1j - x)),
    _spec("abs_complex", lambda x: fnp.abs(x * (1 + 1j) + 0.5j), 1, UNARY, REAL,
          lambda jax, jnp: lambda x: jnp.abs(x * (1 + 1j) + 0.5j)),
]

# issue 14: the fft primitive (through rfft and irfft), svd and qr (separated spectra keep the
# singular values distinct, as their derivatives need)
PRIMITIVE_SPECS += [
    _spec("fft_rfft_irfft", lambda x: fnp.fft.irfft(fnp.fft.rfft(x) * 2.0, 8) ** 2, 1,
          [((8,),), ((2, 8),)], REAL,
          lambda jax, jnp: lambda x: jnp.fft.irfft(jnp.fft.rfft(x) * 2.0, 8) ** 2),
    _spec("linalg_svd_values", lambda a: fnp.linalg.svd(a, full_matrices=False)[1], 1, SQUARE,
          separated_spectrum, lambda jax, jnp: lambda a: jnp.linalg.svd(a, full_matrices=False)[1]),
    _spec("linalg_qr_r_sq", lambda a: fnp.linalg.qr(a)[1] ** 2, 1, SQUARE, well_conditioned,
          lambda jax, jnp: lambda a: jnp.linalg.qr(a)[1] ** 2),
]

SPECS_BY_NAME = {s.name: s for s in PRIMITIVE_SPECS}
assert len(SPECS_BY_NAME) == len(PRIMITIVE_SPECS), "duplicate spec names"

# --- special functions (funcgrad.scipy.special; SciPy supplies the impls) ----------------------
# Rows differentiate in the arguments that have a derivative; the others are held fixed. JAX has
# no y0/y1 (the oracle rows are skipped; finite differences still check them).
from funcgrad.scipy import special as fsp  # noqa: E402


def _sp(name, fn, domain, jax_fn, **kw):
    return _spec(name, fn, 1, UNARY, domain, jax_fn, **kw)


PRIMITIVE_SPECS += [
    _sp("gammaln", fsp.gammaln, uniform(0.5, 4.0), lambda jax, jnp: jax.scipy.special.gammaln),
    _sp("digamma", fsp.digamma, uniform(0.5, 4.0), lambda jax, jnp: jax.scipy.special.digamma),
    _sp("polygamma", lambda x: fsp.polygamma(1, x), uniform(0.5, 4.0),
        lambda jax, jnp: lambda x: jax.scipy.special.polygamma(1, x)),
    _sp("erf", fsp.erf, REAL, lambda jax, jnp: jax.scipy.special.erf),
    _sp("erfc", fsp.erfc, REAL, lambda jax, jnp: jax.scipy.special.erfc),
    _sp("erfinv", fsp.erfinv, uniform(-0.8, 0.8), lambda jax, jnp: jax.scipy.special.erfinv),
    _sp("ndtri", fsp.ndtri, uniform(0.1, 0.9), lambda jax, jnp: jax.scipy.special.ndtri),
    _sp("log_ndtr", fsp.log_ndtr, REAL, lambda jax, jnp: jax.scipy.special.log_ndtr),
    _sp("gammainc", lambda x: fsp.gammainc(2.0, x), uniform(0.5, 3.0),
        lambda jax, jnp: lambda x: jax.scipy.special.gammainc(2.0, x)),
    _sp("gammaincc", lambda x: fsp.gammaincc(2.0, x), uniform(0.5, 3.0),
        lambda jax, jnp: lambda x: jax.scipy.special.gammaincc(2.0, x)),
    _sp("betainc", lambda x: fsp.betainc(2.0, 3.0, x), uniform(0.1, 0.9),
        lambda jax, jnp: lambda x: jax.scipy.special.betainc(2.0, 3.0, x)),
    _sp("i0", fsp.i0, REAL, lambda jax, jnp: jax.scipy.special.i0),
    _sp("i0e", fsp.i0e, away_from_zero(), lambda jax, jnp: jax.scipy.special.i0e),
    _sp("i1", fsp.i1, REAL, lambda jax, jnp: jax.scipy.special.i1),
    _sp("i1e", fsp.i1e, away_from_zero(), lambda jax, jnp: jax.scipy.special.i1e),
    _sp("j0", fsp.j0, uniform(0.5, 4.0),
        lambda jax, jnp: lambda x: jax.scipy.special.bessel_jn(x, v=0)[0]),
    _sp("j1", fsp.j1, uniform(0.5, 4.0),
        lambda jax, jnp: lambda x: jax.scipy.special.bessel_jn(x, v=1)[1]),
    _sp("y0", fsp.y0, uniform(0.5, 4.0), None),
    _sp("y1", fsp.y1, uniform(0.5, 4.0), None),
    _sp("zeta", lambda q: fsp.zeta(3.0, q), uniform(0.5, 3.0),
        lambda jax, jnp: lambda q: jax.scipy.special.zeta(3.0, q)),
]

# issue 14, the remaining SciPy pieces: lu (l + u, the permutation has no derivative), lu_solve
# through lu_factor, sqrtm (JAX's is complex-valued and not differentiable: finite differences),
# Bessel functions of any order in x (JAX has only bessel_jn), gammainc/gammaincc in `a`
import funcgrad.scipy.linalg as _fl  # noqa: E402


def _lu_sum(lu_fn):
    return lambda a: lu_fn(a)[1] + lu_fn(a)[2]


PRIMITIVE_SPECS += [
    _spec("scipy_lu", _lu_sum(_fl.lu), 1, SQUARE, well_conditioned,
          lambda jax, jnp: _lu_sum(jax.scipy.linalg.lu)),
    _spec("scipy_lu_solve", lambda a, b: _fl.lu_solve(_fl.lu_factor(a), b), 2,
          [((3, 3), (3, 2)), ((3, 3), (3,)), ((1, 1), (1, 2))], well_conditioned,
          lambda jax, jnp: lambda a, b: jax.scipy.linalg.lu_solve(jax.scipy.linalg.lu_factor(a),
                                                                  b)),
    _spec("scipy_lu_solve_trans", lambda a, b: _fl.lu_solve(_fl.lu_factor(a), b, trans=1), 2,
          [((3, 3), (3, 2)), ((2, 2), (2,))], well_conditioned,
          lambda jax, jnp: lambda a, b: jax.scipy.linalg.lu_solve(jax.scipy.linalg.lu_factor(a),
                                                                  b, trans=1)),
    _spec("scipy_sqrtm", lambda a: _fl.sqrtm(_spd(fnp, a)), 1, SQUARE, REAL, None),
    # the main diagonal (row 1 of ab) lifted to [6, 10]: diagonally dominant, well conditioned
    _spec("scipy_solve_banded", lambda ab, b: _fl.solve_banded(
        (1, 1), fnp.concatenate([ab[:1], ab[1:2] + 8.0, ab[2:]]), b), 2,
          [((3, 4), (4,)), ((3, 3), (3, 2))], REAL, None),
    _sp("iv", lambda x: fsp.iv(1.5, x), uniform(0.5, 3.0), None),
    _sp("ive", lambda x: fsp.ive(2.0, x), away_from_zero(), None),
    _sp("jv", lambda x: fsp.jv(2.0, x), uniform(0.5, 4.0),
        lambda jax, jnp: lambda x: jax.scipy.special.bessel_jn(x, v=2)[2]),
    _sp("yn", lambda x: fsp.yn(2, x), uniform(0.5, 4.0), None),
    # both arguments (JAX has no second derivative in `a`, so no unary row for its hessian test)
    _spec("gammainc_a", fsp.gammainc, 2, SAME, uniform(0.5, 4.0),
          lambda jax, jnp: jax.scipy.special.gammainc),
    _spec("gammaincc_a", fsp.gammaincc, 2, SAME, uniform(0.5, 4.0),
          lambda jax, jnp: jax.scipy.special.gammaincc),
    # betainc in all three arguments (JAX refuses a and b: finite differences check them)
    _spec("betainc_ab", fsp.betainc, 3, [((3,), (3,), (3,)), ((), (), ())],
          lambda rng, shapes: [rng.uniform(0.6, 3.0, shapes[0]), rng.uniform(0.6, 3.0, shapes[1]),
                               rng.uniform(0.1, 0.9, shapes[2])], None),
    _sp("betainc_da", lambda x: fg.grad(lambda a: fnp.sum(fsp.betainc(a, fnp.full_like(x, 3.0),
                                                                     x)))(fnp.full_like(x, 2.0)),
        uniform(0.1, 0.9), None),
    # d/da gammainc as a function of x (it stages the series primitive; JAX cannot differentiate
    # its own d/da, so finite differences check this one)
    _sp("gammainc_da", lambda x: fg.grad(lambda a: fnp.sum(fsp.gammainc(a, x)))(
        fnp.full_like(x, 2.0)), uniform(0.5, 3.0), None),
    # zeta in x and q, and d/dx zeta
    # as a function of q (it stages the Euler-Maclaurin primitive; finite differences)
    _spec("zeta_xq", fsp.zeta, 2, SAME, lambda rng, shapes: [rng.uniform(1.5, 4.0, shapes[0]),
                                                            rng.uniform(0.5, 3.0, shapes[1])],
          lambda jax, jnp: jax.scipy.special.zeta),
    _sp("zeta_dx", lambda q: fg.grad(lambda x: fnp.sum(fsp.zeta(x, q)))(fnp.full_like(q, 2.5)),
        uniform(0.5, 3.0), None),
]
