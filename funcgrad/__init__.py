"""funcgrad: composable function transforms (grad, jvp, vjp, vmap, jit) over a typed IR,
for NumPy and CuPy arrays.

Quick tour:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> fg.grad(fg.grad(fnp.tanh))(0.5)  # doctest: +ELLIPSIS
    array(-0.6347...)
"""
from __future__ import annotations

from . import numpy as numpy  # noqa: F401  (funcgrad.numpy, imported as fnp)
from . import pytree as tree_util
from . import scipy as scipy  # noqa: F401
from . import testing as testing
from .core import ConcretizationError as ConcretizationError
from .core import FuncgradError as FuncgradError
from .ir import IR as IR
from .staging import make_ir as make_ir
from .transforms.autodiff import grad as grad
from .transforms.autodiff import hessian as hessian
from .transforms.autodiff import jacfwd as jacfwd
from .transforms.autodiff import jacrev as jacrev
from .transforms.autodiff import jvp as jvp
from .transforms.autodiff import linearize as linearize
from .transforms.autodiff import stop_gradient as stop_gradient
from .transforms.autodiff import value_and_grad as value_and_grad
from .transforms.autodiff import vjp as vjp
from .transforms.custom import custom_jvp as custom_jvp
from .transforms.custom import custom_vjp as custom_vjp
from .transforms.vmap import vmap as vmap

__version__ = "0.1.0"
__all__ = ["grad", "value_and_grad", "jvp", "vjp", "linearize", "jacfwd", "jacrev", "hessian",
           "vmap", "make_ir", "stop_gradient", "custom_jvp", "custom_vjp", "tree_util",
           "testing", "numpy", "scipy", "IR", "FuncgradError", "ConcretizationError"]
