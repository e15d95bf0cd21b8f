"""Compile CuPy ElementwiseKernel sources with the real NVRTC, for sm_90, without a GPU.

Run as a subprocess by tests/test_nvrtc.py (real CuPy must never meet the CuPy stand-in in one
interpreter). Reads a JSON list of kernels `{"name", "in_params", "out_params", "operation"}`
on stdin; prints a JSON object `{name: null | "NVRTC error text"}`. With `--probe` it only checks
that CuPy and NVRTC load, printing why not and exiting 1 if they do not.

The source is built as CuPy's `_get_elementwise_kernel_code` builds it (cupy/_core/_kernel.pyx:
CuPy's headers, a `CArray` parameter per array, `const T &x = _raw_x[_ind.get()];` per operand,
the body inside `CUPY_FOR`), for 1-d contiguous operands, and compiled with CuPy's own options
(`assemble_cupy_compiler_options`: `--std=c++17`, its include paths) plus `-arch=sm_90`.

A kernel with `"kind": "reduction"` (`{"name", "in_params", "out_params", "map_expr",
"reduce_expr", "post_map_expr", "identity", "reduce_type", "preamble", "ndim", "out_ndim"}`) is a
`cupy.ReductionKernel`: its source is made by CuPy's own template function
(`cupy._core._reduction._ReductionKernel_get_cached_function_code`, the one `ReductionKernel`
calls) for C-contiguous operands of `ndim` axes reduced to `out_ndim`, with CuPy's block size 512.
"""
import json
import sys

import numpy as np


def _ctype(dtype):
    from cupy._core._scalar import get_typename
    return get_typename(np.dtype(dtype))


def kernel_source(name, in_params, out_params, operation):
    from cupy._core import core
    params, reads, uses_f16 = [], [], False
    for text, const in [(p, True) for p in in_params.split(",") if p.strip()] + \
                       [(p, False) for p in out_params.split(",") if p.strip()]:
        t, n = text.split()[-2:]
        c = _ctype(t)
        uses_f16 |= c == "float16"
        params.append(f"{'const ' if const else ''}CArray<{c}, 1, 1, 1> _raw_{n}")
        reads.append(f"{'const ' if const else ''}{c} &{n} = _raw_{n}[_ind.get()];")
    params.append("CIndexer<1, 1> _ind")
    head = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    if uses_f16:
        head += "#include <cupy/float16.cuh>\n"
    body = "\n".join(reads + [operation])
    return (f'{head}\nextern "C" __global__ void {name}({", ".join(params)}) {{\n'
            f"  ;\n  #pragma unroll 1\n  CUPY_FOR(i, _ind.size()) {{\n    _ind.set(i);\n"
            f"{body};\n  }}\n  ;\n}}\n")


def reduction_source(name, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                     identity, reduce_type, preamble, ndim, out_ndim, kind=None):
    import cupy
    from cupy._core import _carray, _kernel, _reduction, _scalar, core
    params = (_kernel._get_param_info(in_params, True) + _kernel._get_param_info(out_params, False)
              + _kernel._get_param_info("CIndexer _in_ind, CIndexer _out_ind", False)
              + _kernel._get_param_info("int32 _block_stride", True))
    nin, nout = len(_kernel._get_param_info(in_params, True)), len(
        _kernel._get_param_info(out_params, False))
    arrays = [_kernel._ArgInfo(1, cupy.ndarray, p.dtype, ndim if i < nin else out_ndim, True,
                               True) for i, p in enumerate(params[:nin + nout])]  # ARG_KIND_NDARRAY
    arginfos = tuple(arrays) + (  # ARG_KIND_INDEXER, ARG_KIND_SCALAR
        _kernel._ArgInfo(2, _carray.Indexer, None, ndim, True, True),
        _kernel._ArgInfo(2, _carray.Indexer, None, out_ndim, True, True),
        _kernel._ArgInfo(3, _scalar.CScalar, np.int32, 0, True, True))
    code = _reduction._ReductionKernel_get_cached_function_code(
        nin, nout, params, arginfos, _kernel._TypeMap((("IndexT", np.int32),)), name, 512,
        reduce_type, identity, map_expr, reduce_expr, post_map_expr, preamble, ())
    head = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    if "float16" in code:
        head += "#include <cupy/float16.cuh>\n"
    return head + code


def compile_one(source, name):
    from cupy._core import core
    from cupy.cuda import compiler
    options = core.assemble_cupy_compiler_options(()) + ("-arch=sm_90",)
    try:
        compiler._NVRTCProgram(source, f"{name}.cu").compile(options)
        return None
    except compiler.CompileException as e:
        return str(e)


def main():
    if "--probe" in sys.argv:
        try:
            print(compile_one(kernel_source("probe", "float32 x", "float32 y", "y = x;"),
                              "probe") or "ok")
        except Exception as e:  # no CuPy, no NVRTC library, ...
            print(f"{type(e).__name__}: {e}")
            sys.exit(1)
        return
    kernels = json.load(sys.stdin)
    out = {k["name"]: compile_one(reduction_source(**k) if k.get("kind") == "reduction" else
                                  kernel_source(**k), k["name"]) for k in kernels}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
