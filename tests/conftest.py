"""Test configuration: typecheck every linearized program, skip `gpu` tests without a GPU."""
import os
import sys

# One BLAS thread: on a small shared machine OpenBLAS's worker threads can make small matrix
# products orders of magnitude slower (set before NumPy loads, unless the caller chose).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from funcgrad.transforms import autodiff  # noqa: E402

autodiff.CHECK_LINEAR[0] = True


def _have_gpu() -> bool:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _have_gpu():
        return
    skip = pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
