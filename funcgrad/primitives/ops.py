"""Every first-order primitive of funcgrad (`*_p`) and its bind wrapper.

The rules of each primitive (impl, abstract eval, jvp, transpose, batching, NumPy emitter, C
expression) are registered in its block in one of the rule modules beside this one:
elementwise.py, shape.py, reduction.py, contraction.py, indexing.py, decompositions.py. Those
modules import this one (and rules.py, batching.py), never each other. The wrappers are the
hot path of every rule and of `funcgrad.numpy`: each is a single `bind1` (or `bind`) call.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive

# --- elementwise ------------------------------------------------------------------------------
neg_p, add_p, sub_p, mul_p, div_p = map(Primitive, ("neg", "add", "sub", "mul", "div"))
rem_p, pow_p, integer_pow_p, max_p, min_p = map(Primitive, ("rem", "pow", "integer_pow", "max",
                                                             "min"))
atan2_p, exp_p, log_p, log1p_p, expm1_p = map(Primitive, ("atan2", "exp", "log", "log1p",
                                                           "expm1"))
sqrt_p, sin_p, cos_p, tan_p, asin_p = map(Primitive, ("sqrt", "sin", "cos", "tan", "asin"))
acos_p, atan_p, sinh_p, cosh_p, tanh_p = map(Primitive, ("acos", "atan", "sinh", "cosh", "tanh"))
asinh_p, acosh_p, atanh_p, logistic_p, abs_p = map(Primitive, ("asinh", "acosh", "atanh",
                                                                "logistic", "abs"))
sign_p, floor_p, ceil_p, round_p, is_finite_p = map(Primitive, ("sign", "floor", "ceil", "round",
                                                                 "is_finite"))
not_p, eq_p, ne_p, lt_p, le_p, gt_p, ge_p = map(Primitive, ("not", "eq", "ne", "lt", "le", "gt",
                                                            "ge"))
and_p, or_p, xor_p, select_p, stop_gradient_p = map(Primitive, ("and", "or", "xor", "select",
                                                                 "stop_gradient"))
# --- shape ------------------------------------------------------------------------------------
broadcast_in_dim_p, reshape_p, transpose_p = map(Primitive, ("broadcast_in_dim", "reshape",
                                                             "transpose"))
squeeze_p, expand_dims_p, slice_p, pad_p = map(Primitive, ("squeeze", "expand_dims", "slice",
                                                           "pad"))
concatenate_p, rev_p = Primitive("concatenate"), Primitive("rev")
convert_element_type_p = Primitive("convert_element_type")
# --- reductions, contraction, indexing --------------------------------------------------------
reduce_sum_p, reduce_max_p, reduce_min_p = map(Primitive, ("reduce_sum", "reduce_max",
                                                           "reduce_min"))
argmax_p, argmin_p, cumsum_p, argsort_p = map(Primitive, ("argmax", "argmin", "cumsum",
                                                          "argsort"))
dot_general_p = Primitive("dot_general")
gather_p, scatter_add_p, scatter_p = map(Primitive, ("gather", "scatter_add", "scatter"))
# --- decompositions ---------------------------------------------------------------------------
solve_p, triangular_solve_p, cholesky_p = map(Primitive, ("solve", "triangular_solve",
                                                          "cholesky"))
slogdet_p = Primitive("slogdet", multiple_results=True)
eigh_p = Primitive("eigh", multiple_results=True)


# --- the bind wrappers ------------------------------------------------------------------------
# Those without parameters are the primitive's own `bind1` (no call frame of their own).
neg, add, sub, mul, div = neg_p.bind1, add_p.bind1, sub_p.bind1, mul_p.bind1, div_p.bind1
pow, exp, log, sqrt = pow_p.bind1, exp_p.bind1, log_p.bind1, sqrt_p.bind1  # noqa: A001
sin, cos, sinh, cosh = sin_p.bind1, cos_p.bind1, sinh_p.bind1, cosh_p.bind1
sign, floor, eq, gt, lt = sign_p.bind1, floor_p.bind1, eq_p.bind1, gt_p.bind1, lt_p.bind1
select, stop_gradient = select_p.bind1, stop_gradient_p.bind1


def integer_pow(x, y): return integer_pow_p.bind1(x, y=int(y))


def broadcast_in_dim(x, shape, broadcast_dimensions):
    return broadcast_in_dim_p.bind1(x, shape=tuple(shape),
                                    broadcast_dimensions=tuple(broadcast_dimensions))


def full(shape, value, dtype):
    """A constant array; 0-d ones are NumPy scalars, which the IR inlines as literals, CuPy
    takes beside device arrays and float-scalar arithmetic runs without ufunc machinery."""
    val = np.array(value, dtype=dtype)
    return broadcast_in_dim(val, shape, ()) if shape else val[()]


def reshape(x, new_sizes): return reshape_p.bind1(x, new_sizes=tuple(map(int, new_sizes)))


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x  # the identity permutation is not an operation
    return transpose_p.bind1(x, permutation=permutation)


def squeeze(x, dimensions): return squeeze_p.bind1(x, dimensions=tuple(dimensions))
def expand_dims(x, dimensions): return expand_dims_p.bind1(x, dimensions=tuple(dimensions))


def slice_(x, start_indices, limit_indices, strides=None):
    strides = tuple(strides) if strides is not None else (1,) * len(start_indices)
    return slice_p.bind1(x, start_indices=tuple(start_indices),
                         limit_indices=tuple(limit_indices), strides=strides)


def pad(x, padding_value, padding_config):
    return pad_p.bind1(x, padding_value, padding_config=tuple(map(tuple, padding_config)))


def concatenate(xs, dimension): return concatenate_p.bind1(*xs, dimension=int(dimension))
def rev(x, dimensions): return rev_p.bind1(x, dimensions=tuple(dimensions))


def convert_element_type(x, new_dtype, weak_type=False):
    return convert_element_type_p.bind1(x, new_dtype=np.dtype(new_dtype), weak_type=weak_type)


def reduce_sum(x, axes): return reduce_sum_p.bind1(x, axes=tuple(axes))
def reduce_max(x, axes): return reduce_max_p.bind1(x, axes=tuple(axes))
def reduce_min(x, axes): return reduce_min_p.bind1(x, axes=tuple(axes))
def cumsum(x, axis, reverse=False): return cumsum_p.bind1(x, axis=int(axis), reverse=bool(reverse))


def argsort(x, axis):
    return argsort_p.bind1(x, axis=int(axis), index_dtype=np.dtype(np.int64))


def dot_general(x, y, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return dot_general_p.bind1(x, y, dimension_numbers=dn)


def gather(x, indices, axes): return gather_p.bind1(x, *indices, axes=tuple(axes))
def scatter_add(x, updates, indices, axes):
    return scatter_add_p.bind1(x, updates, *indices, axes=tuple(axes))
def scatter(x, updates, indices, axes):
    return scatter_p.bind1(x, updates, *indices, axes=tuple(axes))


def solve(a, b): return solve_p.bind1(a, b)
def triangular_solve(a, b, lower: bool, transpose_a: bool = False):
    return triangular_solve_p.bind1(a, b, lower=bool(lower), transpose_a=bool(transpose_a))
def cholesky(a): return cholesky_p.bind1(a)
def slogdet(a): return slogdet_p.bind(a)
def eigh(a): return eigh_p.bind(a)


# --- special functions (SciPy impls) ----------------------------------------------------------
# Elementwise, operands of equal shape and dtype; the rules are in special.py. The names are
# scipy.special's (the function of the impl), so `SPECIAL_PRIMS[name]` maps one to the other.
SPECIAL_ARITY = {"gammaln": 1, "digamma": 1, "polygamma": 2, "erf": 1, "erfc": 1, "erfinv": 1,
                 "ndtri": 1, "log_ndtr": 1, "gammainc": 2, "gammaincc": 2, "betainc": 3,
                 "i0": 1, "i0e": 1, "i1": 1, "i1e": 1, "j0": 1, "j1": 1, "y0": 1, "y1": 1,
                 "zeta": 2}
SPECIAL_PRIMS = {n: Primitive(n) for n in SPECIAL_ARITY}
(gammaln_p, digamma_p, polygamma_p, erf_p, erfc_p, erfinv_p, ndtri_p, log_ndtr_p, gammainc_p,
 gammaincc_p, betainc_p, i0_p, i0e_p, i1_p, i1e_p, j0_p, j1_p, y0_p, y1_p,
 zeta_p) = SPECIAL_PRIMS.values()


def special_op(name, *xs): return SPECIAL_PRIMS[name].bind1(*xs)


# --- complex (complex autodiff) ---------------------------------------------------------------
real_p, imag_p, conj_p = map(Primitive, ("real", "imag", "conj"))
def real(x): return real_p.bind1(x)
def imag(x): return imag_p.bind1(x)
def conj(x): return conj_p.bind1(x)


# --- fft (issue 14) ---------------------------------------------------------------------------
fft_p = Primitive("fft")


def fft(x, fft_type: str, fft_lengths):
    """The FFT of kind `fft_type` ("fft", "ifft", "rfft", "irfft", and the transposes of the
    last two, "rfft_t", "irfft_t") over the last len(fft_lengths) axes."""
    return fft_p.bind1(x, fft_type=fft_type, fft_lengths=tuple(map(int, fft_lengths)))


# --- decompositions (issue 14) ----------------------------------------------------------------
svd_p = Primitive("svd", multiple_results=True)
qr_p = Primitive("qr", multiple_results=True)
eig_p = Primitive("eig", multiple_results=True)


def svd(a, full_matrices: bool = False, compute_uv: bool = True):
    """[u, s, vh] (or [s]) of a stack of matrices, like numpy.linalg.svd."""
    return svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))


def qr(a, full_matrices: bool = False): return qr_p.bind(a, full_matrices=bool(full_matrices))
def eig(a): return eig_p.bind(a)


# --- lu, sqrtm, Bessel of any order (issue 14, remaining scipy pieces) -------------------------
lu_p = Primitive("lu", multiple_results=True)
lu_pivots_to_permutation_p, sqrtm_p = map(Primitive, ("lu_pivots_to_permutation", "sqrtm"))
SPECIAL_ARITY.update(iv=2, ive=2, jv=2, yn=2)
SPECIAL_PRIMS.update({n: Primitive(n) for n in ("iv", "ive", "jv", "yn")})
iv_p, ive_p, jv_p, yn_p = (SPECIAL_PRIMS[n] for n in ("iv", "ive", "jv", "yn"))
igamma_grad_a_p = Primitive("igamma_grad_a")  # d/da gammainc(a, x), by a series
betainc_moment_p = Primitive("betainc_moment")  # the log-moments behind d betainc / d(a, b)


def lu(a):
    """[lu, pivots, permutation] of a stack of matrices (a[..., permutation, :] == l @ u)."""
    return lu_p.bind(a)


def lu_pivots_to_permutation(pivots, size: int):
    return lu_pivots_to_permutation_p.bind1(pivots, permutation_size=int(size))


def sqrtm(a): return sqrtm_p.bind1(a)


# --- zeta in x (issue 14, round 2) -------------------------------------------------------------
zeta_grad_x_p = Primitive("zeta_grad_x")  # d/dx zeta(x, q), by the Euler-Maclaurin sum
