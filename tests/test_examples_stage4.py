"""The book's stage-4 examples (steps 42-53) print what the book records.

- step 42: W = [[2.11807369]], b = [5.46608905] to the printed precision (and the last loss,
  0.0790860651, which a recompute of the book's run gives);
- step 43: the loss every 1,000 iterations equals a forward/backward pass written out in NumPy;
- step 48: the spiral loss falls from about 1.1 to the book's level (about 0.1) over 300 epochs;
- step 51: a quick MNIST run reaches a sane held-out accuracy; the ReLU+Adam MLP reaches 95 %;
- step 53: a run saved with fg.save and resumed from the file equals an uninterrupted run.
"""
import gzip
import importlib.util
import os
import pathlib
import struct
import sys

import numpy as np
import pytest

from funcgrad.core import FuncgradError

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
MNIST_ROOT = pathlib.Path(os.environ.get(  # conftest sets it when the data is found
    "FUNCGRAD_MNIST",
    pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"))
have_mnist = pytest.mark.skipif(
    not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists(),
    reason=f"the real MNIST test set is not in {MNIST_ROOT}")


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- step 42 -----------------------------------------------------------------------------------

def test_step42_linear_regression_prints_the_books_numbers(capsys):
    mod = load("step42_linear_regression")
    res = mod.main()
    assert str(res["W"]) == "[[2.11807369]]"          # what the book prints
    assert str(res["b"]) == "[5.46608905]"
    assert np.round(res["W"], 8).tolist() == [[2.11807369]]
    assert np.round(res["b"], 8).tolist() == [5.46608905]
    assert len(res["losses"]) == 100
    assert round(res["losses"][-1], 10) == 0.0790860651
    # the closed-form least-squares line for the same data is where gradient descent heads
    x, y = mod.make_data()
    A = np.hstack([x, np.ones_like(x)])
    w_ls, b_ls = np.linalg.lstsq(A, y, rcond=None)[0][:, 0]
    assert abs(res["W"][0, 0] - w_ls) < abs(0.0 - w_ls)
    assert abs(res["b"][0] - b_ls) < 0.1


# --- step 43 -----------------------------------------------------------------------------------

def _sine_by_hand(iters, lr=0.2, every=1000):
    """The same run, forward and backward written out in NumPy (the oracle)."""
    rng = np.random.RandomState(0)
    x = rng.rand(100, 1)
    y = np.sin(2 * np.pi * x) + rng.rand(100, 1)
    W1, b1 = 0.01 * rng.randn(1, 10), np.zeros(10)
    W2, b2 = 0.01 * rng.randn(10, 1), np.zeros(1)
    out = []
    for i in range(iters):
        h = 1 / (1 + np.exp(-(x @ W1 + b1)))
        d = h @ W2 + b2 - y
        if i % every == 0:
            out.append((i, float(np.sum(d ** 2) / len(d))))
        gy = 2 * d / len(d)
        ga = (gy @ W2.T) * h * (1 - h)
        W2, b2 = W2 - lr * h.T @ gy, b2 - lr * gy.sum(0)
        W1, b1 = W1 - lr * x.T @ ga, b1 - lr * ga.sum(0)
    return out


def test_step43_sine_mlp_matches_numpy_by_hand():
    res = load("step43_sine_mlp").main()
    expected = _sine_by_hand(10000)
    assert [i for i, _ in res["printed"]] == list(range(0, 10000, 1000))
    np.testing.assert_allclose([v for _, v in res["printed"]], [v for _, v in expected],
                               rtol=1e-9)
    assert res["printed"][0][1] > 0.8 and res["final_loss"] < 0.08  # it fits the sine


# --- step 48 -----------------------------------------------------------------------------------

def test_step48_spiral_loss_falls_to_the_books_level(capsys):
    mod = load("step48_spiral")
    res = mod.main(verbose=True, every=100)
    losses = np.array(res["losses"])
    assert len(losses) == 300
    assert 1.0 < losses[0] < 1.3                      # about ln 3 at the start
    assert losses[-1] < 0.15                          # figure 48-2 ends near 0.1
    windows = losses.reshape(10, 30).mean(axis=1)     # falls steadily, window by window
    assert np.all(np.diff(windows) < 0)
    assert res["train_accuracy"] > 0.9
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"epoch 1, loss {losses[0]:.2f}"
    assert f"epoch 300, loss {losses[-1]:.2f}" in out
    again = mod.main(max_epoch=3)                    # seeded: the same run twice
    assert again["losses"] == res["losses"][:3]


def test_step48_spiral_test_accuracy_and_plot_message(monkeypatch, tmp_path):
    mod = load("step48_spiral")
    res = mod.main(max_epoch=300, test=True)
    assert res["test_accuracy"][-1] > 0.85            # step 50: train and test agree
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # as if it were not installed
    with pytest.raises(SystemExit, match="matplotlib"):
        mod.plot(res, str(tmp_path / "spiral.png"))


def test_step48_and_step43_plots_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")  # optional dependency (funcgrad[examples])
    mod = load("step48_spiral")
    mod.plot(mod.main(max_epoch=5), str(tmp_path / "spiral.png"))
    sine = load("step43_sine_mlp")
    sine.plot(sine.main(iters=10), str(tmp_path / "sine.png"))
    assert (tmp_path / "spiral.png").stat().st_size > 1000
    assert (tmp_path / "sine.png").stat().st_size > 1000


# --- step 51 -----------------------------------------------------------------------------------

@have_mnist
def test_step51_mnist_quick_runs(capsys):
    mod = load("step51_mnist")
    res = mod.main(model="relu", epochs=1, limit=2000, verbose=True)
    assert (res["n_train"], res["n_eval"]) == (2000, 2000)
    out = capsys.readouterr().out
    assert "first 8,000" in out and "last 2,000" in out and "--limit" in out
    relu = res["relu"]["history"][0]
    # measured (seed 0): relu+Adam 85.5 % held-out after these 20 steps
    assert relu["test_accuracy"] > 0.80
    assert relu["train_loss"] < 1.2 and relu["test_loss"] < 0.7
    assert f"test loss: {relu['test_loss']:.4f}, accuracy: {relu['test_accuracy']:.4f}" in out
    # the book's sigmoid net with SGD(0.01) learns slowly: measured held-out losses 2.294,
    # 2.263, 2.234, 2.207 and accuracy 17.7 % -> 31.9 % over 4 epochs of 20 steps
    sig = mod.main(model="sigmoid", epochs=4, limit=2000)["sigmoid"]["history"]
    losses = [r["test_loss"] for r in sig]
    assert losses[0] < np.log(10) and np.all(np.diff(losses) < 0)
    assert sig[-1]["test_accuracy"] > 0.25


@have_mnist
@pytest.mark.slow
def test_step51_relu_adam_reaches_95_percent():
    # the issue asks for >= 95 % on the held-out 2,000 within 10 epochs; measured (seed 0)
    # 92.6 % after epoch 1, 95.05 % after 2, 95.95 % after 3 and 96.95 % after 10; three epochs
    # keep it short with a margin (epoch 2 sits at the threshold, where BLAS summation order
    # can move one digit)
    res = load("step51_mnist").main(model="relu", epochs=3)
    assert (res["n_train"], res["n_eval"]) == (8000, 2000)
    assert max(r["test_accuracy"] for r in res["relu"]["history"]) >= 0.95


def _write_idx(path, arr, magic):
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_step51_uses_the_standard_split_when_the_training_files_exist(tmp_path):
    mod = load("step51_mnist")
    rng = np.random.default_rng(0)
    for train, n in ((True, 30), (False, 12)):
        img, lbl = mod.data.MNIST_FILES[train]
        _write_idx(tmp_path / img, rng.integers(0, 256, (n, 28, 28)), 2051)
        _write_idx(tmp_path / lbl, rng.integers(0, 10, (n,)), 2049)
    x_tr, t_tr, x_ev, t_ev, desc = mod.load_split(tmp_path)
    assert (len(t_tr), len(t_ev)) == (30, 12) and "standard split" in desc
    os.remove(tmp_path / mod.data.MNIST_FILES[True][0])       # only the test set left
    x_tr, t_tr, x_ev, t_ev, desc = mod.load_split(tmp_path)
    assert (len(t_tr), len(t_ev)) == (12, 0) and "first 8,000" in desc
    with pytest.raises(FuncgradError, match="t10k-images"):
        mod.load_split(tmp_path / "missing")


# --- step 53 -----------------------------------------------------------------------------------

@have_mnist
def test_step53_resumed_run_equals_uninterrupted_run(tmp_path):
    mod = load("step53_checkpoint")
    x, t = mod.load_train(MNIST_ROOT, limit=600)
    res = mod.demo(x, t, epochs=3, split=2, workdir=tmp_path)
    assert res["equal"] and res["max_diff"] == 0.0
    assert res["resumed_losses"] == res["full_losses"]
    assert int(res["full"]["epoch"]) == 3
    # the velocity buffers are real state: dropping them changes the continuation
    import funcgrad as fg
    trainer = mod.Trainer(x, t)
    ckpt, _ = trainer.run(trainer.fresh(x[:1]), 2)
    ckpt["opt_state"] = fg.tree_util.tree_map(np.zeros_like, ckpt["opt_state"])
    wrong, _ = trainer.run(ckpt, 1)
    assert not np.array_equal(wrong["params"]["0"]["W"], res["full"]["params"]["0"]["W"])


@have_mnist
def test_step53_book_mode_resumes_from_the_file(tmp_path, capsys):
    mod = load("step53_checkpoint")
    path = str(tmp_path / "my_mlp.npz")
    args = ["--root", str(MNIST_ROOT), "--ckpt", path, "--epochs", "1", "--limit", "300"]
    mod.main(args)
    assert "starting from scratch" in capsys.readouterr().out
    second = mod.main(args)
    assert "loaded" in capsys.readouterr().out and int(second["ckpt"]["epoch"]) == 2
    x, t = mod.load_train(MNIST_ROOT, limit=300)
    trainer = mod.Trainer(x, t)
    full, losses = trainer.run(trainer.fresh(x[:1]), 2)
    assert second["losses"] == losses[1:]
    np.testing.assert_array_equal(second["ckpt"]["params"]["0"]["W"], full["params"]["0"]["W"])
