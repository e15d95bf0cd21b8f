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
