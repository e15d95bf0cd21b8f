"""The book-step examples added for steps that had none: VGG16 (58) and nn.summary, SimpleRNN
(59), the optimizer comparison (44-47), graph pictures (25-26), tensors (37-41), Dropout (54)."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import nn

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_vgg16_summary_counts_138m_parameters():
    text = load("step58_vgg16").summary()
    assert text.splitlines()[-1].split()[-1] == "138,357,544"
    assert "(1, 512, 7, 7)" in text and "fc6" in text and "102,764,544" in text
    mlp = nn.summary(nn.MLP((10, 3)), np.zeros((2, 4), np.float32))
    assert mlp.splitlines()[-1].split()[-1] == str(4 * 10 + 10 + 10 * 3 + 3)


def test_vgg16_preprocess():
    img = np.random.default_rng(0).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    x = nn.VGG16.preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    same = nn.VGG16.preprocess(img, size=None)
    np.testing.assert_allclose(same[0], img[:, :, 2] - 103.939, atol=1e-4)  # BGR, mean removed


def test_vgg16_converted_weights_forward_pass(tmp_path):
    """Book-format weights (random here: nothing is downloaded) -> conversion script ->
    VGG16.load_params -> 138,357,544 parameters -> one forward pass on a 224x224 image."""
    conv = load("convert_vgg16_weights")
    rng = np.random.default_rng(0)
    flat = {}
    for layer, shapes in conv.expected_shapes().items():
        fan = int(np.prod(shapes["W"][1:])) if layer.startswith("conv") else shapes["W"][0]
        flat[f"{layer}/W"] = (rng.standard_normal(shapes["W"], dtype=np.float32)
                              * np.float32(np.sqrt(1 / fan)))
        flat[f"{layer}/b"] = np.zeros(shapes["b"], np.float32)
    np.savez(tmp_path / "vgg16.npz", **flat)
    del flat
    conv.convert(tmp_path / "vgg16.npz", tmp_path / "vgg16_fg.npz")
    params = nn.VGG16.load_params(tmp_path / "vgg16_fg.npz")
    assert nn.count_params(params) == 138_357_544
    img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    y = nn.VGG16().apply(params, nn.VGG16.preprocess(img)[None])
    assert y.shape == (1, 1000) and np.all(np.isfinite(np.asarray(y)))
    top5 = load("step58_vgg16").classify(params, img)
    assert len(top5) == 5 and top5[0][0] == int(np.argmax(np.asarray(y)))
    with pytest.raises(fg.FuncgradError):
        fg.save(tmp_path / "bad.npz", {"conv1_1": {"W": np.zeros((3, 3))}})
        nn.VGG16.load_params(tmp_path / "bad.npz")


def test_step25_graph_pictures(tmp_path):
    res = load("step25_graph_pictures").main(out=tmp_path / "goldstein.png")
    assert res["dot"].startswith("digraph") and "mul" in res["dot"]
    assert res["grad_eqns"] > res["eqns"] > 30
    assert (tmp_path / "goldstein.dot").exists() and (tmp_path / "goldstein_grad.dot").exists()


def test_step37_tensors():
    r = load("step37_tensors").main()
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_allclose(r["sin_grad"], np.cos(x))
    np.testing.assert_array_equal(r["reshape_grad"], np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(r["transpose_grad"], np.arange(6.0).reshape(3, 2).T)
    np.testing.assert_array_equal(r["sum_axis0"], np.tile(2 * x.sum(axis=0), (2, 1)))
    np.testing.assert_array_equal(r["broadcast"], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(r["matmul_gx"], np.ones((2, 4)) @ r["matmul_W"].T)
    np.testing.assert_allclose(r["matmul_gW"], x.T @ np.ones((2, 4)))


def test_step45_optimizers_compared(tmp_path):
    mod = load("step45_optimizers")
    res = mod.main(sine_steps=300)
    assert set(res["paths"]) == {"SGD", "Momentum", "AdaGrad", "AdaDelta", "Adam"}
    start = mod.bowl(np.array([-7.0, 2.0]))
    for name, f in res["finals"].items():
        assert f < start / 50, name                 # every optimizer approaches the minimum
        assert res["paths"][name].shape == (31, 2)
    assert all(v[-1] < v[0] for v in res["sine"].values())
    pytest.importorskip("matplotlib")
    mod.plot(res, tmp_path / "opt.png")
    assert (tmp_path / "opt.png").stat().st_size > 1000


def test_step54_dropout():
    r = load("step54_dropout").main()
    assert abs(r["zeroed"] - 0.5) < 0.01 and abs(r["train_mean"] - 1.0) < 0.02
    assert r["test_is_identity"] and r["test_accuracy"] > 0.9


def test_step59_simple_rnn():
    r = load("step59_simple_rnn").main(epochs=20)
    assert r["losses"][-1] < r["losses"][0] / 10
    assert r["cos_mse"] < 0.02
