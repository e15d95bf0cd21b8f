"""A progress bar for the examples' training loops: tqdm when it is installed and standard output
is a terminal, the plain iterable otherwise (quiet in tests, pipes and CI logs).

    from _progress import progress
    for epoch in progress(range(epochs), desc="epochs"):
        ...
"""
from __future__ import annotations

import sys


def progress(iterable, desc: str | None = None, total: int | None = None, enabled: bool = True):
    if not enabled or not sys.stdout.isatty():
        return iterable
    try:
        from tqdm import tqdm  # optional: funcgrad[examples]
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)
