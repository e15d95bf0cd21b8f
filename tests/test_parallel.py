"""funcgrad.parallel: the single-process API here; the multi-process checks run as
`mpiexec -n 2` subprocesses (tests/mpi_*.py) with a timeout, so a hung rank fails the test."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, parallel
from funcgrad.parallel import _mpi
from funcgrad.parallel.collectives import COLLECTIVES, all_gather_p, pmean_p, psum_p

HERE = pathlib.Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
def _has_mpi() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return MPIEXEC is not None


needs_mpi = pytest.mark.skipif(not _has_mpi(), reason="needs mpi4py and mpiexec (the test "
                               "extra installs both: pip install -e \".[test]\")")


def mpiexec(script: str, n: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # the subprocesses import the funcgrad that this test imported
    root = str(pathlib.Path(fg.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(HERE / script)],
                          env=env, capture_output=True, text=True, timeout=timeout)


# --- multi-process --------------------------------------------------------------------------

@needs_mpi
def test_collectives_sgd_broadcast_and_sharding_on_two_ranks():
    # every collective eagerly, under jit, grad and vmap against NumPy; data-parallel SGD on
    # half batches == one process on the whole batch (float64, 1e-10); broadcast equalises
    # rank-dependent params; sharded DataLoader batches reunite to the single-process ones
    res = mpiexec("mpi_collectives.py")
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(re.findall(r"OK \d", res.stdout)) == ["OK 0", "OK 1"], res.stdout


@needs_mpi
def test_a_raising_rank_makes_the_others_fail_promptly():
    res = mpiexec("mpi_raise.py", timeout=60)  # a hang would raise TimeoutExpired
    assert res.returncode != 0
    assert "rank 1 of 2 raised ValueError; aborting all ranks" in res.stderr, res.stderr
    assert "passed a collective" not in res.stdout


# --- GPU arrays: NCCL, on the CuPy stand-in (tests/fakecupy: NCCL's calls run over MPI) -------

def _gpus() -> int:
    from funcgrad.backend import cupy_backend
    return cupy_backend.num_devices()


def _nccl_on_two_ranks():  # the subprocesses use the CuPy that $FUNCGRAD_CUPY names
    if os.environ.get("FUNCGRAD_CUPY") == "real" and _gpus() < 2:
        pytest.skip("NCCL needs one GPU per rank (it refuses two ranks on one GPU)")
    res = mpiexec("mpi_nccl.py", timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(re.findall(r"OK \d", res.stdout)) == ["OK 0", "OK 1"], res.stdout


@needs_mpi
@pytest.mark.gpu
def test_nccl_collectives_of_gpu_arrays_on_two_ranks():
    # psum/pmean/pmax/all_gather/broadcast of device arrays eagerly and under jit, jit(grad)
    # through each, and a data-parallel SGD step on the GPUs against one process on the host
    _nccl_on_two_ranks()


@needs_mpi
@pytest.mark.gpu
def test_nccl_collectives_under_eager_grad_on_two_ranks(monkeypatch):
    monkeypatch.setenv("EAGER_GRAD", "1")  # read by tests/mpi_nccl.py
    _nccl_on_two_ranks()


@pytest.mark.gpu
def test_one_process_gpu_collectives_and_the_missing_nccl_error(monkeypatch):
    from funcgrad.backend import cupy_backend, is_gpu_array
    assert parallel.device() == fg.devices()[1]  # rank 0: the first GPU
    x = fg.device_put(np.arange(3.0), parallel.device())
    assert parallel.psum(x) is x
    out = psum_p.bind(x)[0]  # the primitive itself, one rank: no NCCL involved
    assert is_gpu_array(out) and fg.to_numpy(out).tolist() == [0.0, 1.0, 2.0]
    nccl = cupy_backend.nccl_module()
    monkeypatch.setattr(nccl, "available", False)
    with pytest.raises(fg.FuncgradError, match="NCCL.*nvidia-nccl"):
        cupy_backend.nccl_module()


# --- one process: every collective is the identity, staging nothing -------------------------

TREE = {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(3, np.float32)}


def test_one_process_world():
    parallel.init()
    parallel.init()  # idempotent
    assert (parallel.rank(), parallel.size()) == (0, 1)
    parallel.barrier()


@pytest.mark.parametrize("fn", [parallel.psum, parallel.pmean, parallel.pmax, parallel.broadcast])
def test_one_process_collectives_are_the_identity(fn):
    assert fn(TREE) is TREE
    ir = fg.make_ir(lambda t: fn(t))(TREE)
    assert ir.open.eqns == []  # nothing staged: a jitted step pays nothing


def test_one_process_all_gather_adds_the_rank_axis():
    out = parallel.all_gather(TREE)
    np.testing.assert_array_equal(out["w"], TREE["w"][None])
    assert parallel.all_gather(TREE["w"], axis=-1).shape == (2, 3, 1)
    assert fg.jit(lambda t: parallel.all_gather(t, axis=1))(TREE)["b"].shape == (3, 1)


def test_the_primitives_rules_with_one_process():
    # bound directly (the wrappers skip them when size() == 1): impl, jit, jvp, vjp, vmap
    x, y = np.arange(3.0), np.ones((2, 2), np.float32)
    assert all(np.array_equal(a, b) for a, b in zip(psum_p.bind(x, y), [x, y]))
    f = fg.jit(lambda a, b: pmean_p.bind(a * 2, b))
    np.testing.assert_array_equal(f(x, y)[0], 2 * x)
    assert [e.prim.name for e in fg.make_ir(lambda a, b: psum_p.bind(a, b))(x, y).open.eqns] \
        == ["psum"]  # one equation for all the operands
    np.testing.assert_array_equal(fg.grad(lambda a: fnp.sum(psum_p.bind(a * a)[0]))(x), 2 * x)
    g = fg.grad(lambda a: fnp.sum(all_gather_p.bind(a, axes=(1,), axis_size=1)[0] ** 2))(x)
    np.testing.assert_array_equal(g, 2 * x)
    out = fg.vmap(lambda a: all_gather_p.bind(a, axes=(0,), axis_size=1)[0], in_axes=1)(y)
    assert out.shape == (2, 1, 2)
    for prim in COLLECTIVES:  # every rule slot filled or marked not applicable
        for slot in ("impl", "abstract_eval", "jvp", "transpose", "batch"):
            assert getattr(prim, slot) is not None, (prim, slot)


def test_pmean_rejects_integers_with_a_clear_error():
    with pytest.raises(fg.FuncgradError, match="pmean.*int64"):
        pmean_p.bind(np.arange(3))


def test_without_mpi4py_several_processes_ask_for_the_parallel_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # simulate its absence
    monkeypatch.setattr(_mpi, "WORLD", _mpi.World())
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(ImportError, match=r"funcgrad\[parallel\]"):
        parallel.init()
    monkeypatch.setenv("PMI_SIZE", "1")  # one process: fine without mpi4py
    parallel.init()
    assert parallel.size() == 1 and parallel.psum(TREE) is TREE


def test_sharded_loader_with_one_process_is_the_plain_loader():
    x, t = np.arange(10.0)[:, None], np.arange(10)
    a = data.DataLoader((x, t), 4, key=0, shard=True)
    b = data.DataLoader((x, t), 4, key=0)
    for (xa, ta), (xb, tb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)


MNIST = pathlib.Path(os.environ.get(
    "FUNCGRAD_MNIST", HERE.parent.parent / "shared" / "data" / "mnist"))


@needs_mpi
@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                    reason=f"the real MNIST test set is not in {MNIST}")
def test_the_data_parallel_mnist_example_on_two_ranks(tmp_path):
    ckpt = tmp_path / "params.npz"
    res = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(HERE.parent / "examples" /
                                                 "mnist_data_parallel.py"),
         "--limit", "1000", "--epochs", "2", "--save", str(ckpt), "--root", str(MNIST)],
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(
            pathlib.Path(fg.__file__).resolve().parent.parent)),
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [s for s in res.stdout.splitlines() if s.startswith("epoch ")]
    assert len(lines) == 2, res.stdout  # printed by rank 0 only
    assert float(lines[-1].split("held-out accuracy ")[1].split(";")[0]) > 0.6
    assert res.stdout.startswith("2 process(es)")
    saved = fg.load(ckpt)  # written once, by rank 0; a resumed one-process run starts there
    spec = importlib.util.spec_from_file_location(
        "mnist_data_parallel", HERE.parent / "examples" / "mnist_data_parallel.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(root=MNIST, epochs=0, limit=100, resume=ckpt, verbose=False)
    for a, b in zip(fg.tree_util.tree_leaves(out["params"]), fg.tree_util.tree_leaves(saved)):
        np.testing.assert_array_equal(a, b)
