"""`funcgrad.scipy`: the few SciPy functions ML code needs, over funcgrad.numpy."""
from . import linalg, signal, special, stats  # noqa: F401
