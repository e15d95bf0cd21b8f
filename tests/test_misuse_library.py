"""Misuse of the library layer gets a funcgrad error that names what was wrong, the user's line
and the fix (checkpoints, PRNG seeds, optimizer trees)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import funcgrad as fg
from funcgrad.core import FuncgradError
from funcgrad.nn import optim

HERE = os.path.basename(__file__)


def _raises(fn, *needles):
    with pytest.raises(FuncgradError) as info:
        fn()
    msg = str(info.value)
    assert HERE in msg, msg  # the user's line
    for n in needles:
        assert n in msg, (n, msg)
    return msg


def test_save_to_a_directory_names_it_and_suggests_a_file(tmp_path):
    _raises(lambda: fg.save(tmp_path, {"w": np.ones(2)}), "is a directory",
            os.path.join(str(tmp_path), "params.npz"))
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_save_where_nothing_can_be_written_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    fg.save(path, {"w": np.ones(2)})

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("tempfile.mkstemp", refuse)
    _raises(lambda: fg.save(path, {"w": np.zeros(2)}), "cannot write in the directory",
            "Permission denied", "Nothing was written")
    monkeypatch.undo()
    np.testing.assert_array_equal(fg.load(path)["w"], np.ones(2))


def test_load_of_a_directory_or_an_npy_says_what_it_is(tmp_path):
    _raises(lambda: fg.load(tmp_path), "is a directory, not a checkpoint file")
    np.save(tmp_path / "x.npy", np.arange(3.0))
    _raises(lambda: fg.load(tmp_path / "x.npy"), "single .npy array", "np.load")


def test_a_seed_beyond_64_bits_is_refused_rather_than_colliding():
    _raises(lambda: fg.random.key(2 ** 70), "does not fit in 64 bits", "same key as 0")
    _raises(lambda: fg.random.key(-(2 ** 63) - 1), "does not fit in 64 bits")
    assert not np.array_equal(fg.random.key(2 ** 64 - 1), fg.random.key(0))
    np.testing.assert_array_equal(fg.random.key(-1), fg.random.key(2 ** 64 - 1))


@pytest.mark.parametrize("make", [optim.adam, optim.sgd, optim.rmsprop])
def test_optimizer_update_with_another_tree_names_both_and_the_fix(make):
    opt = make(1e-2)
    params = {"w": np.ones(2)}
    state = opt.init(params)
    _raises(lambda: opt.update({"v": np.ones(2)}, state, params), "optimizer update",
            "different structures", "opt.init(params)")


def test_apply_updates_with_another_tree():
    _raises(lambda: optim.apply_updates({"w": np.ones(2)}, [np.ones(2)]),
            "optim.apply_updates", "different structures")
