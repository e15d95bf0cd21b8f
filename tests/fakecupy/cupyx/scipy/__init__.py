"""`cupyx.scipy` for the CuPy stand-in: only `special` (see `special.py`)."""
from . import special  # noqa: F401  (loaded with the stand-in: tests swap the modules as a set)
