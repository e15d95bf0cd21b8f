"""Smoke test of benchmarks/small_programs.py: its `--check-only` mode runs every workload once
in every framework and checks that the results agree (no timing), so a change that breaks the
benchmark, or makes funcgrad disagree with JAX, autograd, PyTorch or the hand-written NumPy
code on it, fails here."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")
pytest.importorskip("autograd")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_small_programs_check_only():
    script = os.path.join(ROOT, "benchmarks", "small_programs.py")
    proc = subprocess.run([sys.executable, script, "--quick", "--check-only"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all results agree" in proc.stdout
