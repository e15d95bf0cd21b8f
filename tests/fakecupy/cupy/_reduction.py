"""`cupy.ReductionKernel` for the CuPy stand-in: CuPy's signature and argument checks
(cupy/_core/_reduction.pyx: `ReductionKernel.__init__`, `__call__`, `_get_axis`,
`_get_out_shape`; the dtype decision is ElementwiseKernel's), and the kernel RUN as C++ on the
CPU: the map expression, REDUCE and POST_MAP macros, `_type_reduce` and the identity exactly as
CuPy's template declares them, one output element after another (CuPy combines partial results
in a tree: the same values up to rounding).
"""
from __future__ import annotations

import ctypes

import numpy

from . import (
    _CTYPE,
    _PRELUDE,
    _SCALARS,
    ElementwiseKernel,
    _compile,
    _current,
    _params,
    _unwrap,
    ndarray,
)


def _get_axis(axis, ndim):  # CuPy's _get_axis
    if axis is None:
        return tuple(range(ndim)), ()
    axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for a in axis:
        if not -ndim <= a < ndim:
            raise numpy.exceptions.AxisError(a, ndim)
    reduce_axis = tuple(sorted(a % ndim for a in axis))
    out_axis = tuple(d for d in range(ndim) if d not in reduce_axis)
    if len(reduce_axis) + len(out_axis) != ndim:
        raise ValueError("duplicate value in 'axis'")
    return reduce_axis, out_axis


class ReductionKernel:
    """CuPy's user-defined reduction kernel: CuPy's argument checks, the body run as C++."""

    _check = staticmethod(ElementwiseKernel._check)

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
                 name="reduce_kernel", reduce_type=None, reduce_dims=True, preamble="",
                 options=()):
        if not isinstance(in_params, str) or not isinstance(out_params, str):
            raise TypeError("in_params and out_params must be str")
        self.name, self.identity = name, "" if identity is None else str(identity)
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.map_expr, self.reduce_expr, self.post_map_expr = map_expr, reduce_expr, post_map_expr
        self.reduce_type = self.out_params[0].ctype if reduce_type is None else reduce_type
        self.preamble, self.options, self.reduce_dims = preamble, options, reduce_dims

    def __call__(self, *args, **kwargs):
        out = kwargs.pop("out", None)
        axis = kwargs.pop("axis", None)
        keepdims = kwargs.pop("keepdims", False)
        kwargs.pop("stream", None)
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name}")
        outs = list(args[self.nin:])
        if out is not None:
            if self.nout != 1:
                raise NotImplementedError("")
            if outs:
                raise ValueError("cannot specify 'out' as both a positional and keyword argument")
            outs = [out]
        dev = [_current[0]]
        for a in list(args[:self.nin]) + outs:  # CuPy's _preprocess_args
            if not isinstance(a, (ndarray,) + _SCALARS):
                raise TypeError(f"Unsupported type {type(a)}")
            if isinstance(a, ndarray):
                _unwrap(a, self.name, dev)
        ins = list(args[:self.nin])
        if any(p.raw for p in self.in_params + self.out_params):
            raise NotImplementedError("fakecupy: raw parameters of a ReductionKernel")
        arrays = [a._a for a in ins if isinstance(a, ndarray)]
        shape = numpy.broadcast_shapes(*[a.shape for a in arrays]) if arrays else ()
        in_types, out_types, type_map = ElementwiseKernel._decide_types(self, ins, outs)
        reduce_axis, out_axis = _get_axis(axis, len(shape))
        out_shape = tuple(1 if i in reduce_axis else s for i, s in enumerate(shape)) if \
            keepdims else tuple(shape[i] for i in out_axis)
        if outs:
            for o in outs:
                if o.shape != out_shape:
                    raise ValueError("Out shape is mismatched")
        else:
            outs = [ndarray._box(numpy.empty(out_shape, t), dev[0]) for t in out_types]
        ret = outs[0]
        if ret.size == 0:
            return ret
        if self.identity == "" and 0 in shape:
            raise ValueError(f"zero-size array to reduction operation {self.name} which has no "
                             f"identity")
        n_out = int(numpy.prod(out_shape))
        n_red = int(numpy.prod([shape[i] for i in reduce_axis]))
        perm = out_axis + reduce_axis  # each output's inputs contiguous, as (n_out, n_red)
        bufs = [numpy.ascontiguousarray(numpy.broadcast_to(a._a, shape).transpose(perm)
                                        .reshape(n_out, n_red)) if isinstance(a, ndarray)
                else numpy.asarray(a).astype(t).reshape(1) for a, t in zip(ins, in_types)]
        out_bufs = [numpy.array(o._a, order="C").reshape(n_out) for o in outs]  # POST_MAP sees them
        lib = _compile(self._source(ins, in_types, out_types, type_map))
        ptrs = (ctypes.c_void_p * (len(bufs) + len(out_bufs)))(
            *[b.ctypes.data for b in bufs + out_bufs])
        lib.fakecupy_reduce(ctypes.c_longlong(n_out), ctypes.c_longlong(n_red), ptrs)
        for o, b in zip(outs, out_bufs):
            o._a[...] = b.reshape(o.shape)
        return ret

    def _source(self, ins, in_types, out_types, type_map):
        typedefs = "".join(f"typedef {_CTYPE[t]} {c};\n" for c, t in type_map)
        reads, writes, k = [], [], 0
        for p, a, t in zip(self.in_params, ins, in_types):
            at = "_j" if isinstance(a, ndarray) else "0"
            reads.append(f"const {_CTYPE[t]} {p.name} = ((const {_CTYPE[t]}*)_p[{k}])[{at}];")
            k += 1
        for p, t in zip(self.out_params, out_types):
            writes.append(f"{_CTYPE[t]} &{p.name} = (({_CTYPE[t]}*)_p[{k}])[_i];")
            k += 1
        return (f"{_PRELUDE}\n{typedefs}{self.preamble}\n"
                f"#define REDUCE(a, b) ({self.reduce_expr})\n"
                f"#define POST_MAP(a) ({self.post_map_expr})\n"
                f"typedef {self.reduce_type} _type_reduce;\n"
                f'extern "C" void fakecupy_reduce(long long _nout, long long _nred, void** _p) {{\n'
                f"  for (ptrdiff_t _i = 0; _i < _nout; ++_i) {{\n"
                f"    _type_reduce _s = _type_reduce({self.identity});\n"
                f"    for (ptrdiff_t _r = 0; _r < _nred; ++_r) {{\n"
                f"      ptrdiff_t _j = _i * _nred + _r; (void)_j;\n      " + "\n      ".join(reads)
                + f"\n      _type_reduce _a = static_cast<_type_reduce>({self.map_expr});\n"
                f"      _s = REDUCE(_s, _a);\n    }}\n    " + "\n    ".join(writes)
                + "\n    POST_MAP(_s);\n  }\n}\n")
