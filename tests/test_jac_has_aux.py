"""jacfwd / jacrev with has_aux, against JAX."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import FuncgradError

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_jacobian_with_aux_matches_jax(name):
    x, w = np.array([0.3, -1.2, 2.0]), np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])

    def f(x, w, np_=fnp):
        y = np_.tanh(w @ x)
        return y, {"norm": np_.sum(y * y), "x": x}
    jac, aux = getattr(fg, name)(f, has_aux=True)(x, w)
    jjac, jaux = getattr(jax, name)(lambda x, w: f(x, w, jax.numpy), has_aux=True)(x, w)
    np.testing.assert_allclose(jac, jjac, rtol=1e-9)
    np.testing.assert_allclose(aux["norm"], jaux["norm"], rtol=1e-9)
    np.testing.assert_allclose(aux["x"], x)
    jac2, aux2 = getattr(fg, name)(f, argnums=(0, 1), has_aux=True)(x, w)
    jjac2, _ = getattr(jax, name)(lambda x, w: f(x, w, jax.numpy), argnums=(0, 1),
                                  has_aux=True)(x, w)
    for g, want in zip(jac2, jjac2):
        np.testing.assert_allclose(g, want, rtol=1e-9)
    np.testing.assert_allclose(aux2["norm"], aux["norm"])
    with pytest.raises(FuncgradError, match="has_aux=True requires"):
        getattr(fg, name)(lambda x: fnp.sin(x), has_aux=True)(x)


def test_jacobian_with_aux_under_jit():
    f = fg.jit(fg.jacrev(lambda x: (fnp.sin(x), fnp.sum(x)), has_aux=True))
    jac, aux = f(np.array([0.1, 0.2]))
    np.testing.assert_allclose(jac, np.diag(np.cos([0.1, 0.2])))
    np.testing.assert_allclose(aux, 0.3)
