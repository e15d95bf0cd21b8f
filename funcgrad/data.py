"""Datasets and loaders: ``spiral``, ``sin_curve``, ``mnist``, ``DataLoader``, ``SeqDataLoader``.

A dataset is either a tuple of equally long arrays, e.g. ``(x, t)`` (what ``spiral``,
``sin_curve`` and ``mnist`` return), a single array, or any object with ``__len__`` and
``__getitem__(i) -> (x_i, t_i)``. Loaders yield NumPy batches; shuffling is driven by an
explicit key, so every run sees the same batches::

    from funcgrad import data
    x, t = data.spiral(train=True)                      # (300, 2) float32, (300,) int64
    loader = data.DataLoader((x, t), batch_size=30, key=fg.random.key(0))
    for epoch in range(300):
        for xb, tb in loader:                           # a new order every epoch
            ...

``DataLoader(..., shard=True)`` splits every global batch into one contiguous share per MPI rank
(``funcgrad.parallel``), for data-parallel training.

Nothing here downloads anything: ``mnist`` reads the standard IDX files from a folder you
provide and explains where to get them when they are missing.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Any

import numpy as np

from . import parallel
from . import random as fgr
from .backend import is_gpu_array
from .core import FuncgradError, user_frame

__all__ = ["spiral", "sin_curve", "mnist", "DataLoader", "SeqDataLoader", "MNIST_FILES",
           "MNIST_URL"]


# --- toy datasets (the book's generators, deterministic) ---------------------------------------

def spiral(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved spiral arms, 100 points each: ``x`` float32 ``(300, 2)``, ``t`` int64.

    Point ``i`` of arm ``j`` has radius ``r = i/100`` and angle
    ``θ = 4j + 4r + 0.2·n`` with ``n`` standard normal noise; ``x = (r sin θ, r cos θ)``, label
    ``j``; the 300 points are then shuffled. The noise and the shuffle come from NumPy's legacy
    generator seeded with 1984 (train) or 2020 (test), so the data equal the book's exactly
    (e.g. ``spiral()[0][0] == [-0.13981389, -0.00721657]`` with label 1). NumPy's global random
    state is not touched.
    """
    rng = np.random.RandomState(1984 if train else 2020)
    num_data, num_class = 100, 3
    noise = rng.randn(num_class * num_data)  # drawn arm by arm, point by point
    j = np.repeat(np.arange(num_class), num_data)
    rate = np.tile(np.arange(num_data) / num_data, num_class)
    theta = j * 4.0 + 4.0 * rate + noise * 0.2
    x = np.stack([rate * np.sin(theta), rate * np.cos(theta)], axis=1).astype(np.float32)
    t = j.astype(np.int64)
    order = rng.permutation(num_class * num_data)
    return x[order], t[order]


def sin_curve(train: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A next-value prediction sequence: ``x[k] = y_k``, ``t[k] = y_{k+1}``, shapes ``(999, 1)``.

    ``y`` samples one period on ``linspace(0, 2π, 1000)``: ``sin`` plus uniform noise in
    ``[−0.05, 0.05)`` for training (seeded with ``seed``, so it is deterministic), a clean
    ``cos`` for testing. float64, as in the book. ``x[1:] == t[:-1]``.
    """
    grid = np.linspace(0, 2 * np.pi, 1000)
    if train:
        noise = np.random.default_rng(seed).uniform(-0.05, 0.05, size=grid.shape)
        y = np.sin(grid) + noise
    else:
        y = np.cos(grid)
    return y[:-1, None].copy(), y[1:, None].copy()


# --- MNIST from local IDX files ------------------------------------------------------------------

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def _find_idx(root: str, name: str, train: bool, where: str) -> str:
    for candidate in (name, name[:-3]):  # the .gz file, or the same file already unpacked
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    present = sorted(os.listdir(root)) if os.path.isdir(root) else None
    hint = ""
    if train and present and all(f in present for f in MNIST_FILES[False]):
        hint = ("\nThis folder holds only the 10,000-image test set: load it with train=False "
                "and split it yourself, e.g. x[:8000] for training and x[8000:] for evaluation.")
    folder = (f"the folder {root!r} holds {present}" if present is not None
              else f"the folder {root!r} does not exist")
    return _raise(
        f"data.mnist: the file {name!r} is missing: {folder}, at {where}\n"
        f"funcgrad never downloads. Get the four IDX files (train-images-idx3-ubyte.gz, "
        f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
        f"from a mirror such as {MNIST_URL} and put them in {os.path.abspath(root)!r}.{hint}")


def _raise(msg: str) -> Any:
    raise FuncgradError(msg)


def _read_bytes(path: str, where: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except EOFError:
        return _raise(f"data.mnist: {path!r} is truncated (the gzip stream ends early); "
                      f"download it again, at {where}")
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        return _raise(f"data.mnist: {path!r} is not a valid gzip file ({e}); download it "
                      f"again, at {where}")


def _read_idx(path: str, magic: int, where: str) -> np.ndarray:
    """Parse one IDX file: big-endian int32 magic, int32 dims, then uint8 data."""
    raw = _read_bytes(path, where)
    ndim = 3 if magic == _IMAGES_MAGIC else 1
    header = 4 * (1 + ndim)
    if len(raw) < header:
        return _raise(f"data.mnist: {path!r} is truncated: {len(raw)} bytes, shorter than its "
                      f"{header}-byte header; download it again, at {where}")
    fields = np.frombuffer(raw, dtype=">i4", count=1 + ndim)
    if int(fields[0]) != magic:
        kind = "images" if magic == _IMAGES_MAGIC else "labels"
        return _raise(f"data.mnist: {path!r} has magic number {int(fields[0])}, but an IDX "
                      f"{kind} file starts with {magic}; is it the right file (images vs "
                      f"labels) and not corrupted? at {where}")
    dims = tuple(int(d) for d in fields[1:])
    expected = header + math.prod(dims)
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        return _raise(f"data.mnist: {path!r} is {state}: the header announces shape {dims} "
                      f"({expected} bytes in all) but the file has {len(raw)} bytes; download it"
                      f" again, at {where}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def mnist(root: str | os.PathLike, train: bool = True, flatten: bool = True,
          normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits read from the standard IDX files in the folder ``root``.

    Reads ``train-images-idx3-ubyte.gz``/``train-labels-idx1-ubyte.gz`` (``train=True``,
    60,000 images) or ``t10k-images-idx3-ubyte.gz``/``t10k-labels-idx1-ubyte.gz`` (10,000),
    also accepting them unpacked (without ``.gz``). Magic numbers (2051 images, 2049 labels),
    sizes, truncation and the images/labels count are verified. Never downloads.

    Args:
        root: Folder holding the IDX files.
        train: Which split to read.
        flatten: ``x`` of shape ``(N, 784)``; otherwise ``(N, 1, 28, 28)`` as in the book.
        normalize: ``x`` as float32 in ``[0, 1]`` (pixel / 255); otherwise the raw uint8.

    Returns:
        ``(x, t)``, with ``t`` the int64 digit labels ``(N,)``.

    Raises:
        FuncgradError: A missing file (naming it, the folder's contents and where to get it),
            a wrong magic number, a truncated or corrupt file, or a count mismatch.
    """
    where = user_frame()
    root = os.fspath(root)
    img_name, lbl_name = MNIST_FILES[bool(train)]
    img_path = _find_idx(root, img_name, train, where)
    lbl_path = _find_idx(root, lbl_name, train, where)
    images = _read_idx(img_path, _IMAGES_MAGIC, where)
    labels = _read_idx(lbl_path, _LABELS_MAGIC, where)
    if images.shape[0] != labels.shape[0]:
        _raise(f"data.mnist: {img_path!r} holds {images.shape[0]} images but {lbl_path!r} "
               f"holds {labels.shape[0]} labels; the files come from different splits or "
               f"versions, at {where}")
    if labels.size and labels.max() > 9:
        _raise(f"data.mnist: {lbl_path!r} holds a label {int(labels.max())} > 9; the file is "
               f"corrupt, at {where}")
    n = images.shape[0]
    x = images.reshape(n, -1) if flatten else images.reshape(n, 1, *images.shape[1:])
    x = x.astype(np.float32) / np.float32(255.0) if normalize else x.copy()
    return x, labels.astype(np.int64)


# --- loaders -----------------------------------------------------------------------------------

def _as_columns(dataset: Any, where: str) -> tuple[Any, int, bool]:
    """``(columns_or_dataset, length, is_columns)``; columns is a tuple of arrays."""
    if isinstance(dataset, (tuple, list)) and dataset and all(
            hasattr(a, "shape") and hasattr(a, "__getitem__") for a in dataset):
        cols = tuple(a if isinstance(a, np.ndarray) or is_gpu_array(a)  # device arrays stay
                     else np.asarray(a) for a in dataset)
        lengths = {len(a) for a in cols}
        if len(lengths) != 1:
            _raise(f"DataLoader: the arrays of the dataset have different lengths "
                   f"{[len(a) for a in cols]}; pass (x, t) with one row per example, at "
                   f"{where}")
        return cols, lengths.pop(), True
    if isinstance(dataset, np.ndarray):
        return (dataset,), len(dataset), True
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        return dataset, len(dataset), False
    return _raise(f"DataLoader: expected a tuple of arrays such as (x, t), an array, or an "
                  f"object with __len__ and __getitem__, got {type(dataset).__name__}, at "
                  f"{where}")


def _stack_items(items: list) -> Any:
    first = items[0]
    if isinstance(first, tuple):
        return tuple(np.array([it[k] for it in items]) for k in range(len(first)))
    return np.array(items)


def _tqdm(total: int, desc: str | None, where: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return _raise(f"DataLoader(progress=True) needs the optional package tqdm, which is not "
                      f"installed: `pip install tqdm` (or funcgrad[examples]), or pass "
                      f"progress=False, at {where}")
    return tqdm(total=total, desc=desc, unit="batch", leave=False)


class DataLoader:
    """Mini-batches of a dataset, reshuffled every epoch from an explicit key.

    Args:
        dataset: ``(x, t)`` (any tuple of equally long arrays), one array, or an object with
            ``__len__``/``__getitem__`` returning ``(x_i, t_i)`` (items are stacked).
        batch_size: Examples per batch; the last batch is shorter unless ``drop_last``.
        shuffle: A new random order every epoch; otherwise the dataset order.
        key: ``fg.random.key(...)`` or an int seed. Epoch ``e`` uses the permutation drawn from
            ``fg.random.fold_in(key, e)``, so runs are reproducible and can resume mid-way
            (``loader.epoch = e``). ``None`` with ``shuffle=True`` draws a fresh seed from the
            OS (not reproducible).
        drop_last: Skip the final short batch.
        progress: Show a tqdm progress bar per epoch (``True`` or a description string);
            needs the optional ``tqdm`` package.
        shard: Data parallelism (``funcgrad.parallel``): ``batch_size`` is the global batch,
            and each of the ``parallel.size()`` processes gets its contiguous share of every
            global batch (rank ``r`` the ``r``-th of ``parallel.size()`` near-equal parts, which
            differ by at most one example when the batch does not divide evenly). Every rank
            draws the same permutation from the same key (``key=None`` takes rank 0's fresh
            seed), so the union of the shares is exactly the single-process batch; the short
            last batch is shared the same way, or dropped by every rank with ``drop_last``.

    Iterating the loader runs one epoch and yields what the dataset holds per batch: a tuple
    ``(x_batch, t_batch)`` of NumPy arrays for ``(x, t)``, an array for a single array.
    ``len(loader)`` is the number of batches per epoch. ``next(loader)`` also works (the
    book's style): it continues the current epoch and raises StopIteration at its end.
    """

    def __init__(self, dataset: Any, batch_size: int, shuffle: bool = True, key: Any = None,
                 drop_last: bool = False, progress: bool | str = False, shard: bool = False):
        where = user_frame()
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            _raise(f"DataLoader: batch_size must be a positive int, got {batch_size!r}, at "
                   f"{where}")
        self.dataset = dataset
        self._data, self.data_size, self._columns = _as_columns(dataset, where)
        self.batch_size = int(batch_size)
        self.shuffle, self.drop_last, self.progress = bool(shuffle), bool(drop_last), progress
        self.shard = bool(shard)
        self.shard_index, self.num_shards = (parallel.rank(), parallel.size()) if shard else (0, 1)
        if key is None and self.shuffle and self.num_shards > 1:  # one seed for every rank
            key = int(parallel.broadcast(np.array(self._fresh_seed()), root=0))
        self.key = self._make_key(key, where) if self.shuffle else None
        self.epoch = 0
        self._it = None
        self._where = where

    @staticmethod
    def _fresh_seed() -> int:
        return int(np.random.SeedSequence().entropy % (1 << 63))

    @classmethod
    def _make_key(cls, key: Any, where: str) -> np.ndarray:
        if key is None:
            key = cls._fresh_seed()
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return fgr.key(int(key))
        k = np.asarray(key)
        if k.shape != (2,) or k.dtype != np.uint32:
            _raise(f"DataLoader: key must be fg.random.key(seed) or an int seed, got "
                   f"{k.dtype}{list(k.shape)}, at {where}")
        fgr.note_consumed(k, "DataLoader")
        return k

    def __len__(self) -> int:
        if self.drop_last:
            return self.data_size // self.batch_size
        return math.ceil(self.data_size / self.batch_size)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The example order of ``epoch`` (default: the next epoch to run)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(self.data_size)
        return np.asarray(fgr.permutation(fgr.fold_in(self.key, epoch), self.data_size))

    def _batch(self, idx: np.ndarray) -> Any:
        if self._columns:
            out = tuple(a[idx] for a in self._data)
            return out if isinstance(self.dataset, (tuple, list)) else out[0]
        return _stack_items([self._data[int(i)] for i in idx])

    def _indices(self):
        order = self.order()
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield (np.array_split(idx, self.num_shards)[self.shard_index] if self.shard
                   else idx)

    def __iter__(self):
        bar = None
        if self.progress:
            desc = self.progress if isinstance(self.progress, str) else f"epoch {self.epoch}"
            bar = _tqdm(len(self), desc, self._where)
        try:
            for idx in self._indices():
                yield self._batch(idx)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self)
        try:
            return next(self._it)
        except StopIteration:
            self._it = None
            raise

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.data_size}, batch_size={self.batch_size}, "
                f"batches={len(self)}, shuffle={self.shuffle}, epoch={self.epoch})")


class SeqDataLoader(DataLoader):
    """Parallel contiguous streams over a sequence, for truncated backprop through time.

    With ``n`` examples and ``B = batch_size`` streams, the stream ``i`` starts at offset
    ``i·(n // B)``; batch ``k`` holds rows ``(i·(n // B) + k) mod n`` for ``i = 0..B−1``, so row
    ``i`` of consecutive batches walks through the sequence one step at a time (the RNN state
    of row ``i`` carries over from batch to batch). An epoch has ``ceil(n / B)`` batches, as in
    the book. Never shuffles.
    """

    def __init__(self, dataset: Any, batch_size: int, progress: bool | str = False):
        super().__init__(dataset, batch_size, shuffle=False, progress=progress)

    def __len__(self) -> int:
        return math.ceil(self.data_size / self.batch_size)

    def _indices(self):
        jump = self.data_size // self.batch_size
        offsets = np.arange(self.batch_size) * jump
        self.epoch += 1
        for k in range(len(self)):
            yield (offsets + k) % self.data_size
