"""funcgrad: composable function transforms (grad, jvp, vjp, vmap, jit) over a typed IR,
for NumPy and CuPy arrays.

Quick tour:
    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> fg.grad(fg.grad(fnp.tanh))(0.5)  # doctest: +ELLIPSIS
    array(-0.6347...)
"""
from __future__ import annotations

from . import lax as lax  # noqa: F401  (fg.lax: JAX-habit names)
from . import numpy as numpy  # noqa: F401  (funcgrad.numpy, imported as fnp)
from . import parallel as parallel  # noqa: F401  (data parallelism over MPI)
from . import pytree as tree_util
from . import random as random  # noqa: F401  (fg.random: keys and distributions)
from . import scipy as scipy  # noqa: F401
from . import testing as testing
from . import tree as tree  # noqa: F401  (fg.tree: JAX-habit pytree names)
from .backend import device_put as device_put
from .backend import devices as devices
from .backend import to_numpy as device_get  # noqa: F401  (JAX's name)
from .backend import to_numpy as to_numpy
from .core import ConcretizationError as ConcretizationError
from .core import FuncgradError as FuncgradError
from .debug import debug_nans as debug_nans
from .io import load as load
from .io import save as save
from .ir import IR as IR
from .scipy import integrate as _integrate  # noqa: F401  (library layer: above transforms)
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
from .transforms.control_flow import cond as cond
from .transforms.control_flow import fori_loop as fori_loop
from .transforms.control_flow import scan as scan
from .transforms.control_flow import switch as switch
from .transforms.control_flow import while_loop as while_loop
from .transforms.custom import custom_jvp as custom_jvp
from .transforms.custom import custom_vjp as custom_vjp
from .transforms.jit.api import jit as jit
from .transforms.remat import checkpoint as checkpoint
from .transforms.vmap import vmap as vmap

__version__ = "0.1.0"


def __getattr__(name: str):
    """`fg.nn` and `fg.data` load on first use (they are not needed to import funcgrad)."""
    if name in ("nn", "data"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'funcgrad' has no attribute {name!r}")


__all__ = ["grad", "value_and_grad", "jvp", "vjp", "linearize", "jacfwd", "jacrev", "hessian",
           "vmap", "jit", "make_ir", "stop_gradient", "custom_jvp", "custom_vjp", "tree_util",
           "testing", "numpy", "scipy", "random", "nn", "IR", "FuncgradError",
           "ConcretizationError", "save", "load", "cond", "switch", "while_loop", "fori_loop",
           "scan", "devices", "device_put", "device_get", "to_numpy", "debug_nans", "checkpoint",
           "lax", "tree"]
