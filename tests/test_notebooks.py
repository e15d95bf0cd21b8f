"""Every notebook in examples/notebooks runs top to bottom (each asserts its key numbers in its
own cells) and is stored with its outputs stripped.

The kernel imports funcgrad from this checkout (PYTHONPATH) and inherits this process's
environment: one BLAS thread (conftest.py), ``$FUNCGRAD_MNIST`` for the notebooks that train on
MNIST (skipped when the data is absent), matplotlib's inline backend (no display needed).
"""
import os
import pathlib
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
NEEDS_MNIST = {"03_neural_networks", "04_stage5_cnn_rnn", "05_vae_gan"}

nbformat = pytest.importorskip("nbformat")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    if path.stem in NEEDS_MNIST and not os.environ.get("FUNCGRAD_MNIST"):
        pytest.skip("needs the MNIST IDX files ($FUNCGRAD_MNIST)")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    print(f"{path.name}: {time.perf_counter() - t0:.1f} s")
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}))
    assert images >= 2, f"{path.name} shows {images} pictures"
