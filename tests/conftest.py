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


def _find_mnist():
    """The folder with the real MNIST IDX files: $FUNCGRAD_MNIST, else ../shared/data/mnist next
    to the repository, else this machine's /work/shared/data/mnist. Tests and examples read
    $FUNCGRAD_MNIST, so a clone anywhere finds the data."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for p in (os.environ.get("FUNCGRAD_MNIST"), os.path.join(repo, "..", "shared", "data", "mnist"),
              "/work/shared/data/mnist"):
        if p and os.path.isfile(os.path.join(p, "t10k-images-idx3-ubyte.gz")):
            return os.path.abspath(p)
    return None


if _find_mnist():
    os.environ["FUNCGRAD_MNIST"] = _find_mnist()

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
