"""`funcgrad.scipy`: the few SciPy functions ML code needs, over funcgrad.numpy."""
from . import linalg, special, stats  # noqa: F401
