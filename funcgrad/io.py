"""Safe checkpoints: ``fg.save(path, tree)`` / ``fg.load(path, like=None)``.

A pytree of arrays (model parameters, optimizer state, ...) is written to one ``.npz`` file:

- one ``.npy`` entry per leaf, named by its key path (``layers/0/W``), readable with plain
  ``numpy.load(path)``;
- one entry ``__funcgrad_tree__`` holding the tree structure as UTF-8 JSON.

Nothing is ever pickled: arrays of Python objects are refused when saving, and loading uses
``numpy.load(..., allow_pickle=False)``, so a checkpoint from an untrusted source cannot run code.
Writes are atomic: the file is written to a temporary file in the same directory, flushed to
disk and renamed over ``path`` (``os.replace``), so an interrupted save leaves the previous file
intact and never a half-written one.

Node types that round-trip without ``like=``: dict (str or int keys), list, tuple, None,
``collections.OrderedDict`` and NamedTuples defined in funcgrad (optimizer states) or in any
module already imported when loading. Leaves come back as NumPy arrays, NumPy scalars or the
Python scalars that were saved. ``load(path, like=template)`` rebuilds the structure of
``template`` instead, so it restores any registered pytree node type, and checks every leaf's key
path, shape and dtype against the template.

Examples:
    >>> import numpy as np, funcgrad as fg, tempfile, os
    >>> params = {"0": {"W": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float32)}}
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.npz")
    >>> fg.save(path, params)
    >>> fg.load(path)["0"]["W"].shape
    (2, 3)
"""
from __future__ import annotations

import collections
import importlib
import json
import os
import sys
import tempfile
from typing import Any

import numpy as np

from .core import FuncgradError, Tracer, user_frame
from .pytree import (
    _LEAF,
    _REGISTRY,
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    SequenceKey,
    keystr,
    tree_flatten_with_path,
)

__all__ = ["save", "load"]

TREE_KEY = "__funcgrad_tree__"
FORMAT = "funcgrad-checkpoint"
VERSION = 1
_PY_SCALARS = {bool: "bool", int: "int", float: "float", complex: "complex"}
_PY_FROM = {v: k for k, v in _PY_SCALARS.items()}


# --- saving -------------------------------------------------------------------------------------

def _key_part(k: Any) -> str:
    if isinstance(k, DictKey):
        return str(k.key)
    if isinstance(k, SequenceKey):
        return str(k.idx)
    if isinstance(k, GetAttrKey):
        return k.name
    if isinstance(k, FlattenedIndexKey):
        return str(k.key)
    return str(k)


def _leaf_names(paths: list[tuple]) -> list[str]:
    """Readable, unique npz entry names (``a/0/W``) for the given key paths."""
    names, seen = [], set()
    for path in paths:
        base = "/".join(_key_part(k) for k in path) or "value"
        name, i = base, 1
        while name in seen or name == TREE_KEY:
            name, i = f"{base}#{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def _to_numpy(x: Any, where: str, path: str) -> tuple[np.ndarray, str | None]:
    """``(array, python_or_numpy_scalar_tag)`` for a leaf; refuses tracers and objects."""
    if isinstance(x, Tracer):
        raise FuncgradError(
            f"fg.save: the leaf at key path {path} is a traced value ({x.aval}); checkpoints can "
            f"only hold concrete arrays. Save outside jit/grad/vmap (e.g. after the step "
            f"returns), at {where}")
    tag = _PY_SCALARS.get(type(x))
    if tag is None and isinstance(x, np.generic):
        tag = "numpy"
    if tag is None and hasattr(x, "__cuda_array_interface__") and hasattr(x, "get"):
        x = x.get()  # a CuPy array: saved from host memory
    arr = np.asarray(x)
    if arr.dtype.hasobject:
        raise FuncgradError(
            f"fg.save: the leaf at key path {path} is an array of Python objects "
            f"({type(x).__name__}, dtype=object); checkpoints hold numeric, bool or string "
            f"arrays only, because loading object arrays would need pickle (which can run code)."
            f" Convert it with np.asarray(x, dtype=...) first, at {where}")
    return arr, tag


def _encode(node: Any, names: Any, where: str) -> Any:
    if node is _LEAF:
        return {"t": "leaf", "key": next(names)}
    t, aux, kids = node
    children = [_encode(k, names, where) for k in kids]
    if t is dict or t is collections.OrderedDict:
        keys = []
        for k in aux:
            if type(k) is str:
                keys.append(k)
            elif type(k) is int:
                keys.append({"int": k})
            else:
                raise FuncgradError(
                    f"fg.save: dict key {k!r} of type {type(k).__name__} cannot be stored; "
                    f"checkpoint dicts need str or int keys, at {where}")
        return {"t": "dict" if t is dict else "odict", "keys": keys, "c": children}
    if t is list or t is tuple:
        return {"t": t.__name__, "c": children}
    if t is type(None):
        return {"t": "none"}
    if t not in _REGISTRY and hasattr(t, "_fields"):
        return {"t": "namedtuple", "module": t.__module__, "name": t.__qualname__,
                "fields": list(t._fields), "c": children}
    return {"t": "custom", "module": t.__module__, "name": t.__qualname__, "c": children}


def save(path: str | os.PathLike, tree: Any, *, compress: bool = False) -> None:
    """Write the pytree ``tree`` of arrays to the ``.npz`` file ``path``, atomically.

    Args:
        path: Destination file (written exactly as given; ``.npz`` is not appended). Its
            directory must exist. An existing file is replaced only once the new one is
            complete.
        tree: A pytree (dicts, lists, tuples, NamedTuples, None, registered nodes) whose
            leaves are NumPy/CuPy arrays, NumPy scalars or Python numbers.
        compress: Use zip deflate compression (``numpy.savez_compressed``).

    Raises:
        FuncgradError: For a leaf holding Python objects (dtype=object), a traced value, or a
            dict key that is neither str nor int; nothing is written then.
    """
    where = user_frame()
    path = os.fspath(path)
    pairs, treedef = tree_flatten_with_path(tree)
    names = _leaf_names([p for p, _ in pairs])
    arrays, tags = {}, {}
    for name, (p, leaf) in zip(names, pairs):
        arrays[name], tag = _to_numpy(leaf, where, keystr(p) or "<root>")
        if tag is not None:
            tags[name] = tag
    header = {"format": FORMAT, "version": VERSION, "tree": _encode(treedef._node, iter(names),
                                                                    where), "scalars": tags}
    arrays[TREE_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FuncgradError(f"fg.save: the directory {directory!r} of {path!r} does not exist; "
                            f"create it first (os.makedirs), at {where}")
    if os.path.isdir(path):
        raise FuncgradError(f"fg.save: {path!r} is a directory; give a file name inside it, "
                            f"e.g. {os.path.join(path, 'params.npz')!r}, at {where}")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                   suffix=".tmp")
    except OSError as e:
        raise FuncgradError(f"fg.save: cannot write in the directory {directory!r} "
                            f"({e.strerror}); save somewhere writable. Nothing was written, "
                            f"at {where}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --- loading ------------------------------------------------------------------------------------

def _corrupt(path: str, what: str, where: str) -> FuncgradError:
    return FuncgradError(
        f"fg.load: {path!r} is not a readable funcgrad checkpoint: {what}. The file is truncated "
        f"or corrupt (e.g. a save was interrupted outside fg.save, or the download was cut); "
        f"re-create it with fg.save, at {where}")


def _read_all(path: str, where: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        raise FuncgradError(f"fg.load: no such file {path!r} (working directory "
                            f"{os.getcwd()!r}), at {where}")
    if os.path.isdir(path):
        raise FuncgradError(f"fg.load: {path!r} is a directory, not a checkpoint file; give the "
                            f".npz file that fg.save wrote, at {where}")
    try:
        f = np.load(path, allow_pickle=False)
        if isinstance(f, np.ndarray):
            raise FuncgradError(f"fg.load: {path!r} is a single .npy array, not an .npz "
                                f"checkpoint; read it with np.load (or save a tree with "
                                f"fg.save), at {where}")
        with f:
            out = {}
            for name in f.files:
                try:
                    out[name] = f[name]
                except ValueError as e:
                    if "pickle" in str(e) or "Object arrays" in str(e):
                        raise FuncgradError(
                            f"fg.load: entry {name!r} of {path!r} holds Python objects, which "
                            f"only unpickling could restore; funcgrad never unpickles (it can "
                            f"run arbitrary code). Refused, at {where}") from None
                    raise
            return out
    except FuncgradError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise FuncgradError(
                f"fg.load: {path!r} is a pickle file, not an .npz checkpoint; funcgrad never "
                f"unpickles (it can run arbitrary code). Refused, at {where}") from None
        raise _corrupt(path, f"{type(e).__name__}: {e}", where) from e
    except Exception as e:  # zipfile.BadZipFile, EOFError, zlib.error, OSError, ...
        raise _corrupt(path, f"{type(e).__name__}: {e}", where) from e


def _find_class(spec: dict, path: str, where: str) -> type:
    module, name = spec["module"], spec["name"]
    mod = sys.modules.get(module)
    if mod is None and (module == "funcgrad" or module.startswith("funcgrad.")):
        mod = importlib.import_module(module)  # funcgrad's own modules only
    obj: Any = mod
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, tuple)
            and list(getattr(obj, "_fields", ())) == spec["fields"]):
        raise FuncgradError(
            f"fg.load: {path!r} holds a NamedTuple {module}.{name} with fields {spec['fields']}"
            f" that is not available here (its module is not imported, or the class changed). "
            f"Import it first, or pass a template: fg.load(path, like=...) (e.g. "
            f"like=opt.init(params)), at {where}")
    return obj


def _decode(node: dict, arrays: dict, tags: dict, path: str, where: str) -> Any:
    t = node.get("t")
    if t == "leaf":
        return _restore_leaf(arrays, tags, node["key"], path, where)
    kids = [_decode(c, arrays, tags, path, where) for c in node.get("c", [])]
    if t in ("dict", "odict"):
        keys = [k["int"] if isinstance(k, dict) else k for k in node["keys"]]
        return (dict if t == "dict" else collections.OrderedDict)(zip(keys, kids))
    if t == "list":
        return kids
    if t == "tuple":
        return tuple(kids)
    if t == "none":
        return None
    if t == "namedtuple":
        return _find_class(node, path, where)(*kids)
    if t == "custom":
        raise FuncgradError(
            f"fg.load: {path!r} holds a custom pytree node {node['module']}.{node['name']}; "
            f"such nodes are rebuilt only from a template: fg.load(path, like=tree_of_that_type)"
            f", at {where}")
    raise _corrupt(path, f"unknown tree node {t!r}", where)


def _restore_leaf(arrays: dict, tags: dict, name: str, path: str, where: str) -> Any:
    if name not in arrays:
        raise _corrupt(path, f"the tree names entry {name!r}, which is missing", where)
    arr = arrays[name]
    tag = tags.get(name)
    if tag == "numpy":
        return arr[()]
    if tag in _PY_FROM:
        return _PY_FROM[tag](arr[()])
    return arr


def _like_dtype(x: Any) -> np.dtype | None:
    if isinstance(x, (np.ndarray, np.generic)) or (hasattr(x, "dtype") and hasattr(x, "shape")):
        return np.dtype(x.dtype)
    return None


def _load_like(path: str, arrays: dict, tags: dict, like: Any, where: str) -> Any:
    pairs, treedef = tree_flatten_with_path(like)
    names = _leaf_names([p for p, _ in pairs])
    missing = [keystr(p) or "<root>" for n, (p, _) in zip(names, pairs) if n not in arrays]
    if missing:
        raise FuncgradError(
            f"fg.load: {path!r} does not match the template: no entry for key path "
            f"{missing[0]}{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}. "
            f"The file holds {sorted(n for n in arrays if n != TREE_KEY)}; the template was "
            f"saved with a different structure, at {where}")
    extra = sorted(set(arrays) - set(names) - {TREE_KEY})
    if extra:
        raise FuncgradError(
            f"fg.load: {path!r} does not match the template: the file has entries "
            f"{extra} that the template lacks (the template has {treedef.num_leaves} leaves), "
            f"at {where}")
    leaves = []
    for name, (p, ref) in zip(names, pairs):
        arr = arrays[name]
        kp = keystr(p) or "<root>"
        shape = tuple(np.shape(ref))
        if arr.shape != shape:
            raise FuncgradError(f"fg.load: shape mismatch at key path {kp}: the file has "
                                f"{arr.shape}, the template {shape}, in {path!r}, at {where}")
        dt = _like_dtype(ref)
        if dt is not None and arr.dtype != dt:
            raise FuncgradError(f"fg.load: dtype mismatch at key path {kp}: the file has "
                                f"{arr.dtype}, the template {dt}, in {path!r}, at {where}")
        if type(ref) in _PY_SCALARS:
            leaves.append(type(ref)(arr[()]))
        elif isinstance(ref, np.generic):
            leaves.append(arr[()])
        else:
            leaves.append(arr)
    return treedef.unflatten(leaves)


def load(path: str | os.PathLike, like: Any = None) -> Any:
    """Read a pytree written by ``save`` (never unpickles).

    Args:
        path: A file written by ``fg.save``. A plain ``numpy.savez`` file (without funcgrad's
            tree entry) loads as a flat ``{name: array}`` dict.
        like: Optional template pytree (arrays, or anything with ``.shape``/``.dtype``). The
            result then has exactly its structure (any registered node type), and each leaf
            must match the template's key path, shape and dtype.

    Raises:
        FuncgradError: Missing file; truncated, corrupt or non-npz file; object arrays (refused,
            as they would need unpickling); a template mismatch, naming the key path.
    """
    where = user_frame()
    path = os.fspath(path)
    arrays = _read_all(path, where)
    header = None
    if TREE_KEY in arrays:
        try:
            header = json.loads(arrays[TREE_KEY].tobytes().decode("utf-8"))
            if header.get("format") != FORMAT:
                raise ValueError("wrong format tag")
        except (ValueError, UnicodeDecodeError, AttributeError) as e:
            raise _corrupt(path, f"unreadable tree entry ({e})", where) from e
        if header.get("version", 0) > VERSION:
            raise FuncgradError(f"fg.load: {path!r} was written by a newer funcgrad (format "
                                f"version {header['version']} > {VERSION}); upgrade funcgrad, "
                                f"at {where}")
    tags = header.get("scalars", {}) if header else {}
    if like is not None:
        return _load_like(path, arrays, tags, like, where)
    if header is None:
        return dict(arrays)
    try:
        return _decode(header["tree"], arrays, tags, path, where)
    except (KeyError, TypeError) as e:
        raise _corrupt(path, f"malformed tree entry ({type(e).__name__}: {e})", where) from e
