"""Complex numbers under every transform, with JAX as the oracle: JAX's conventions exactly
(cotangents of complex values are not conjugated: `grad(abs)(3+4j) == 0.6-0.8j`), `holomorphic=`
on grad / value_and_grad / jacfwd / jacrev / vjp, and the errors for complex outputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import FuncgradError

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

RTOL = {np.complex64: 2e-5, np.complex128: 1e-10}


def close(got, want, dtype=np.complex128):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


def rand_c(shape, dtype=np.complex128, seed=0):
    r = np.random.default_rng(seed)
    return (r.uniform(0.3, 1.5, shape) + 1j * r.uniform(-1, 1, shape)).astype(dtype)


# --- the cases of the issue ---------------------------------------------------------------------

def test_issue_cases_match_jax():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way
        close(fg.grad(fnp.abs)(3 + 4j), 0.6 - 0.8j)
        close(fg.grad(lambda x: fnp.abs(x * (1 + 1j)))(1.0), np.sqrt(2))
        close(fg.grad(lambda z: fnp.abs(z) ** 2)(3 + 4j), 6 - 8j)
    assert np.asarray(fg.grad(lambda x: fnp.abs(x * (1 + 1j)))(1.0)).dtype == np.float64
    for f, fj, z in [(fnp.abs, jnp.abs, 3 + 4j),
                     (lambda z: fnp.abs(z) ** 2, lambda z: jnp.abs(z) ** 2, 3 + 4j)]:
        close(fg.grad(f)(z), jax.grad(fj)(z))


def test_complex_output_without_holomorphic_is_a_clear_error():
    with pytest.raises(FuncgradError, match=r"(?s)real-valued outputs.*test_complex.py.*"
                                            r"holomorphic=True") as e:
        fg.grad(lambda z: z * z)(1 + 1j)
    assert "fg.vjp" in str(e.value)
    with pytest.raises(FuncgradError, match="real-valued outputs"):
        fg.grad(lambda x: x * 1j)(1.0)
    with pytest.raises(FuncgradError, match="jacrev requires real-valued outputs"):
        fg.jacrev(lambda z: z * 2)(rand_c(2))
    with pytest.raises(FuncgradError, match="(?s)jacfwd requires real.*holomorphic=True"):
        fg.jacfwd(fnp.abs)(rand_c(2))
    with pytest.raises(FuncgradError, match="holomorphic=True requires inputs with complex"):
        fg.grad(lambda x: x * 1j, holomorphic=True)(1.0)
    with pytest.raises(FuncgradError, match="holomorphic=True requires outputs with complex"):
        fg.grad(fnp.abs, holomorphic=True)(1j)
    with pytest.raises(FuncgradError, match="holomorphic=True requires outputs with complex"):
        fg.jacfwd(fnp.abs, holomorphic=True)(rand_c(2))
    with pytest.raises(FuncgradError, match="vjp with holomorphic=True requires inputs"):
        fg.vjp(fnp.sin, np.ones(2), holomorphic=True)


# --- real-valued functions of complex inputs: grad vs JAX -----------------------------------------

REAL_OF_COMPLEX = [  # (name, fg function, jax function): C^n -> R
    ("abs_sum", lambda z: fnp.sum(fnp.abs(z)), lambda z: jnp.sum(jnp.abs(z))),
    ("abs2", lambda z: fnp.sum(fnp.abs(z * z) ** 2), lambda z: jnp.sum(jnp.abs(z * z) ** 2)),
    ("real_exp", lambda z: fnp.sum(fnp.real(fnp.exp(z))), lambda z: jnp.sum(jnp.real(jnp.exp(z)))),
    ("imag_log", lambda z: fnp.sum(fnp.imag(fnp.log(z))), lambda z: jnp.sum(jnp.imag(jnp.log(z)))),
    ("sqrt_div", lambda z: fnp.sum(fnp.abs(fnp.sqrt(z) / (z + 2))),
     lambda z: jnp.sum(jnp.abs(jnp.sqrt(z) / (z + 2)))),
    ("trig", lambda z: fnp.sum(fnp.real(fnp.sin(z) * fnp.cos(z) + fnp.tanh(z))),
     lambda z: jnp.sum(jnp.real(jnp.sin(z) * jnp.cos(z) + jnp.tanh(z)))),
    ("conj", lambda z: fnp.sum(fnp.real(fnp.conj(z) * z * 1j + z.conj() * 2)),
     lambda z: jnp.sum(jnp.real(jnp.conj(z) * z * 1j + z.conj() * 2))),
    ("tracer_parts", lambda z: fnp.sum(z.real * z.imag), lambda z: jnp.sum(z.real * z.imag)),
    ("angle", lambda z: fnp.sum(fnp.angle(z) * fnp.abs(z)),
     lambda z: jnp.sum(jnp.angle(z) * jnp.abs(z))),
    ("dot", lambda z: fnp.abs(fnp.dot(z, z[::-1])), lambda z: jnp.abs(jnp.dot(z, z[::-1]))),
    ("matmul_outer", lambda z: fnp.sum(fnp.abs(z[:, None] @ z[None, :] + 1)),
     lambda z: jnp.sum(jnp.abs(z[:, None] @ z[None, :] + 1))),
    ("where_index", lambda z: fnp.sum(fnp.abs(fnp.where(fnp.real(z) > 0.8, z * z, z[::-1])[1:])),
     lambda z: jnp.sum(jnp.abs(jnp.where(jnp.real(z) > 0.8, z * z, z[::-1])[1:]))),
    ("mixed_real", lambda z: fnp.sum(fnp.abs(z * np.arange(3.0))),
     lambda z: jnp.sum(jnp.abs(z * jnp.arange(3.0)))),
]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name,f,fj", REAL_OF_COMPLEX, ids=[r[0] for r in REAL_OF_COMPLEX])
def test_grad_real_of_complex_matches_jax(name, f, fj, dtype):
    z = rand_c(3, dtype)
    got = fg.grad(f)(z)
    want = jax.grad(fj)(jnp.asarray(z))
    assert np.asarray(got).dtype == dtype
    close(got, want, dtype)
    close(fg.jit(fg.grad(f))(z), want, dtype)  # jit: the NumPy codegen
    v, g = fg.value_and_grad(f)(z)
    close(v, fj(jnp.asarray(z)), dtype)
    close(g, want, dtype)


def test_real_input_through_complex_intermediate_matches_jax():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda x: fnp.sum(fnp.abs(fnp.exp(1j * x) * (2 + 1j) + x) ** 2)  # noqa: E731
    fj = lambda x: jnp.sum(jnp.abs(jnp.exp(1j * x) * (2 + 1j) + x) ** 2)  # noqa: E731
    close(fg.grad(f)(x), jax.grad(fj)(x))
    assert np.asarray(fg.grad(f)(x)).dtype == np.float64
    close(fg.jacfwd(f)(x), jax.jacfwd(fj)(x))
    close(fg.jacrev(f)(x), jax.jacrev(fj)(x))
    close(fg.hessian(f)(x), jax.hessian(fj)(x))
    z = rand_c(3, seed=10)  # jacrev of a real function of complex inputs: allowed, as in JAX
    g = lambda z: fnp.abs(z * z[::-1]) + fnp.real(z)  # noqa: E731
    close(fg.jacrev(g)(z), jax.jacrev(lambda z: jnp.abs(z * z[::-1]) + jnp.real(z))(z))


# --- holomorphic derivatives -------------------------------------------------------------------

HOLO = [
    ("poly", lambda z: z ** 3 - 2 * z + 1j, lambda z: z ** 3 - 2 * z + 1j),
    ("exp_sin", lambda z: fnp.exp(z) * fnp.sin(z), lambda z: jnp.exp(z) * jnp.sin(z)),
    ("log_sqrt", lambda z: fnp.log(z) / fnp.sqrt(z), lambda z: jnp.log(z) / jnp.sqrt(z)),
    ("tanh_cos", lambda z: fnp.tanh(z) + fnp.cos(z * 2j), lambda z: jnp.tanh(z) + jnp.cos(z * 2j)),
    ("cumsum_rev", lambda z: fnp.cumsum(z)[::-1] * z, lambda z: jnp.cumsum(z)[::-1] * z),
]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name,f,fj", HOLO, ids=[r[0] for r in HOLO])
def test_holomorphic_jacobians_match_jax(name, f, fj, dtype):
    z = rand_c(3, dtype, seed=1)
    zj = jnp.asarray(z)
    want = jax.jacfwd(fj, holomorphic=True)(zj)
    close(fg.jacfwd(f, holomorphic=True)(z), want, dtype)
    close(fg.jacrev(f, holomorphic=True)(z), want, dtype)
    close(jax.jacrev(fj, holomorphic=True)(zj), want, dtype)
    s = lambda z: fnp.sum(f(z))  # noqa: E731
    close(fg.grad(s, holomorphic=True)(z), jax.grad(lambda z: jnp.sum(fj(z)),
                                                    holomorphic=True)(zj), dtype)
    # jvp and vjp with complex tangents / cotangents
    t = rand_c(3, dtype, seed=2)
    _, got_t = fg.jvp(f, (z,), (t,))
    _, want_t = jax.jvp(fj, (zj,), (jnp.asarray(t),))
    close(got_t, want_t, dtype)
    _, f_vjp = fg.vjp(f, z, holomorphic=True)
    _, fj_vjp = jax.vjp(fj, zj)
    close(f_vjp(t)[0], fj_vjp(jnp.asarray(t))[0], dtype)


def test_holomorphic_hessian_and_grad_of_grad():
    f = lambda z: fnp.sum(fnp.exp(z) * z ** 2)  # noqa: E731
    fj = lambda z: jnp.sum(jnp.exp(z) * z ** 2)  # noqa: E731
    z = rand_c(2)
    close(fg.hessian(f, holomorphic=True)(z), jax.hessian(fj, holomorphic=True)(z))
    g = fg.grad(fg.grad(lambda z: fnp.sin(z) * z, holomorphic=True), holomorphic=True)(0.5 + 1j)
    close(g, jax.grad(jax.grad(lambda z: jnp.sin(z) * z, holomorphic=True),
                      holomorphic=True)(0.5 + 1j))


def test_vjp_of_non_holomorphic_function_matches_jax():
    f = lambda z: fnp.conj(z) * fnp.abs(z) + fnp.real(z) * 1j  # noqa: E731
    fj = lambda z: jnp.conj(z) * jnp.abs(z) + jnp.real(z) * 1j  # noqa: E731
    z, ct = rand_c(4), rand_c(4, seed=3)
    _, f_vjp = fg.vjp(f, z)
    _, fj_vjp = jax.vjp(fj, z)
    close(f_vjp(ct)[0], fj_vjp(ct)[0])
    _, t = fg.jvp(f, (z,), (ct,))
    close(t, jax.jvp(fj, (z,), (ct,))[1])


# --- vmap, jit and control flow ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_vmap_and_jit_of_complex_grad_match_jax(dtype):
    f = lambda z: fnp.abs(fnp.sum(fnp.exp(z) * fnp.conj(z[::-1])))  # noqa: E731
    fj = lambda z: jnp.abs(jnp.sum(jnp.exp(z) * jnp.conj(z[::-1])))  # noqa: E731
    zs = rand_c((4, 3), dtype, seed=4)
    want = jax.vmap(jax.grad(fj))(jnp.asarray(zs))
    close(fg.vmap(fg.grad(f))(zs), want, dtype)
    close(fg.jit(fg.vmap(fg.grad(f)))(zs), want, dtype)
    close(fg.vmap(f)(zs), jax.vmap(fj)(jnp.asarray(zs)), dtype)
    parts = lambda z: (fnp.real(z), fnp.imag(z), fnp.angle(z), fnp.conj(z))  # noqa: E731
    for got, w in zip(fg.jit(fg.vmap(parts))(zs), (zs.real, zs.imag, np.angle(zs), zs.conj())):
        close(got, w.astype(got.dtype), dtype)
        assert got.dtype == w.dtype


def test_control_flow_with_complex_carry_matches_jax():
    def body(i, z):
        return z * (0.9 + 0.1j) + fnp.sin(z) * 0.1

    def loss(z):
        z = fg.lax.fori_loop(0, 4, body, z)
        z = fg.lax.cond(fnp.real(fnp.sum(z)) > 0, lambda z: z * 2, lambda z: z - 1, z)
        ys = fg.lax.scan(lambda c, x: (c * x, c + x), z[0], z)[1]
        return fnp.sum(fnp.abs(ys) ** 2)

    def loss_j(z):
        z = jax.lax.fori_loop(0, 4, lambda i, z: z * (0.9 + 0.1j) + jnp.sin(z) * 0.1, z)
        z = jax.lax.cond(jnp.real(jnp.sum(z)) > 0, lambda z: z * 2, lambda z: z - 1, z)
        ys = jax.lax.scan(lambda c, x: (c * x, c + x), z[0], z)[1]
        return jnp.sum(jnp.abs(ys) ** 2)

    z = rand_c(3, seed=5)
    close(fg.grad(loss)(z), jax.grad(loss_j)(z))
    close(fg.jit(fg.grad(loss))(z), jax.grad(loss_j)(z))
    close(fg.vmap(fg.grad(loss))(rand_c((2, 3), seed=6)),
          jax.vmap(jax.grad(loss_j))(rand_c((2, 3), seed=6)))


def test_while_loop_with_complex_values():
    def f(z):
        return fg.lax.while_loop(lambda c: fnp.abs(c[0]) < 10.0, lambda c: (c[0] * c[1], c[1]),
                                 (z, z))[0]
    z = 1.2 + 0.5j
    want = jax.lax.while_loop(lambda c: jnp.abs(c[0]) < 10.0, lambda c: (c[0] * c[1], c[1]),
                              (z, z))[0]
    close(f(z), want)
    close(fg.jit(f)(z), want)


# --- the numpy surface ---------------------------------------------------------------------------

def test_numpy_complex_helpers_on_arrays_and_tracers():
    z = rand_c((2, 3))
    x = np.arange(3.0) - 1
    for name in ("real", "imag", "conj", "conjugate", "angle"):
        for a in (z, x):
            want = getattr(np, name)(a)
            close(getattr(fnp, name)(a), want)
            close(fg.jit(getattr(fnp, name))(a), want)
    close(fnp.angle(z, deg=True), np.angle(z, deg=True))
    close(fg.jit(lambda z: fnp.angle(z, deg=True))(z), np.angle(z, deg=True))
    assert fnp.iscomplexobj(z) and not fnp.iscomplexobj(x) and fnp.isrealobj(x)
    np.testing.assert_array_equal(fg.jit(fnp.iscomplex)(z.real + 0j), np.zeros((2, 3), bool))
    np.testing.assert_array_equal(fg.jit(fnp.isreal)(z), np.isreal(z))
    out = fg.jit(lambda z: (z.real, z.imag, z.conj(), z.conjugate(), np.conj(z)))(z)
    for got, want in zip(out, (z.real, z.imag, z.conj(), z.conj(), z.conj())):
        np.testing.assert_array_equal(got, want)
    assert fnp.complex64 is np.complex64 and fnp.complex128 is np.complex128


def test_complex_to_real_cast_keeps_real_part_without_warning():
    z = rand_c(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        close(fg.jit(lambda z: fnp.astype(z, np.float64))(z), z.real)
        close(fg.grad(lambda x: fnp.sum(fnp.astype(x * (1 + 2j), np.float64)))(np.ones(3)),
              np.ones(3))


def test_complex_is_never_fused():
    from funcgrad.backend.fusion import C_TYPES
    assert not any(np.dtype(d).kind == "c" for d in C_TYPES)


# --- properties --------------------------------------------------------------------------------

_finite = st.floats(-2.0, 2.0, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_finite, _finite), min_size=3, max_size=3),  # the rows expect 3
       st.sampled_from(range(len(REAL_OF_COMPLEX))))
def test_grad_of_real_function_is_conjugate_of_real_pair_gradient(parts, k):
    """JAX's convention, as a property: for real-valued f, grad f(z) = df/dx - i df/dy."""
    z = np.array([a + 1j * b for a, b in parts]) + (1.5 + 0.5j)
    f = REAL_OF_COMPLEX[k][1]
    g = fg.grad(f)(z)
    gx = fg.grad(lambda x: f(x + 1j * z.imag))(z.real)
    gy = fg.grad(lambda y: f(z.real + 1j * y))(z.imag)
    np.testing.assert_allclose(g, gx - 1j * gy, rtol=1e-8, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(_finite, _finite, st.sampled_from(range(len(HOLO))))
def test_holomorphic_grad_satisfies_cauchy_riemann(a, b, k):
    """For holomorphic f, the holomorphic derivative is d Re f/dx + i d Im f/dx."""
    f = HOLO[k][1]
    z = np.array([1.5 + a * 0.3 + 1j * b * 0.3])
    d = fg.grad(lambda z: fnp.sum(f(z)), holomorphic=True)(z)
    dre = fg.grad(lambda x: fnp.sum(fnp.real(f(x + 1j * z.imag))))(z.real)
    dim = fg.grad(lambda x: fnp.sum(fnp.imag(f(x + 1j * z.imag))))(z.real)
    np.testing.assert_allclose(d, dre + 1j * dim, rtol=1e-8, atol=1e-8)


# --- differential fuzz: random complex programs vs JAX -------------------------------------------

_OPS = {  # name -> (arity, fnp-or-jnp builder over the module `m`)
    "add": (2, lambda m, a, b: a + b), "sub": (2, lambda m, a, b: a - b),
    "mul": (2, lambda m, a, b: a * b), "div": (2, lambda m, a, b: a / (2.5 + 0.3j + m.sin(b))),
    "exp": (1, lambda m, a: m.exp(0.2 * a)), "sin": (1, lambda m, a: m.sin(a)),
    "conj": (1, lambda m, a: m.conj(a)), "real": (1, lambda m, a: m.real(a) * (1 - 1j)),
    "imag": (1, lambda m, a: m.imag(a) + 0j), "abs": (1, lambda m, a: m.abs(a) * 1j),
    "sel": (2, lambda m, a, b: m.where(m.real(a) > 0, a, b)),
    "rev_sum": (1, lambda m, a: a[::-1] + m.sum(a) * 0.1),
}


def _program(draw, depth):
    if depth == 0 or depth < 3 and draw(st.booleans()):
        return draw(st.sampled_from(["z", "w", "x", "c"]))
    op = draw(st.sampled_from(sorted(_OPS)))
    return (op,) + tuple(_program(draw, depth - 1) for _ in range(_OPS[op][0]))


def _run(e, m, z, w, x):
    if isinstance(e, str):
        return {"z": z, "w": w, "x": x, "c": 0.5 - 0.7j}[e] + 0 * z
    return _OPS[e[0]][1](m, *[_run(a, m, z, w, x) for a in e[1:]])


@settings(max_examples=25, deadline=None)
@given(st.data(), st.sampled_from([np.complex64, np.complex128]))
def test_random_complex_programs_match_jax(data, dtype):
    e = _program(data.draw, 4)
    z, w = rand_c(3, dtype, seed=7), rand_c(3, dtype, seed=8)
    x = np.linspace(-1, 1, 3).astype(np.float32 if dtype == np.complex64 else np.float64)
    loss = lambda z, w, x: fnp.sum(fnp.abs(_run(e, fnp, z, w, x)) ** 2)  # noqa: E731
    loss_j = lambda z, w, x: jnp.sum(jnp.abs(_run(e, jnp, z, w, x)) ** 2)  # noqa: E731
    want = jax.grad(loss_j, argnums=(0, 1, 2))(z, w, x)
    tol = dict(rtol=1e-3 if dtype == np.complex64 else 1e-9, atol=1e-3 if dtype ==
               np.complex64 else 1e-9)
    for got in (fg.grad(loss, argnums=(0, 1, 2))(z, w, x),
                fg.jit(fg.grad(loss, argnums=(0, 1, 2)))(z, w, x)):
        for g, wnt in zip(got, want):
            assert np.asarray(g).dtype == wnt.dtype
            np.testing.assert_allclose(g, wnt, **tol)
    out = lambda z: _run(e, fnp, z, w, x)  # noqa: E731
    t = rand_c(3, dtype, seed=9)
    _, got_t = fg.jvp(out, (z,), (t,))
    _, want_t = jax.jvp(lambda z: _run(e, jnp, z, w, x), (z,), (t,))
    np.testing.assert_allclose(got_t, want_t, **tol)
    got_v = fg.vmap(fg.grad(loss), in_axes=(0, None, None))(np.stack([z, w]), w, x)
    np.testing.assert_allclose(got_v, jax.vmap(jax.grad(loss_j), (0, None, None))(
        np.stack([z, w]), w, x), **tol)


def test_check_grads_perturbs_complex_inputs_and_catches_a_wrong_derivative():
    """fg.testing.check_grads on complex arguments: random real and imaginary directions, and
    the transpose test under JAX's pairing Re(sum(a * b)); it once perturbed them by zero."""
    z = np.array([1 + 2j, -0.5 + 0.3j])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: imaginary parts are compared too
        for f in (lambda z: z ** 2, fnp.conj, lambda z: fnp.abs(z) ** 2, fnp.real,
                  lambda z: fnp.exp(z) * fnp.conj(z)):
            fg.testing.check_grads(f, (z,), order=2)
    with pytest.raises(AssertionError, match="finite differences"):
        fg.testing.check_grads(lambda z: fg.lax.stop_gradient(z) * z, (z,), order=1)
