"""`funcgrad.scipy.integrate.odeint`: an adaptive Dormand-Prince (RK45) ODE solver written in
funcgrad itself (a `while_loop` of steps per output time inside a `scan`), differentiated by
the adjoint method (a `custom_vjp` that integrates the augmented system backwards in time), so it
works under grad, jit and vmap. The step-size control, the initial step and the 4th-order dense
output follow `jax.experimental.ode` (Apache-2.0), itself after torchdiffeq and SciPy's RK45.

This module sits above the transforms it uses (the library layer), so `funcgrad.scipy` does not
import it: `funcgrad` does, making `funcgrad.scipy.integrate` available.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import numpy as fnp
from ..core import FuncgradError, user_frame
from ..pytree import tree_flatten, tree_unflatten
from ..transforms.autodiff import vjp
from ..transforms.control_flow import scan, while_loop
from ..transforms.custom import custom_vjp

_ALPHA = [1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
_BETA = [[1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9],
         [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
         [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
         [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
_C_SOL = _BETA[-1] + [0]
_C_ERR = [35 / 384 - 1951 / 21600, 0, 500 / 1113 - 22642 / 50085, 125 / 192 - 451 / 720,
          -2187 / 6784 + 12231 / 42400, 11 / 84 - 649 / 6300, -1 / 60]
_C_MID = [6025192743 / 30085553152 / 2, 0, 51252292925 / 65400821598 / 2,
          -2691868925 / 45128329728 / 2, 187940372067 / 1594534317056 / 2,
          -1776094331 / 19743644256 / 2, 11237099 / 235043384 / 2]


def _comb(coeffs, ks):
    out = None
    for c, k in zip(coeffs, ks):
        if c:
            out = c * k if out is None else out + c * k
    return out


def _rk_step(f, y0, f0, t0, dt):
    """One Dormand-Prince step: (y1, f1, error estimate, the 7 stages)."""
    ks = [f0]
    for alpha, beta in zip(_ALPHA, _BETA):
        ks.append(f(y0 + dt * _comb(beta, ks), t0 + dt * alpha))
    return y0 + dt * _comb(_C_SOL, ks), ks[-1], dt * _comb(_C_ERR, ks), ks


def _interp_fit(y0, y1, ks, dt):
    """Coefficients (a, b, c, d, e) of the 4th-order polynomial through the step."""
    y_mid, dy0, dy1 = y0 + dt * _comb(_C_MID, ks), dt * ks[0], dt * ks[-1]
    return fnp.stack([-2 * dy0 + 2 * dy1 - 8 * y0 - 8 * y1 + 16 * y_mid,
                      5 * dy0 - 3 * dy1 + 18 * y0 + 14 * y1 - 32 * y_mid,
                      -4 * dy0 + dy1 - 11 * y0 - 5 * y1 + 16 * y_mid, dy0, y0])


def _initial_step(f, t0, y0, f0, rtol, atol, order=4):
    scale = atol + fnp.abs(y0) * rtol
    d0, d1 = fnp.linalg.norm(y0 / scale), fnp.linalg.norm(f0 / scale)
    h0 = fnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    d2 = fnp.linalg.norm((f(y0 + h0 * f0, t0 + h0) - f0) / scale) / h0
    h1 = fnp.where((d1 <= 1e-15) & (d2 <= 1e-15), fnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / fnp.maximum(d1, d2)) ** (1.0 / (order + 1.0)))
    return fnp.minimum(100.0 * h0, h1)


def _next_step(dt, ratio, safety=0.9, ifactor=10.0, dfactor=0.2, order=5.0):
    dfactor = fnp.where(ratio < 1, 1.0, dfactor)
    factor = fnp.minimum(ifactor, fnp.maximum(ratio ** (-1.0 / order) * safety, dfactor))
    return fnp.where(ratio == 0, dt * ifactor, dt * factor)


def _solve(f, rtol, atol, mxstep, hmax, y0, ts):
    """The solution of y' = f(y, t) (y a 1-D array) at the times `ts`, shape (len(ts), n)."""
    def to_time(carry, target):
        def cond(s):
            i, _, _, t, dt, _, _ = s
            return (t < target) & (i < mxstep) & (dt > 0)

        def body(s):
            i, y, fy, t, dt, last_t, coeff = s
            y1, f1, err, ks = _rk_step(f, y, fy, t, dt)
            tol = atol + rtol * fnp.maximum(fnp.abs(y), fnp.abs(y1))
            ratio = fnp.sqrt(fnp.mean((err / tol) ** 2))
            new_dt = fnp.clip(_next_step(dt, ratio), 0.0, hmax)
            new = [i + 1, y1, f1, t + dt, new_dt, t, _interp_fit(y, y1, ks, dt)]
            old = [i + 1, y, fy, t, new_dt, last_t, coeff]
            return [fnp.where(ratio <= 1.0, a, b) for a, b in zip(new, old)]
        _, *carry = while_loop(cond, body, [np.int64(0)] + carry)
        _, _, t, _, last_t, coeff = carry
        s = (target - last_t) / (t - last_t)
        return carry, (((coeff[0] * s + coeff[1]) * s + coeff[2]) * s + coeff[3]) * s + coeff[4]

    f0 = f(y0, ts[0])
    dt = fnp.clip(_initial_step(f, ts[0], y0, f0, rtol, atol), 0.0, hmax)
    init = [y0, f0, ts[0], dt, ts[0], fnp.stack([y0] * 5)]
    _, ys = scan(to_time, init, ts[1:])
    return fnp.concatenate([y0[None], ys])


def _ravel(tree):
    """One 1-D array of a pytree's leaves, and the function that splits such an array back."""
    leaves, treedef = tree_flatten(tree)
    shapes = [fnp.shape(x) for x in leaves]
    sizes = [math.prod(s) for s in shapes]
    flat = fnp.concatenate([fnp.reshape(x, (-1,)) for x in leaves]) if leaves else fnp.zeros(0)

    def unravel(v):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(fnp.reshape(v[start:start + size], shape))
            start += size
        return tree_unflatten(treedef, parts)
    return flat, unravel


def _odeint_flat(func, rtol, atol, mxstep, hmax):
    """The solver of `func(y, t, *args)` (y 1-D) as a custom_vjp of (y0, ts, *args)."""
    @custom_vjp
    def solve(y0, ts, *args):
        return _solve(lambda y, t: func(y, t, *args), rtol, atol, mxstep, hmax, y0, ts)

    def fwd(y0, ts, *args):
        ys = solve(y0, ts, *args)
        return ys, (ys, ts, args)

    def bwd(res, g):
        ys, ts, args = res
        args_flat, unravel_args = _ravel(args)
        n = fnp.shape(ys)[1]

        def aug(state, t):  # y, its adjoint, dL/dt0 and dL/dargs run backwards in time
            y, y_bar = state[:n], state[n:2 * n]
            y_dot, f_vjp = vjp(lambda y, s, a: func(y, s, *unravel_args(a)), y, -t, args_flat)
            y_ct, t_ct, a_ct = f_vjp(y_bar)
            return fnp.concatenate([-y_dot, y_ct, fnp.reshape(t_ct, (1,)), a_ct])

        def step(carry, x):  # from output time i back to i - 1
            (y_bar, t0_bar, args_bar), (y_i, t_i, t_prev, g_i, g_prev) = carry, x
            t_bar = fnp.dot(func(y_i, t_i, *args), g_i)
            state = fnp.concatenate([y_i, y_bar, fnp.reshape(t0_bar - t_bar, (1,)), args_bar])
            out = _solve(aug, rtol, atol, mxstep, hmax, state, fnp.stack([-t_i, -t_prev]))[1]
            return (out[n:2 * n] + g_prev, out[2 * n], out[2 * n + 1:]), t_bar
        init = (g[-1], fnp.zeros((), ys.dtype), fnp.zeros_like(args_flat))
        xs = tuple(v[::-1] for v in (ys[1:], ts[1:], ts[:-1], g[1:], g[:-1]))
        (y_bar, t0_bar, args_bar), rev_t_bar = scan(step, init, xs)
        ts_bar = fnp.concatenate([fnp.reshape(t0_bar, (1,)), rev_t_bar[::-1]])
        return (y_bar, ts_bar, *unravel_args(args_bar))
    solve.defvjp(fwd, bwd)
    return solve


def odeint(func: Callable, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=np.inf, hmax=np.inf):
    """Integrate `dy/dt = func(y, t, *args)` from `y0` at `t[0]`, like `scipy.integrate.odeint`
    (and `jax.experimental.ode.odeint`).

    Args:
        func: the time derivative `func(y, t, *args)`, of y's shape and structure.
        y0: the initial state, an array or a pytree of arrays.
        t: strictly increasing float times (1-D); the first is the initial time.
        *args: extra arguments of `func` (arrays or pytrees of them); gradients flow to them, to
            y0 and to t. Values `func` closes over get no gradient: pass them in `args`.
        rtol, atol: relative and absolute local error tolerances.
        mxstep: the most steps between two output times; hmax: the largest step.

    Returns:
        The solution at each time in `t`: y0's structure with a leading axis of len(t).
    """
    t = fnp.asarray(t)
    if fnp.ndim(t) != 1 or t.dtype.kind != "f":
        raise FuncgradError(f"odeint: t must be a 1-D array of float times, got "
                            f"{getattr(t, 'aval', t)!r}, at {user_frame()}")
    y_flat, unravel = _ravel(y0)
    y_flat = y_flat.astype(np.result_type(y_flat.dtype, t.dtype))

    def f_flat(y, s, *a):
        return _ravel(func(unravel(y), s, *a))[0].astype(y.dtype)
    ys = _odeint_flat(f_flat, rtol, atol, mxstep, hmax)(y_flat, t.astype(y_flat.dtype), *args)
    return _unravel_rows(ys, unravel)


def _unravel_rows(ys, unravel):
    """Apply `unravel` to every row of ys (len(t), n), stacking each leaf."""
    rows = [unravel(ys[i]) for i in range(fnp.shape(ys)[0])]
    leaves = [tree_flatten(r)[0] for r in rows]
    treedef = tree_flatten(rows[0])[1]
    return tree_unflatten(treedef, [fnp.stack(ls) for ls in zip(*leaves)])
