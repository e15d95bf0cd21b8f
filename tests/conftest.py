"""Test configuration: typecheck every linearized program; run `gpu` tests on real CuPy or on the
CuPy stand-in.

`$FUNCGRAD_CUPY` picks the CuPy that `gpu`-marked tests use: `real` (CuPy and a GPU), `standin`
(`tests/fakecupy`, a strict CPU stand-in: no GPU needed), `none` (skip them), or `auto` (the
default: real CuPy where it sees a GPU, else the stand-in). Real CuPy and the stand-in are both
`cupy` and never share one interpreter: in a stand-in run real CuPy cannot be imported at all,
and the stand-in is importable only inside `gpu` tests (the rest of the suite sees this machine as
it is). The decision is written back to `$FUNCGRAD_CUPY`, so subprocesses make the same one.
"""
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile

# One BLAS thread: on a small shared machine OpenBLAS's worker threads can make small matrix
# products orders of magnitude slower (set before NumPy loads, unless the caller chose).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

# native (Numba) code compiled by the tests is cached here, not in the user's home directory
os.environ.setdefault("FUNCGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="funcgrad-test-cache-"))

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


FAKECUPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakecupy")
_CUPY_NAMES = ("cupy", "cupyx", "cupy_backends")


def _cupy_mode() -> str:
    mode = os.environ.get("FUNCGRAD_CUPY", "auto")
    if mode not in ("auto", "real", "standin", "none"):
        raise ValueError(f"FUNCGRAD_CUPY={mode!r}: use auto, real, standin or none")
    if mode != "auto":
        return mode
    if importlib.util.find_spec("cupy") is None:
        return "standin"
    probe = "import sys, cupy; sys.exit(cupy.cuda.runtime.getDeviceCount() < 1)"
    try:  # in a subprocess: real CuPy must not load into a stand-in run
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "standin"
    return "real" if r.returncode == 0 else "standin"


CUPY_MODE = os.environ["FUNCGRAD_CUPY"] = _cupy_mode()
_standin_modules: dict = {}


class _NoRealCupy:
    """A stand-in run keeps real CuPy out of the interpreter: outside `gpu` tests, `import cupy`
    fails as if CuPy were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _CUPY_NAMES:
            raise ModuleNotFoundError(f"No module named {name!r} (FUNCGRAD_CUPY=standin: the "
                                      f"CuPy stand-in is only importable inside `gpu` tests)")
        return None


if CUPY_MODE == "standin":
    sys.meta_path.insert(0, _NoRealCupy())


@contextlib.contextmanager
def standin_cupy():
    """The CuPy stand-in as `cupy`/`cupyx` for the duration (funcgrad's CuPy cache reset)."""
    from funcgrad.backend import cupy_backend
    assert not any(k.partition(".")[0] in _CUPY_NAMES for k in sys.modules), "real CuPy loaded"
    if not _standin_modules:
        blocker = [f for f in sys.meta_path if isinstance(f, _NoRealCupy)]
        for f in blocker:
            sys.meta_path.remove(f)
        sys.path.insert(0, FAKECUPY)
        try:
            import cupy  # noqa: F401  (the stand-in: FAKECUPY is first on sys.path)
            import cupyx  # noqa: F401
        finally:
            sys.path.remove(FAKECUPY)
            sys.meta_path[:0] = blocker
        _standin_modules.update({k: v for k, v in sys.modules.items()
                                 if k.partition(".")[0] in _CUPY_NAMES})
    sys.modules.update(_standin_modules)
    cupy_backend._cupy.clear()
    try:
        yield _standin_modules["cupy"]
    finally:
        for k in _standin_modules:
            sys.modules.pop(k, None)
        cupy_backend._cupy.clear()  # the rest of the suite sees this machine as it is


@pytest.fixture(autouse=True)
def _cupy_for_gpu_tests(request):
    if CUPY_MODE != "standin" or request.node.get_closest_marker("gpu") is None:
        yield
        return
    with standin_cupy():
        yield


def pytest_collection_modifyitems(config, items):
    if CUPY_MODE != "none":
        return
    skip = pytest.mark.skip(reason="FUNCGRAD_CUPY=none: GPU tests are off")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
