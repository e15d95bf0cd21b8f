"""fg.save / fg.load: round trips, atomic writes, refusals (objects, pickles, corrupt files),
and template (``like=``) checks."""
import collections
import os
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
from funcgrad.nn import optim
from funcgrad.pytree import register_pytree_node, tree_leaves, tree_structure


class Pair(NamedTuple):
    a: object
    b: object


def assert_same(x, y):
    assert tree_structure(x) == tree_structure(y)
    for u, v in zip(tree_leaves(x), tree_leaves(y)):
        assert type(u) is type(v)
        if isinstance(u, (np.ndarray, np.generic)):
            assert u.dtype == v.dtype and np.shape(u) == np.shape(v)
        np.testing.assert_array_equal(u, v)


def test_round_trip_params_and_optimizer_state(tmp_path):
    params = {"0": {"W": np.arange(6, dtype=np.float32).reshape(2, 3),
                    "b": np.zeros(3, np.float32)},
              "1": {"W": np.ones((3, 1), np.float32), "b": np.float32(0.5)}}
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    state = opt.init(params)
    grads = {k: {n: np.ones_like(v) for n, v in d.items()} for k, d in params.items()}
    _, state = opt.update(grads, state, params)
    tree = {"params": params, "opt_state": state, "epoch": 3, "lr": 0.1, "done": False}
    path = tmp_path / "ckpt.npz"
    fg.save(path, tree)
    back = fg.load(path)
    assert_same(back, tree)
    assert isinstance(back["opt_state"][1][0], optim.ScaleByAdamState)
    assert back["epoch"] == 3 and type(back["epoch"]) is int


def test_all_builtin_node_types_round_trip(tmp_path):
    tree = [
        (np.int64(7), None, [np.array([True, False])]),
        {"x": Pair(np.float16(1.5), {}), "e": [], "s": np.array(["ab", "c"])},
        {5: np.ones(1), 2: None},
        collections.OrderedDict([("z", np.ones(2)), ("a", 2.5 + 1j)]),
        np.zeros((0, 3), np.uint8),
    ]
    fg.save(tmp_path / "t.npz", tree)
    back = fg.load(tmp_path / "t.npz")
    assert_same(back, tree)
    assert list(back[3]) == ["z", "a"] and type(back[1]["x"]) is Pair
    assert sorted(back[2]) == [2, 5]


def test_entries_are_named_by_key_path_and_readable_by_numpy(tmp_path):
    fg.save(tmp_path / "m.npz", {"layers": [{"W": np.ones(2)}], "b": np.zeros(1)})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["__funcgrad_tree__", "b", "layers/0/W"]
        np.testing.assert_array_equal(f["layers/0/W"], np.ones(2))


def test_plain_numpy_npz_loads_as_flat_dict(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3), b=np.eye(2))
    back = fg.load(tmp_path / "plain.npz")
    assert sorted(back) == ["a", "b"]
    np.testing.assert_array_equal(back["b"], np.eye(2))


def test_colliding_key_names_stay_distinct(tmp_path):
    tree = {"a/b": np.array(1.0), "a": {"b": np.array(2.0)}}
    fg.save(tmp_path / "c.npz", tree)
    assert_same(fg.load(tmp_path / "c.npz"), tree)


arrays = st.builds(
    lambda shape, dt, seed: np.random.default_rng(seed).normal(size=shape).astype(dt),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.sampled_from([np.float32, np.float64, np.int32, np.int8, np.bool_]),
    st.integers(0, 1000))
trees = st.recursive(
    arrays | st.none(),
    lambda ch: st.lists(ch, max_size=3) | st.lists(ch, max_size=3).map(tuple)
    | st.dictionaries(st.text("abcxyz_/", min_size=1, max_size=4), ch, max_size=3),
    max_leaves=8)


@settings(max_examples=40, deadline=None)
@given(trees)
def test_random_trees_round_trip(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("h") / "t.npz"
    fg.save(path, tree)
    assert_same(fg.load(path), tree)
    assert_same(fg.load(path, like=tree), tree)


# --- atomicity -------------------------------------------------------------------------------

def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    fg.save(path, {"w": np.ones(3)})
    before = path.read_bytes()

    def exploding_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(KeyboardInterrupt):
        fg.save(path, {"w": np.zeros(3)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temp file left behind
    monkeypatch.undo()
    np.testing.assert_array_equal(fg.load(path)["w"], np.ones(3))


def test_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        fg.save(tmp_path / "new.npz", {"w": np.ones(3)})
    assert os.listdir(tmp_path) == []


def test_save_compressed(tmp_path):
    tree = {"w": np.zeros((100, 100))}
    fg.save(tmp_path / "c.npz", tree, compress=True)
    fg.save(tmp_path / "u.npz", tree)
    assert (tmp_path / "c.npz").stat().st_size < (tmp_path / "u.npz").stat().st_size / 10
    assert_same(fg.load(tmp_path / "c.npz"), tree)


# --- refusals ----------------------------------------------------------------------------------

def test_object_arrays_are_refused_and_nothing_is_written(tmp_path):
    bad = {"ok": np.ones(2), "bad": np.array([1, "two", None], dtype=object)}
    with pytest.raises(fg.FuncgradError, match=r"\['bad'\].*objects.*pickle"):
        fg.save(tmp_path / "x.npz", bad)
    assert os.listdir(tmp_path) == []


def test_loading_a_file_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))  # numpy pickles object arrays
    with pytest.raises(fg.FuncgradError, match="never unpickles"):
        fg.load(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "t.npz"
    fg.save(path, {"w": np.arange(10000.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(fg.FuncgradError, match="t.npz.*truncated or corrupt"):
        fg.load(path)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF                        # one corrupted byte: CRC mismatch
    path.write_bytes(bytes(flipped))
    with pytest.raises(fg.FuncgradError, match="t.npz.*CRC.*truncated or corrupt"):
        fg.load(path)


def test_garbage_and_missing_files(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(fg.FuncgradError, match="junk.npz"):
        fg.load(path)
    with pytest.raises(fg.FuncgradError, match="no such file.*nope.npz"):
        fg.load(tmp_path / "nope.npz")


def test_corrupt_tree_entry(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, __funcgrad_tree__=np.frombuffer(b"{not json", np.uint8), w=np.ones(1))
    with pytest.raises(fg.FuncgradError, match="corrupt"):
        fg.load(path)


def test_traced_leaves_and_bad_keys_are_refused(tmp_path):
    def f(x):
        fg.save(tmp_path / "x.npz", {"x": x})
        return x
    with pytest.raises(fg.FuncgradError, match="traced value"):
        fg.grad(lambda x: f(x) * 1.0)(1.0)
    with pytest.raises(fg.FuncgradError, match="str or int keys"):
        fg.save(tmp_path / "k.npz", {1.5: np.ones(1)})
    with pytest.raises(fg.FuncgradError, match="does not exist"):
        fg.save(tmp_path / "no" / "dir.npz", {"a": np.ones(1)})


def test_unknown_namedtuple_needs_like(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    fg.save(path, Pair(np.ones(1), np.zeros(1)))
    monkeypatch.setattr(Pair, "_fields", ("x", "y"))   # "the class changed"
    with pytest.raises(fg.FuncgradError, match="like="):
        fg.load(path)
    monkeypatch.undo()
    assert type(fg.load(path)) is Pair


# --- like= -----------------------------------------------------------------------------------

class Box:
    def __init__(self, w, b):
        self.w, self.b = w, b


register_pytree_node(Box, lambda x: ((x.w, x.b), None), lambda aux, ch: Box(*ch))


def test_like_restores_custom_nodes(tmp_path):
    path = tmp_path / "box.npz"
    fg.save(path, {"box": Box(np.ones(2), np.zeros(3))})
    with pytest.raises(fg.FuncgradError, match="like="):
        fg.load(path)
    back = fg.load(path, like={"box": Box(np.empty(2), np.empty(3))})
    assert isinstance(back["box"], Box)
    np.testing.assert_array_equal(back["box"].w, np.ones(2))


def test_like_mismatches_name_the_key_path(tmp_path):
    path = tmp_path / "m.npz"
    params = {"0": {"W": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)}}
    fg.save(path, params)
    with pytest.raises(fg.FuncgradError, match=r"shape mismatch at key path \['0'\]\['W'\]"):
        fg.load(path, like={"0": {"W": np.ones((3, 2), np.float32), "b": np.zeros(3)}})
    with pytest.raises(fg.FuncgradError, match=r"dtype mismatch at key path \['0'\]\['b'\]"):
        fg.load(path, like={"0": {"W": np.ones((2, 3), np.float32), "b": np.zeros(3)}})
    with pytest.raises(fg.FuncgradError, match=r"no entry for key path \['1'\]\['W'\]"):
        fg.load(path, like={**params, "1": {"W": np.ones(1)}})
    with pytest.raises(fg.FuncgradError, match="template lacks"):
        fg.load(path, like={"0": {"W": np.ones((2, 3), np.float32)}})
    back = fg.load(path, like=params)
    assert_same(back, params)


def test_checkpoint_resume_reproduces_the_uninterrupted_run(tmp_path):
    from funcgrad import data
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    t = (x @ np.array([1.0, -1.0, 2.0], np.float32))

    def loss(p, xb, tb):
        return ((xb @ p["w"] + p["b"] - tb) ** 2).mean()

    opt = optim.adam(optim.exponential_decay(0.05, 5, 0.9))

    def train(params, state, loader, epochs):
        for _ in range(epochs):
            for xb, tb in loader:
                g = fg.grad(loss)(params, xb, tb)
                u, state = opt.update(g, state, params)
                params = optim.apply_updates(params, u)
        return params, state

    p0 = {"w": np.zeros(3, np.float32), "b": np.zeros((), np.float32)}
    full = train(p0, opt.init(p0), data.DataLoader((x, t), 8, key=3), 4)

    loader = data.DataLoader((x, t), 8, key=3)
    half = train(p0, opt.init(p0), loader, 2)
    fg.save(tmp_path / "ckpt.npz", {"params": half[0], "opt_state": half[1],
                                    "epoch": loader.epoch})
    ck = fg.load(tmp_path / "ckpt.npz")
    resumed_loader = data.DataLoader((x, t), 8, key=3)
    resumed_loader.epoch = ck["epoch"]
    resumed = train(ck["params"], ck["opt_state"], resumed_loader, 2)
    assert_same(resumed, full)   # bit-for-bit the same run


def test_optimizer_state_restored_through_like(tmp_path):
    params = {"W": np.ones((2, 2), np.float32), "b": np.zeros(2, np.float32)}
    opt = optim.sgd(optim.piecewise_constant(0.1, {5: 0.1}), momentum=0.9)
    state = opt.init(params)
    grads = {"W": np.full((2, 2), 0.5, np.float32), "b": np.ones(2, np.float32)}
    _, state = opt.update(grads, state, params)
    fg.save(tmp_path / "s.npz", state)
    back = fg.load(tmp_path / "s.npz", like=opt.init(params))
    assert_same(back, state)
    assert isinstance(back[0], optim.TraceState)
    assert isinstance(back[1], optim.ScaleByScheduleState) and int(back[1].count) == 1
