"""`jit`: the user-facing wrapper and its cache (`api.py`), the `jit` call primitive with all
its rules (`call.py`) and the IR passes run before lowering (`passes.py`)."""
from .api import jit as jit
