"""`jit`: the user-facing wrapper and its compile cache (`api.py`), the `jit` call primitive with
all its rules and compile-once code (`call.py`), and the IR passes run before lowering
(`passes.py`). Imports run one way: api -> call -> passes."""
from .api import jit as jit
