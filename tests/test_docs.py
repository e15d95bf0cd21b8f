"""What a notebook shows for a program, and the documentation site.

- An IR displays as a Graphviz picture when `dot` is installed and the program is small, and as
  the folded text form otherwise: never nothing, never a hang (the 8th derivative of tanh,
  thousands of equations, displays in well under a second with and without `dot`).
- `mkdocs build --strict` passes (when mkdocs is installed: the `docs` extra).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent


def nth_derivative(f, n):
    for _ in range(n):
        f = fg.grad(f)
    return f


def show(ir):
    """What IPython computes for a displayed object, and how long it took."""
    t0 = time.perf_counter()
    bundle = ir._repr_mimebundle_()
    seconds = time.perf_counter() - t0
    assert ir._repr_svg_() is not None and ir._repr_html_() is not None
    return bundle, seconds


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


@pytest.mark.parametrize("with_dot", [True, False])
def test_large_program_displays_fast(with_dot, request):
    if with_dot and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    if not with_dot:
        request.getfixturevalue("no_dot")
    ir = fg.make_ir(nth_derivative(fnp.tanh, 8))(1.0)
    assert len(ir.eqns) > 1000                      # thousands of equations: folded
    bundle, seconds = show(ir)
    assert seconds < 1.0
    assert set(bundle) >= {"image/svg+xml", "text/html", "text/plain"}
    html = bundle["text/html"]
    assert f"{len(ir.eqns)} equations" in html and "lines folded" in html
    assert len(html) < 20_000                      # folded, not 2,580 lines
    assert bundle["image/svg+xml"].startswith("<svg")


def test_small_program_is_a_picture_with_dot():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    ir = fg.make_ir(fg.grad(fnp.tanh))(1.0)
    bundle, seconds = show(ir)
    assert "<svg" in bundle["image/svg+xml"] and "<svg" in bundle["text/html"]
    assert "tanh" in bundle["image/svg+xml"] and "<pre>" not in bundle["text/html"]
    assert seconds < 5.0


def test_small_program_is_text_without_dot(no_dot):
    ir = fg.make_ir(fg.grad(fnp.tanh))(1.0)
    bundle, _ = show(ir)
    assert "`dot` is absent" in bundle["text/html"]
    assert "tanh" in bundle["text/html"] and "{ lambda" in bundle["text/html"]
    assert bundle["text/plain"] == str(ir)


def test_loop_body_is_counted_and_shown(no_dot):
    f = lambda x: fg.while_loop(lambda c: c < 10.0, lambda c: fnp.sin(c) + 2.0 * c, x)
    bundle, _ = show(fg.make_ir(f)(1.0))
    html = bundle["text/html"]
    assert "sin" in html and "while" in html and re.search(r"\b[4-9] equations", html)


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_jupyter")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "index.html").exists()


def test_book_map_covers_every_step_and_docs_copy_matches():
    readme = (ROOT / "examples" / "README.md").read_text()
    rows = [ln for ln in readme.splitlines() if ln.startswith("| ") and ln.split("|")[1].strip()
            .isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, 61))
    for r in rows:                         # every script named in the map exists
        for name in r.split("|")[3].split("`"):
            if name.endswith(".py") and " " not in name and "/" not in name:
                assert (ROOT / "examples" / name).exists(), name
    book = (ROOT / "docs" / "book.md").read_text()
    assert all(r in book for r in rows), "docs/book.md is out of date with examples/README.md"


def test_docstrings_cite_nothing_outside_the_repository():
    for path in list((ROOT / "funcgrad").rglob("*.py")) + list((ROOT / "examples").rglob("*.py")):
        text = path.read_text()
        for name in ("SEEDS.md", "STYLE.md", "DESIGN.md"):
            assert name not in text, f"{path.relative_to(ROOT)} cites {name}"


def test_docs_nav_lists_every_notebook_and_api_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    for nb in (ROOT / "examples" / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{nb.name}" in nav, nb.name
    for page in (ROOT / "docs" / "api").glob("*.md"):
        assert f"api/{page.name}" in nav, page.name
    assert (ROOT / "docs" / "notebooks").resolve() == (ROOT / "examples" / "notebooks").resolve()
