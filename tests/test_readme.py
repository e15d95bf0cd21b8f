"""Every ```python block of README.md runs as written, in order, in one namespace.

The blocks run in a temporary folder (they write files such as ``mlp.npz``); the MNIST block
reads the IDX files from ``$FUNCGRAD_MNIST`` (set by conftest.py when the data is found) and the
test skips when the data is absent.
"""
import os
import pathlib
import re

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_blocks():
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2
    assert all("import" in b for b in blocks[:1])


def run_blocks(blocks, ns):
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md block {i + 1}", "exec"), ns)  # the README's own code


def test_readme_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__readme__"}
    blocks = python_blocks(README.read_text())
    run_blocks(blocks[:1], ns)
    out = capsys.readouterr().out
    assert "def " in out and "{ lambda" in out      # the lowered source and the IR text
    fg, fnp = ns["fg"], ns["fnp"]
    # the numbers the first block's lines compute
    d = fnp.tanh
    for _ in range(8):
        d = fg.grad(d)
    assert abs(float(d(1.0)) - ns["d"](1.0)) == 0
    assert float(fg.grad(lambda x0: fg.while_loop(ns["cond"], ns["body"], x0))(1.0)) == 1.5 ** 6
    g_eager, g_jit = float(fg.grad(ns["newton"])(1.0)), float(fg.jit(fg.grad(ns["newton"]))(1.0))
    eps = 1e-6
    fd = (float(ns["newton"](1.0 + eps)) - float(ns["newton"](1.0 - eps))) / (2 * eps)
    assert abs(g_eager - g_jit) < 1e-12 and abs(g_eager - fd) < 1e-5
    if not os.environ.get("FUNCGRAD_MNIST"):
        pytest.skip("the README's second block trains on MNIST, which is absent")
    run_blocks(blocks[1:], ns)
    # the second block trained (the loss of the last batch is far below log(10) = 2.30)
    assert float(ns["loss"]) < 0.5
    assert (tmp_path / "mlp.npz").exists()
    np.testing.assert_array_equal(fg.load("mlp.npz")["0"]["W"], ns["params"]["0"]["W"])
