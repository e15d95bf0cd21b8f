"""A key consumed by one nn/data helper and reused by another is reported (cheaply, eagerly)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import data, nn


@pytest.fixture
def x():
    return np.ones((4, 3), np.float32)


def test_init_key_reused_for_the_data_order_warns(x):
    key = fg.random.key(123)
    nn.Linear(2).init(key, x)
    with pytest.warns(RuntimeWarning, match="consumed by nn init.*used again by DataLoader"):
        data.DataLoader((x, np.arange(4)), batch_size=2, key=key)


def test_init_key_reused_for_dropout_warns(x):
    key = fg.random.key(124)
    nn.Linear(3).init(key, x)
    with pytest.warns(RuntimeWarning, match="split the key|Split the key"):
        nn.Dropout(0.5).apply({}, x, train=True, key=key)


def test_split_keys_and_rerun_cells_are_quiet(x):
    key = fg.random.key(125)
    k_init, k_data, k_drop = fg.random.split(key, 3)
    model = nn.Sequential([nn.Linear(5), nn.Dropout(0.5), nn.Linear(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = model.init(k_init, x)
        params = model.init(k_init, x)  # the same cell run twice
        data.DataLoader((x, np.arange(4)), batch_size=2, key=k_data)
        model.apply(params, x, train=True, key=k_drop)
        fg.jit(lambda p, k: model.apply(p, x, train=True, key=k))(params, k_init)  # traced
