"""Errors that teach: funcgrad's error classes, `user_frame` and the message templates.

Every user-facing error names what was wrong, where (`user_frame`: the innermost stack frame
outside funcgrad) and the fix; the long explanations are `_MSG_*` constants showing the wrong
and the right code. This module sits below `core.py` (which re-exports every name here, so
`from funcgrad.core import FuncgradError` keeps working) and imports nothing from funcgrad at
run time.
"""
from __future__ import annotations

import inspect
import os
import sys


class FuncgradError(Exception):
    """Base class of funcgrad's user-facing errors."""


class ConcretizationError(FuncgradError, TypeError):
    pass


class EscapedTracerError(FuncgradError):
    pass


class ShapeError(FuncgradError, ValueError):
    """Operands whose shapes or dtypes a primitive cannot take (raised by abstract evaluation)."""


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def user_frame() -> str:
    """'file:line (in fn): source' of the innermost stack frame outside funcgrad itself."""
    f = sys._getframe(1)
    while f is not None:
        fname = os.path.abspath(f.f_code.co_filename)
        if not fname.startswith(_PKG_DIR) and "importlib" not in fname:
            import linecache
            src = linecache.getline(fname, f.f_lineno).strip()
            return f"{fname}:{f.f_lineno} (in {f.f_code.co_name}): {src}"
        f = f.f_back
    return "<unknown>"


_MSG_DROPS_DERIVATIVE = """\
funcgrad: a value that `{name}` is differentiating ({aval}) was turned into a plain number or
NumPy array (`float()`, `complex()`, `np.asarray()`, `.item()`, or a NumPy function that
converts its input), which would silently drop its derivative.
  at {where}
Keep it a traced value and use funcgrad.numpy (`fnp.sin(x)`, not `math.sin(x)`). To use its
value as a constant on purpose, write `fg.stop_gradient(x)` first. Comparisons are fine and
keep their derivatives: write `if abs(x) < tol:` rather than `if abs(float(x)) < tol:`."""

_MSG_SETITEM = """\
funcgrad arrays are immutable: item assignment `x[idx] = v` on a traced value of type {aval}
  at {where}
Use a functional update instead, which returns a new array:
    x = fnp.at(x)[idx].set(v)        # or .add(v), .mul(v), .min(v), .max(v)
    x = x.at[idx].set(v)             # the same, as a method on traced values"""

_MSG_CONCRETE = """\
funcgrad: a traced value of type {aval} was used where a concrete Python value is needed
(`if`, `while`, `bool()`, `float()`, `int()`, `np.asarray()`, or an array shape) while `{name}` is
staging the function into IR, so its value is not known yet.
  at {where}
Fixes:
  - branch on data with `fg.cond(pred, true_fun, false_fun, *operands)` or `fnp.where(pred, a, b)`;
  - loop on data with `fg.while_loop` / `fg.fori_loop`;
  - or, if the value is a Python constant (a size, a flag), mark that argument static:
    `fg.jit(f, static_argnums=...)`."""


def concretization_msg(tracer) -> str:  # tracer: core.Tracer (core imports this module)
    return _MSG_CONCRETE.format(aval=tracer.aval.str_short(), name=tracer._trace.main.name,
                                where=user_frame())


def user_site() -> tuple | None:
    """(code, instruction offset) of the innermost frame outside funcgrad: `user_frame`'s cheap
    form, recorded where each transform is applied. No line number is looked up (a frame's
    line costs a scan of its code's line table) until `format_site` needs it, for an error."""
    f = sys._getframe(1)
    while f is not None:
        code = f.f_code
        internal = _INTERNAL_FILE.get(code.co_filename)
        if internal is None:
            fname = code.co_filename
            internal = _INTERNAL_FILE[fname] = fname.startswith(_PKG_DIR) or "importlib" in fname
        if not internal:
            return code, f.f_lasti
        f = f.f_back
    return None


_INTERNAL_FILE: dict[str, bool] = {}  # a frame's file name -> whether it is funcgrad's own


def format_site(site: tuple | None) -> str:
    if site is None:
        return "<unknown>"
    import linecache
    code, lasti = site
    line = next((ln for start, end, ln in code.co_lines() if start <= lasti < end and ln),
                code.co_firstlineno)
    fname = code.co_filename
    return (f"{os.path.abspath(fname)}:{line} (in {code.co_name}): "
            f"{linecache.getline(fname, line).strip()}")


_MSG_ESCAPED = """\
funcgrad: an escaped tracer: a traced value {aval} from `{name}` was used after that transform
finished, at {where}
It was created inside the function that `{name}` transformed, applied at
  {site}
and escaped from it (stored in a global, a closure, a list or an object attribute, or returned
through a side channel). Return the value from the function instead, or use `fg.stop_gradient`
/ plain NumPy values for what should be constants."""


def _escaped_msg(val) -> str:  # val: core.Tracer
    main = val._trace.main
    return _MSG_ESCAPED.format(aval=val.aval.str_short(), name=main.name, where=user_frame(),
                               site=format_site(main.site))


def arg_label(fun, pos: int, path: str = "") -> str:
    """How the user names positional argument `pos` of `fun` (its parameter's name where the
    signature tells it, else `args[pos]`), then `path` (a key path inside it: `params['w'][1]`)."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    for i, p in enumerate(params):
        if p.kind is p.VAR_POSITIONAL or i == pos and p.kind in (p.POSITIONAL_ONLY,
                                                                  p.POSITIONAL_OR_KEYWORD):
            return p.name + (f"[{pos - i}]" if p.kind is p.VAR_POSITIONAL else "") + path
    return f"args[{pos}]{path}"


_FIX_GRAD = ("list only the array arguments in `argnums=` and pass names, flags and configs as "
             "other arguments, or close over them: `fg.grad(lambda p: loss(p, cfg))(params)`.")
_FIX_JVP = "close over it: `fg.jvp(lambda p: f(p, cfg), (p,), (t,))`, `fg.vjp(lambda p: ..., p)`."
NOT_ARRAY_FIX = dict(grad=_FIX_GRAD, jacfwd=_FIX_GRAD, jacrev=_FIX_GRAD, jvp=_FIX_JVP,
                     vjp=_FIX_JVP, vmap="leave it unmapped with None at its place in `in_axes` ("
                     "e.g. in_axes=(0, None) or ({'w': 0, 'name': None},)), pass it as a keyword "
                     "argument (never mapped), or close over it.")


def not_array_msg(name: str, label: str, leaf) -> str:
    r = repr(leaf)
    return (f"{name}: argument `{label}` is of type {type(leaf).__name__} ({r[:40]}), not an "
            f"array, at {user_frame()}\n{name} transforms arrays, Python numbers and pytrees "
            f"(tuples, lists, dicts) of them only. Fix: {NOT_ARRAY_FIX[name]}")


def grad_output_msg(out, got: str) -> str:
    """grad's function returned `out` (described by `got`) instead of a float scalar."""
    fix = ("Did you forget `return`? Return the scalar loss." if out is None else
           "If the first element is the loss and the second auxiliary data, pass has_aux=True: "
           "`fg.grad(f, has_aux=True)(x)` returns `(grads, aux)`; else return the loss."
           if isinstance(out, (tuple, list)) and len(out) == 2 else
           "Return the scalar loss alone (e.g. `out[0]`, `out['loss']`), or `(loss, aux)` with "
           "has_aux=True to get the rest back." if isinstance(out, (tuple, list, dict)) else
           "grad is for scalar-valued functions: return `fnp.sum(y)` (or `fnp.mean(y)`) to "
           "differentiate a sum, or use `fg.jacrev(f)` / `fg.jacfwd(f)` for the Jacobian, "
           "`fg.vjp(f, x)` for vector-Jacobian products." if "[]" not in got else
           "An integer or boolean output has no derivative: compute the loss in floating point.")
    return (f"grad: the function must return a floating-point scalar (the loss), but it "
            f"returned {got}, at {user_frame()}\n{fix}")
