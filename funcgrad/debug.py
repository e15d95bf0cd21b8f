"""`fg.debug_nans`: stop at the first NaN, forward or backward, naming the user's line."""
from __future__ import annotations

from .core import DEBUG_NANS, NAN_SOURCE


class debug_nans:
    """Check every primitive's concrete output for NaN and raise `FloatingPointError` at the first.

    The error names the primitive and the line of user code that ran it; when the NaN appears in
    reverse mode, it also names the forward line whose derivative produced it. Use it as a switch
    (`fg.debug_nans(True)`, `fg.debug_nans(False)`) or a context manager that restores the
    previous setting. While it is on, `jit`-compiled functions run op by op (jit never changes
    values), so a NaN inside one is also caught at its own line.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp
        >>> with fg.debug_nans():
        ...     fnp.log(-1.0)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FloatingPointError: funcgrad.debug_nans: `log` produced NaN ...
    """

    def __init__(self, flag: bool = True):
        self.previous = DEBUG_NANS[0]
        DEBUG_NANS[0] = bool(flag)
        if not flag:
            NAN_SOURCE.clear()

    def __enter__(self) -> debug_nans:
        return self

    def __exit__(self, *exc) -> None:
        DEBUG_NANS[0] = self.previous
        if not self.previous:
            NAN_SOURCE.clear()

    def __repr__(self) -> str:
        return f"debug_nans({DEBUG_NANS[0]})"
