"""Pictures of programs: `to_dot()`, the notebook display without Graphviz, and `.source`.

- A grad program's DOT draws its forward (primal + linearized) and backward (transposed)
  equations as two labelled clusters; the program's inputs and outputs are marked ("input 0",
  "output 0", their own shapes and colours), constants and literals are grey notes.
- Loop, branch, jit, custom-rule and checkpoint bodies are nested clusters labelled with the
  primitive and the role ("while body", "cond branch 1"), recursively; no `jaxpr={...}` box.
- `jit(f).lower(x).to_dot()` clusters the fused kernels (GPU lowering) or the forward and
  backward parts of a jitted grad.
- Without `dot`, the HTML shows the same structure as text: section headings, role headings and
  nested bodies indented under them.
- `.source` of a jitted loop, branch or scan shows the bodies' generated code.
- Every DOT text is valid for Graphviz (`dot -Tsvg`, when installed), and the 8th derivative of
  tanh still displays in under a second with and without `dot`.
"""
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import eqn_sections, ir_outline

HAS_DOT = shutil.which("dot") is not None


def clusters(dot: str) -> list[str]:
    """The labels of the DOT text's clusters, in order."""
    return re.findall(r'subgraph cluster_\d+ \{\nlabel="([^"]*)"', dot)


def check_dot(dot: str) -> str:
    """Graphviz accepts the text (when installed); returns the SVG (or "")."""
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    if not HAS_DOT:
        return ""
    res = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60)
    assert res.returncode == 0 and not res.stderr, res.stderr.decode()
    return res.stdout.decode()


def f_loss(x):
    return fnp.sum(fnp.tanh(x) * fnp.sin(x))


def loops(x):
    y = fg.fori_loop(0, 3, lambda i, c: c * 2.0 + fnp.sin(c), x)
    z = fg.cond(fnp.sum(y) > 0, lambda a: a + 1.0, lambda a: fnp.cos(a), y)
    w = fg.while_loop(lambda c: fnp.sum(c) < 10.0, lambda c: c * 3.0, z)
    _, ys = fg.scan(lambda c, a: (c + a, c * fnp.exp(a)), 0.0, w)
    return ys


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


# --- forward and backward ---------------------------------------------------------------------

def test_grad_program_has_forward_and_backward_clusters():
    ir = fg.make_ir(fg.grad(f_loss))(np.ones(3))
    dot = ir.to_dot()
    assert clusters(dot) == ["forward", "backward"]
    fwd, bwd = dot.split('label="backward"')
    # the primal functions are computed forward; the cotangent seed and its products backward
    assert 'label="tanh"' in fwd and 'label="sin"' in fwd and 'label="cos"' in fwd
    assert 'label="add"' in bwd and 'label="tanh"' not in bwd
    # the regions partition the equations: everything is forward or backward
    sects = eqn_sections(ir.open)
    assert set(sects) == {"forward", "backward"} and sects[0] == "forward"
    assert sects == sorted(sects, key=lambda s: s == "backward")  # one run each
    assert dot.count("shape=box") == len(ir.eqns)
    check_dot(dot)


def test_inputs_outputs_and_constants_are_marked():
    ir = fg.make_ir(fg.grad(f_loss))(np.ones(3))
    dot = ir.to_dot()
    (inp,) = [ln for ln in dot.splitlines() if "input 0" in ln]
    (out,) = [ln for ln in dot.splitlines() if "output 0" in ln]
    assert "shape=invhouse" in inp and "fillcolor=palegreen" in inp
    assert "peripheries=2" in out and "fillcolor=gold" in out
    lits = [ln for ln in dot.splitlines() if 'label="1.0"' in ln]
    assert lits and all("color=gray" in ln and "shape=note" in ln for ln in lits)
    closed = fg.make_ir(lambda x: x * np.arange(3.0))(np.ones(3))   # a constant array
    const = [ln for ln in closed.to_dot().splitlines() if "shape=note" in ln]
    assert len(const) == 1 and "color=gray" in const[0]
    svg = check_dot(dot)
    if svg:
        assert "input 0" in svg and "output 0" in svg and "forward" in svg and "backward" in svg


def test_plain_programs_have_no_sections():
    ir = fg.make_ir(f_loss)(np.ones(3))
    assert ir.open.regions == () or ir.open.regions == []
    assert clusters(ir.to_dot()) == []
    jv = fg.make_ir(lambda x: fg.jvp(f_loss, (x,), (x,))[1])(np.ones(3))
    assert clusters(jv.to_dot()) == []          # forward mode only: nothing transposed


def test_vjp_and_second_derivative_sections():
    ir = fg.make_ir(lambda x: fg.vjp(fnp.sin, x)[1](np.ones(3))[0])(np.ones(3))
    assert clusters(ir.to_dot()) == ["forward", "backward"]
    # the raw trace (make_ir's dead-code removal may drop a whole inner region): the inner grad's
    # backward pass is part of the outer forward; the outer's comes last
    # (sin of tanh: tanh's own inner backward pass is only the multiply by the unit seed, which
    # grad no longer stages, so its region would be empty and is not drawn)
    d2 = fg.make_ir(fg.grad(fg.grad(lambda x: fnp.sin(fnp.tanh(x)))), optimize=False)(1.0)
    labels = clusters(d2.to_dot())
    assert labels[0] == "forward" and labels[-1] == "backward 2" and "backward 1" in labels
    assert eqn_sections(d2.open)[-1] == "backward 2"
    check_dot(d2.to_dot())


def test_grad_values_are_unchanged_by_the_regions():
    x = np.linspace(-1, 1, 5)
    g = fg.grad(f_loss)(x)
    ir = fg.make_ir(fg.grad(f_loss))(x)
    np.testing.assert_allclose(ir(x)[0], g)
    np.testing.assert_allclose(g, (1 - np.tanh(x) ** 2) * np.sin(x) + np.tanh(x) * np.cos(x))


# --- nested bodies ----------------------------------------------------------------------------

def test_control_flow_bodies_are_nested_clusters():
    ir = fg.make_ir(loops)(np.ones(3))
    dot = ir.to_dot()
    labels = clusters(dot)
    for role in ["scan body", "cond branch 0", "cond branch 1", "while cond", "while body"]:
        assert role in labels, role
    assert "{...}" not in dot and "jaxpr=" not in dot
    # the bodies' own equations are drawn inside them
    body = dot.split('label="while body"')[1].split("}")[0]
    assert 'label="mul"' in body and "input 0" in body and "output 0" in body
    branch0 = dot.split('label="cond branch 0"')[1].split("}")[0]   # the false branch
    assert 'label="cos"' in branch0
    assert dot.count("shape=box") == sum(fg.ir.count_eqns(ir.open).values())
    check_dot(dot)


def test_nesting_is_recursive_and_covers_jit_custom_and_checkpoint():
    @fg.custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))
    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] / (1 + fnp.exp(-p[0]))))

    def f(x):
        inner = fg.jit(lambda c: fg.while_loop(lambda a: fnp.sum(a) < 5.0, lambda a: a + 1.0, c))
        y = fg.fori_loop(0, 2, lambda i, c: inner(c) * 0.5, x)
        return fg.checkpoint(lambda a: fnp.sin(softplus(a)))(y)
    dot = fg.make_ir(f)(np.ones(2)).to_dot()
    labels = clusters(dot)
    assert {"scan body", "jit body", "while body", "custom_jvp_call body",
            "checkpoint body"} <= set(labels)
    # the while loop sits inside the jit body, which sits inside the scan body
    scan_at = dot.index('label="scan body"')
    assert scan_at < dot.index('label="jit body"') < dot.index('label="while body"')
    check_dot(dot)


def test_grad_of_a_loop_draws_both_sections_and_bodies():
    def f(x):
        return fnp.sum(fg.fori_loop(0, 3, lambda i, c: fnp.sin(c) * 1.5, x))
    dot = fg.make_ir(fg.grad(f))(np.ones(2)).to_dot()
    labels = clusters(dot)
    assert "forward" in labels and "backward" in labels and "scan body" in labels
    check_dot(dot)


# --- Lowered ----------------------------------------------------------------------------------

def test_lowered_to_dot_of_a_jitted_grad_has_sections():
    lo = fg.jit(fg.grad(f_loss)).lower(np.ones(3))
    dot = lo.to_dot()
    assert clusters(dot) == ["forward", "backward"]
    assert dot.count("shape=box") == len(lo.ir.eqns)   # the optimised program
    assert "output 0" in dot
    check_dot(dot)


def test_lowered_to_dot_clusters_fused_kernels():
    w = np.ones((3, 3), np.float32)
    f = lambda x: fnp.tanh(fnp.dot(fnp.sin(x) * 2.0 + 1.0, w)) * 3.0
    lo = fg.jit(f, device="gpu").lower(np.ones(3, np.float32))
    assert len(lo.kernels) == 2
    dot = lo.to_dot()
    assert clusters(dot) == ["fused kernel 0", "fused kernel 1"]
    k0 = dot.split('label="fused kernel 0"')[1].split("}")[0]
    assert k0.count("shape=box") == len(lo.kernels[0].eqns)
    assert 'label="dot_general"' not in k0               # a library call, outside the kernels
    assert 'label="dot_general"' in dot
    check_dot(dot)


def test_lowered_shows_loops_as_clusters_and_displays():
    lo = fg.jit(loops).lower(np.ones(3))
    dot = lo.to_dot()
    assert {"scan body", "while body", "cond branch 1"} <= set(clusters(dot))
    bundle = lo._repr_mimebundle_()
    assert set(bundle) >= {"image/svg+xml", "text/html", "text/plain"}
    assert bundle["text/plain"] == repr(lo) and "def jitted" in bundle["text/plain"]
    check_dot(dot)


# --- HTML without dot -------------------------------------------------------------------------

def test_html_shows_sections_without_dot(no_dot):
    ir = fg.make_ir(fg.grad(f_loss))(np.ones(3))
    html = ir._repr_html_()
    assert "`dot` is absent" in html
    pre = html.split("<pre>")[1]
    assert pre.index("── forward ──") < pre.index("tanh") < pre.index("── backward ──")
    assert ir._repr_mimebundle_()["text/plain"] == str(ir)


def test_html_indents_nested_bodies_without_dot(no_dot):
    ir = fg.make_ir(loops)(np.ones(3))
    html = ir._repr_html_()
    pre = html.split("<pre>")[1].split("</pre>")[0]
    lines = pre.splitlines()
    role = [i for i, ln in enumerate(lines) if "while body:" in ln][0]
    indent = lambda ln: len(ln) - len(ln.lstrip(" "))
    # the body's rows follow its heading, indented deeper, and its `mul` is among them
    assert indent(lines[role + 1]) > indent(lines[role])
    body = lines[role + 1:role + 5]
    assert any("mul" in ln for ln in body)
    for role in ["scan body:", "cond branch 0:", "cond branch 1:", "while cond:"]:
        assert role in pre
    assert "{...}" not in pre
    rows = ir_outline(ir.open)
    assert [t for _, k, t in rows if k == "role"] == [
        "scan body:", "cond branch 0:", "cond branch 1:", "while cond:", "while body:",
        "scan body:"]


def test_outline_names_match_the_text_form():
    ir = fg.make_ir(fg.grad(f_loss))(np.ones(3))
    code = [t for _, k, t in ir_outline(ir.open) if k == "code"]
    assert [ln.strip() for ln in str(ir).splitlines()] == code


# --- .source ----------------------------------------------------------------------------------

def test_source_of_jitted_loops_shows_the_bodies():
    src = fg.jit(loops).lower(np.ones(3)).source
    assert src.startswith("def jitted(")
    for fn in ["scan_body", "cond_branch_0", "cond_branch_1", "while_cond", "while_body"]:
        assert f"def {fn}(" in src, fn
    # each body is headed by its role and the name that runs it in the caller
    callers = re.findall(r"# while body \(run by (_\w+) in jitted\)", src)
    assert callers and f"= {callers[0]}(" in src.split("\n\n")[0]
    body = src.split("def while_body(")[1].split("\n\n")[0]
    assert "_multiply" in body
    assert "_sin" in src.split("def scan_body(")[1] and "_cos" in src.split("def cond_branch_0(")[1]


def test_source_of_nested_loops_is_recursive():
    def f(x):
        return fg.fori_loop(0, 2, lambda i, c: fg.while_loop(
            lambda a: fnp.sum(a) < 50.0, lambda a: fnp.exp(a) + a, c), x)
    src = fg.jit(f).lower(np.zeros(2)).source
    assert "def scan_body(" in src and "def while_body(" in src
    assert re.search(r"# while body \(run by _\w+ in scan_body\)", src)
    np.testing.assert_allclose(fg.jit(f)(np.zeros(2)), f(np.zeros(2)))


def test_jitted_loops_still_compute_the_same():
    x = np.linspace(0.1, 0.5, 3)
    np.testing.assert_allclose(fg.jit(loops)(x), loops(x))


# --- speed ------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_dot", [True, False])
def test_eighth_derivative_displays_within_a_second(with_dot, request):
    if with_dot and not HAS_DOT:
        pytest.skip("Graphviz's dot is not installed")
    if not with_dot:
        request.getfixturevalue("no_dot")
    f = fnp.tanh
    for _ in range(8):
        f = fg.grad(f)
    ir = fg.make_ir(f, optimize=False)(1.0)        # the raw trace: every region kept
    t0 = time.perf_counter()
    bundle = ir._repr_mimebundle_()
    assert time.perf_counter() - t0 < 1.0
    assert "lines folded" in bundle["text/html"] and "── forward ──" in bundle["text/html"]
    t0 = time.perf_counter()
    dot = ir.to_dot()
    assert time.perf_counter() - t0 < 1.0
    # forward and the backward passes of orders 2-8 (the first order's is only the multiply by
    # the unit seed, which grad does not stage: an empty region is not drawn)
    assert clusters(dot) == ["forward"] + [f"backward {i}" for i in range(1, 8)]


def test_regions_survive_make_irs_dead_code_removal():
    f = lambda x: fnp.sum(fnp.tanh(x) * fnp.sin(x))
    raw = fg.make_ir(fg.grad(f), optimize=False)(np.ones(3)).open
    opt = fg.make_ir(fg.grad(f))(np.ones(3)).open
    assert len(opt.eqns) < len(raw.eqns)                  # the discarded loss is gone
    (_, a, b), = raw.regions
    (_, c, d), = opt.regions
    names = lambda eqns: [e.prim.name for e in eqns]     # noqa: E731
    assert names(opt.eqns[c:d]) == names(raw.eqns[a:b])    # the backward part is untouched
    assert names(opt.eqns[:c]) == ["tanh", "broadcast_in_dim", "mul", "sub", "sin", "cos"]
