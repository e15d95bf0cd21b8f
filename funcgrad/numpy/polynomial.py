"""`fnp`'s products (kron, cross, vecdot, matvec, vecmat) and polynomial helpers (polyval,
polyadd ... polydiv, polyfit, poly, vander; `roots` on concrete values).

Composites of the lower modules: NumPy itself on plain arrays, differentiable on traced values.
"""
from __future__ import annotations

import numpy as np

from ..core import FuncgradError, Tracer, user_frame
from . import _base
from . import contractions as ct
from . import extra as ex
from . import linalg as la
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, _promote, asarray, astype, numpy_fallback
from .statistics import _same_dtype, convolve

_IMPORTED = set(globals())  # what `__all__` (at the end) leaves out


# --- products -----------------------------------------------------------------------------------

@numpy_fallback(np.kron)
def kron(a, b):
    a, b = asarray(a), asarray(b)
    nd = max(_aval(a).ndim, _aval(b).ndim)
    sa = (1,) * (nd - _aval(a).ndim) + _aval(a).shape
    sb = (1,) * (nd - _aval(b).ndim) + _aval(b).shape
    a2 = sh.reshape(a, tuple(d for s in sa for d in (s, 1)))
    b2 = sh.reshape(b, tuple(d for s in sb for d in (1, s)))
    return sh.reshape(uf.multiply(a2, b2), tuple(x * y for x, y in zip(sa, sb)))


@numpy_fallback(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = sh.moveaxis(asarray(a), axisa, -1), sh.moveaxis(asarray(b), axisb, -1)
    a, b = _same_dtype(a, b)
    if _aval(a).shape[-1] == 2 and _aval(b).shape[-1] == 2:
        return uf.subtract(uf.multiply(a[..., 0], b[..., 1]), uf.multiply(a[..., 1], b[..., 0]))
    comp = [a[..., i] if _aval(a).shape[-1] > i else 0 for i in range(3)]
    comq = [b[..., i] if _aval(b).shape[-1] > i else 0 for i in range(3)]
    c = [uf.subtract(uf.multiply(comp[(i + 1) % 3], comq[(i + 2) % 3]),
                     uf.multiply(comp[(i + 2) % 3], comq[(i + 1) % 3])) for i in range(3)]
    return sh.moveaxis(sh.stack(sh.broadcast_arrays(*c), -1), -1, axisc)


@numpy_fallback(_base.np_contraction(np.vecdot))
def vecdot(x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None):
    """`numpy.vecdot`: sum(conj(x1) * x2) over `axis` (JAX's keywords as in `matmul`)."""
    x1, x2 = _base.contraction_operands("vecdot", x1, x2, preferred_element_type, None)
    return sh.sum(uf.multiply(uf.conj(x1), x2), axis)


@numpy_fallback(np.matvec)
def matvec(x1, x2, /):
    return ct.matmul(x1, sh.expand_dims(x2, -1))[..., 0]


@numpy_fallback(np.vecmat)
def vecmat(x1, x2, /):
    return ct.matmul(sh.expand_dims(x1, -2), x2)[..., 0, :]


# --- polynomials --------------------------------------------------------------------------------

@numpy_fallback(lambda p, x, *, unroll=16: np.polyval(p, x))
def polyval(p, x, *, unroll=16):
    """Horner's rule (JAX's `unroll` tunes its loop: funcgrad unrolls fully)."""
    p = asarray(p)
    out = uf.multiply(x, 0)
    for i in range(_aval(p).shape[0]):
        out = uf.add(uf.multiply(out, x), p[i])
    return out


def _pad_front(a, n):
    return sh.pad(a, (n - _aval(a).shape[0], 0))


@numpy_fallback(np.polyadd)
def polyadd(a1, a2):
    a1, a2 = sh.atleast_1d(asarray(a1)), sh.atleast_1d(asarray(a2))
    n = max(_aval(a1).shape[0], _aval(a2).shape[0])
    return uf.add(_pad_front(a1, n), _pad_front(a2, n))


@numpy_fallback(np.polysub)
def polysub(a1, a2):
    return polyadd(a1, uf.negative(asarray(a2)))


def _trim(a, trim):
    """`a` without leading zeros (concrete `a` only), as JAX's `trim_leading_zeros=True`."""
    if not trim or isinstance(a, Tracer):
        return a
    a = np.atleast_1d(np.asarray(a))
    nz = np.flatnonzero(a)
    return a[nz[0]:] if nz.size else a[-1:]


@numpy_fallback(lambda a1, a2, *, trim_leading_zeros=False: np.polymul(
    _trim(a1, trim_leading_zeros), _trim(a2, trim_leading_zeros)))
def polymul(a1, a2, *, trim_leading_zeros=False):
    a1, a2 = _trim(a1, trim_leading_zeros), _trim(a2, trim_leading_zeros)
    return convolve(sh.atleast_1d(a1), sh.atleast_1d(a2))


@numpy_fallback(np.polyder)
def polyder(p, m=1):
    p = asarray(p)
    for _ in range(m):
        n = _aval(p).shape[0] - 1
        p = uf.multiply(p[:-1], np.arange(n, 0, -1))
    return p


@numpy_fallback(np.polyint)
def polyint(p, m=1, k=None):
    p = asarray(p)
    ks = np.zeros(m) if k is None else np.broadcast_to(np.asarray(k, float), (m,))
    for i in range(m):
        n = _aval(p).shape[0]
        p = sh.concatenate([uf.divide(p, np.arange(n, 0, -1).astype(float)),
                            np.asarray([ks[i]])], 0)
    return p


@numpy_fallback(lambda u, v, *, trim_leading_zeros=False: np.polydiv(
    _trim(u, trim_leading_zeros), _trim(v, trim_leading_zeros)))
def polydiv(u, v, *, trim_leading_zeros=False):
    u, v = _trim(u, trim_leading_zeros), _trim(v, trim_leading_zeros)
    (u,) = _promote("polydiv", asarray(u), to_float=True)
    v = asarray(v)
    nu, nv = _aval(u).shape[0], _aval(v).shape[0]
    q = []
    for i in range(max(nu - nv + 1, 0)):
        c = uf.divide(u[i], v[0])
        q.append(c)
        u = sh.concatenate([u[:i], uf.subtract(u[i:i + nv], uf.multiply(c, v)), u[i + nv:]], 0)
    quot = sh.stack(q) if q else np.zeros(1)
    return quot, u[max(nu - nv + 1, 0):] if nv > 1 else u[-1:] * 0


@numpy_fallback(np.vander)
def vander(x, N=None, increasing=False):  # noqa: N803
    x = asarray(x)
    n = _aval(x).shape[0] if N is None else N
    powers = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    return uf.power(sh.expand_dims(x, -1), astype(powers, _aval(x).dtype))


@numpy_fallback(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least-squares polynomial fit (the normal equations, columns scaled)."""
    v = vander(x, deg + 1)
    scale = uf.sqrt(sh.sum(uf.square(v), 0))
    vs = uf.divide(v, scale)
    c = la.solve(ct.matmul(sh.transpose(vs), vs), ct.matmul(sh.transpose(vs), y))
    return uf.divide(c, scale if _aval(asarray(c)).ndim == 1 else scale[:, None])


@numpy_fallback(np.poly)
def poly(seq_of_zeros):
    z = asarray(seq_of_zeros)
    if _aval(z).ndim != 1:
        raise FuncgradError(f"poly: only 1-D roots are supported on traced values, at "
                            f"{user_frame()}")
    p = np.ones(1)
    for i in range(_aval(z).shape[0]):
        p = convolve(p, sh.stack([np.asarray(1.0), uf.negative(z[i])]))
    return p


roots = ex._concrete(np.roots)


__all__ = sorted(n for n in set(globals()) - _IMPORTED if not n.startswith("_"))
