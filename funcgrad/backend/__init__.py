"""Backend selection: NumPy by default, CuPy for arrays that live on an NVIDIA GPU."""
from __future__ import annotations

import numpy as np


def get_array_module(*xs):
    """The array module (numpy or cupy) that owns `xs` (the `xp` idiom)."""
    for x in xs:
        if hasattr(x, "__cuda_array_interface__"):
            from . import cupy_backend
            return cupy_backend.cupy_module()
    return np
