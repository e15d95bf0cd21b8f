"""funcgrad.data: the book's datasets, MNIST IDX reading (real test set and synthetic broken
files), DataLoader epochs/ordering/determinism and SeqDataLoader offsets."""
import gzip
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
from funcgrad import data

MNIST_DIR = os.environ.get("FUNCGRAD_MNIST", "")  # set by conftest when the data is found
HAVE_MNIST = os.path.isfile(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz"))


# --- spiral / sin_curve ------------------------------------------------------------------------

def test_spiral_matches_the_book():
    x, t = data.spiral(train=True)
    assert x.shape == (300, 2) and x.dtype == np.float32
    assert t.shape == (300,) and np.issubdtype(t.dtype, np.integer)
    # S49: Spiral(train=True)[0]; section 6: the upstream generator's x[10], x[110]
    np.testing.assert_allclose(x[0], [-0.13981389, -0.00721657], rtol=1e-6)
    assert t[0] == 1
    np.testing.assert_allclose(x[10], [-0.12995958, -0.00324155], rtol=1e-6)
    np.testing.assert_allclose(x[110], [0.3282343, -0.54941994], rtol=1e-6)
    assert (t[10], t[110]) == (1, 0)
    assert np.bincount(t).tolist() == [100, 100, 100]
    for j in range(3):  # radii are i/100 for i = 0..99 in every arm
        r = np.sort(np.hypot(x[t == j, 0], x[t == j, 1]))
        np.testing.assert_allclose(r, np.arange(100) / 100, atol=1e-6)


def test_spiral_is_deterministic_and_leaves_global_rng_alone():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    x1, t1 = data.spiral()
    after = np.random.random()
    assert before == after
    x2, t2 = data.spiral()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)
    xt, tt = data.spiral(train=False)
    assert not np.allclose(xt, x1) and np.bincount(tt).tolist() == [100, 100, 100]


def test_sin_curve():
    x, t = data.sin_curve(train=True)
    assert x.shape == t.shape == (999, 1) and x.dtype == np.float64
    np.testing.assert_array_equal(x[1:], t[:-1])           # label = next value
    grid = np.linspace(0, 2 * np.pi, 1000)
    noise = x[:, 0] - np.sin(grid[:-1])
    assert np.abs(noise).max() <= 0.05 and noise.std() > 0.02
    np.testing.assert_array_equal(data.sin_curve()[0], x)  # seeded: deterministic
    assert not np.array_equal(data.sin_curve(seed=1)[0], x)
    xc, tc = data.sin_curve(train=False)
    np.testing.assert_allclose(xc[:, 0], np.cos(grid[:-1]))
    np.testing.assert_allclose(tc[:, 0], np.cos(grid[1:]))


# --- MNIST -------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_MNIST, reason="the real MNIST test files are not present")
def test_mnist_real_test_set():
    x, t = data.mnist(MNIST_DIR, train=False)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    assert t.shape == (10000,) and t.dtype == np.int64
    assert t[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(t).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    raw, _ = data.mnist(MNIST_DIR, train=False, flatten=False, normalize=False)
    assert raw.shape == (10000, 1, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(raw.reshape(10000, -1) / np.float32(255), x)


@pytest.mark.skipif(not HAVE_MNIST, reason="the real MNIST test files are not present")
def test_mnist_missing_train_files_explain_themselves():
    with pytest.raises(fg.FuncgradError) as e:
        data.mnist(MNIST_DIR, train=True)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and "never downloads" in msg
    assert data.MNIST_URL in msg and "train=False" in msg


def _idx(magic, dims, payload):
    header = np.array([magic, *dims], dtype=">i4").tobytes()
    return header + bytes(payload)


def _write_idx(root, train=False, n=5, rows=4, cols=4, magic_img=2051, magic_lbl=2049,
               n_labels=None, img_bytes=None, gz=True):
    names = data.MNIST_FILES[train]
    pixels = (np.arange(n * rows * cols) % 256).astype(np.uint8).tobytes()
    if img_bytes is not None:
        pixels = pixels[:img_bytes]
    labels = (np.arange(n if n_labels is None else n_labels) % 10).astype(np.uint8).tobytes()
    files = [(names[0], _idx(magic_img, (n, rows, cols), pixels)),
             (names[1], _idx(magic_lbl, (len(labels),), labels))]
    for name, content in files:
        if gz:
            with gzip.open(os.path.join(root, name), "wb") as f:
                f.write(content)
        else:
            with open(os.path.join(root, name[:-3]), "wb") as f:
                f.write(content)


def test_mnist_synthetic_valid_files(tmp_path):
    _write_idx(tmp_path, train=True, n=5)
    x, t = data.mnist(tmp_path, train=True)
    assert x.shape == (5, 16) and t.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(x[1], np.arange(16, 32) / 255)
    x4, _ = data.mnist(tmp_path, train=True, flatten=False)
    assert x4.shape == (5, 1, 4, 4)


def test_mnist_unpacked_files_are_accepted(tmp_path):
    _write_idx(tmp_path, n=3, gz=False)
    assert data.mnist(tmp_path, train=False)[0].shape == (3, 16)


def test_mnist_bad_magic(tmp_path):
    _write_idx(tmp_path, magic_img=2049)
    with pytest.raises(fg.FuncgradError, match="t10k-images.*magic number 2049.*2051"):
        data.mnist(tmp_path, train=False)
    _write_idx(tmp_path, magic_lbl=2051)
    with pytest.raises(fg.FuncgradError, match="t10k-labels.*magic number 2051.*2049"):
        data.mnist(tmp_path, train=False)


def test_mnist_truncated_payload(tmp_path):
    _write_idx(tmp_path, n=5, img_bytes=70)
    with pytest.raises(fg.FuncgradError, match="truncated.*announces shape \\(5, 4, 4\\)"):
        data.mnist(tmp_path, train=False)


def test_mnist_truncated_gzip_stream(tmp_path):
    _write_idx(tmp_path, n=50, rows=28, cols=28)
    path = tmp_path / data.MNIST_FILES[False][0]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(fg.FuncgradError, match="truncated"):
        data.mnist(tmp_path, train=False)


def test_mnist_not_gzip_and_header_only(tmp_path):
    _write_idx(tmp_path)
    (tmp_path / data.MNIST_FILES[False][0]).write_bytes(b"definitely not gzip")
    with pytest.raises(fg.FuncgradError, match="not a valid gzip"):
        data.mnist(tmp_path, train=False)
    with gzip.open(tmp_path / data.MNIST_FILES[False][0], "wb") as f:
        f.write(b"\x00\x00")
    with pytest.raises(fg.FuncgradError, match="shorter than its 16-byte header"):
        data.mnist(tmp_path, train=False)


def test_mnist_count_mismatch_and_missing_folder(tmp_path):
    _write_idx(tmp_path, n=5, n_labels=4)
    with pytest.raises(fg.FuncgradError, match="5 images but .* 4 labels"):
        data.mnist(tmp_path, train=False)
    with pytest.raises(fg.FuncgradError, match="does not exist"):
        data.mnist(tmp_path / "nowhere", train=False)


# --- DataLoader --------------------------------------------------------------------------------

def _toy(n=23):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n)


def test_loader_len_batches_and_coverage():
    x, t = _toy(23)
    loader = data.DataLoader((x, t), batch_size=5, key=fg.random.key(0))
    assert len(loader) == 5
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(23))      # every example exactly once
    assert seen.tolist() != list(range(23))               # and shuffled
    for xb, tb in batches:
        np.testing.assert_array_equal(xb, x[tb])          # x and t stay aligned
    dl = data.DataLoader((x, t), batch_size=5, drop_last=True, key=1)
    assert len(dl) == 4 and [len(b[1]) for b in dl] == [5, 5, 5, 5]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 70), st.booleans(), st.booleans(), st.integers(0, 5))
def test_loader_epochs_partition_the_data(n, batch_size, drop_last, shuffle, seed):
    x, t = _toy(n)
    loader = data.DataLoader((x, t), batch_size, shuffle=shuffle, key=seed, drop_last=drop_last)
    expected_len = n // batch_size if drop_last else -(-n // batch_size)
    assert len(loader) == expected_len
    for _ in range(2):                                    # two epochs
        batches = [tb for _, tb in loader]
        assert len(batches) == expected_len
        assert all(len(b) == batch_size for b in batches[:-1])
        seen = np.concatenate(batches).tolist() if batches else []
        assert len(set(seen)) == len(seen)                # no example twice in an epoch
        assert len(seen) == (n - n % batch_size if drop_last else n)
        if not shuffle:
            assert seen == list(range(len(seen)))


def test_loader_reshuffles_each_epoch_deterministically():
    x, t = _toy(40)
    a = data.DataLoader((x, t), 8, key=fg.random.key(7))
    b = data.DataLoader((x, t), 8, key=fg.random.key(7))
    ea1 = np.concatenate([tb for _, tb in a])
    ea2 = np.concatenate([tb for _, tb in a])
    eb1 = np.concatenate([tb for _, tb in b])
    np.testing.assert_array_equal(ea1, eb1)               # same key, same batches
    assert not np.array_equal(ea1, ea2)                   # new order next epoch
    assert a.epoch == 2
    c = data.DataLoader((x, t), 8, key=fg.random.key(8))
    assert not np.array_equal(ea1, np.concatenate([tb for _, tb in c]))
    seeded = data.DataLoader((x, t), 8, key=7)            # an int seed is key(seed)
    np.testing.assert_array_equal(np.concatenate([tb for _, tb in seeded]), ea1)
    resumed = data.DataLoader((x, t), 8, key=fg.random.key(7))
    resumed.epoch = 1                                      # resume at the second epoch
    np.testing.assert_array_equal(np.concatenate([tb for _, tb in resumed]), ea2)
    np.testing.assert_array_equal(a.order(0), ea1)


def test_loader_without_shuffle_and_without_key():
    x, t = _toy(10)
    plain = data.DataLoader((x, t), 4, shuffle=False)
    assert [tb.tolist() for _, tb in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    anon = data.DataLoader((x, t), 10)  # key=None: OS entropy, still a permutation
    (_, tb), = list(anon)
    assert sorted(tb.tolist()) == list(range(10))


def test_loader_on_dataset_objects_and_single_arrays():
    class Squares:
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i, i * i], np.float32), i

    loader = data.DataLoader(Squares(), 3, shuffle=False)
    (x0, t0), *_ = list(loader)
    np.testing.assert_array_equal(x0, [[0, 0], [1, 1], [2, 4]])
    assert t0.tolist() == [0, 1, 2] and len(loader) == 3
    single = data.DataLoader(np.arange(6), 4, shuffle=False)
    assert [b.tolist() for b in single] == [[0, 1, 2, 3], [4, 5]]


def test_loader_next_protocol():
    x, t = _toy(5)
    loader = data.DataLoader((x, t), 2, shuffle=False)
    assert next(loader)[1].tolist() == [0, 1]
    assert next(loader)[1].tolist() == [2, 3]
    assert next(loader)[1].tolist() == [4]
    with pytest.raises(StopIteration):
        next(loader)
    assert next(loader)[1].tolist() == [0, 1]             # the next epoch starts


def test_loader_errors():
    with pytest.raises(fg.FuncgradError, match="different lengths"):
        data.DataLoader((np.zeros(3), np.zeros(4)), 2)
    with pytest.raises(fg.FuncgradError, match="batch_size"):
        data.DataLoader(_toy(), 0)
    with pytest.raises(fg.FuncgradError, match="key"):
        data.DataLoader(_toy(), 2, key=np.zeros(3))
    with pytest.raises(fg.FuncgradError, match="tuple of arrays"):
        data.DataLoader(42, 2)


def test_loader_progress_bar(monkeypatch):
    import types
    calls = []

    class FakeBar:
        def __init__(self, total, desc, **kw):
            calls.append(("new", total, desc))

        def update(self, n):
            calls.append(("update", n))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    x, t = _toy(9)
    out = list(data.DataLoader((x, t), 3, key=0, progress="train"))
    assert len(out) == 3
    assert calls == [("new", 3, "train")] + [("update", 1)] * 3 + [("close",)]
    monkeypatch.setitem(sys.modules, "tqdm", None)        # tqdm not installed
    with pytest.raises(fg.FuncgradError, match="pip install tqdm"):
        list(data.DataLoader((x, t), 3, key=0, progress=True))


def test_loader_progress_bar_with_real_tqdm(capsys):
    pytest.importorskip("tqdm")
    x, t = _toy(9)
    assert len(list(data.DataLoader((x, t), 3, key=0, progress=True))) == 3
    assert "epoch 0" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_MNIST, reason="the real MNIST test files are not present")
def test_loader_on_mnist_is_fast():
    import time
    x, t = data.mnist(MNIST_DIR, train=False)
    loader = data.DataLoader((x[:8000], t[:8000]), 100, key=fg.random.key(0))
    start = time.perf_counter()
    shapes = {xb.shape for xb, _ in loader}
    assert shapes == {(100, 784)} and len(loader) == 80
    assert time.perf_counter() - start < 1.0


# --- SeqDataLoader -----------------------------------------------------------------------------

def test_seq_loader_offsets_like_the_book():
    x, t = data.sin_curve()
    loader = data.SeqDataLoader((x, t), batch_size=3)
    assert len(loader) == 333
    xb, tb = next(iter(loader))
    np.testing.assert_array_equal(xb, x[[0, 333, 666]])
    np.testing.assert_array_equal(tb, t[[0, 333, 666]])
    batches = list(loader)
    assert len(batches) == 333
    for k in (1, 100, 332):
        np.testing.assert_array_equal(batches[k][0], x[[k, 333 + k, 666 + k]])
    # each row is a contiguous stream: this batch's inputs are the last batch's targets
    np.testing.assert_array_equal(batches[5][0], batches[4][1])


def test_seq_loader_wraps_around():
    idx = np.arange(10)
    loader = data.SeqDataLoader((idx, idx), batch_size=3)   # jump 3, ceil(10/3) = 4 batches
    assert [b[0].tolist() for b in loader] == [[0, 3, 6], [1, 4, 7], [2, 5, 8], [3, 6, 9]]
    loader = data.SeqDataLoader((idx, idx), batch_size=4)   # jump 2, 3 batches
    assert [b[0].tolist() for b in loader] == [[0, 2, 4, 6], [1, 3, 5, 7], [2, 4, 6, 8]]
