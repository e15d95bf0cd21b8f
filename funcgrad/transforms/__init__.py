"""Transforms: interpreters over the trace machinery (`funcgrad/core.py`), built on the
primitives (`funcgrad/primitives/`), the IR and staging (`funcgrad/ir.py`, `funcgrad/staging.py`)
and the backend's compile-once code (`funcgrad/backend/`) -- never on the user-facing
`funcgrad.numpy`.

- `jvp.py`: forward mode (`JVPTrace`, `jvp_flat`); `vmap.py`: batching (`BatchTrace`,
  `vmap_flat`, `vmap`); `transpose.py`: running a linear program backwards (`backward_pass`).
- `autodiff.py`: the autodiff API (`grad`, `value_and_grad`, `vjp`, `jvp`, `linearize`,
  `jacfwd`, `jacrev`, `hessian`, `stop_gradient`), assembled from the three files above.
- `custom.py`: `custom_jvp`/`custom_vjp`; `remat.py`: `checkpoint`.
- `program.py`: the same transforms applied to a whole closed program (`jvp_ir`, `batch_ir`,
  `partial_eval_ir`, `transpose_ir`), for the rules of higher-order primitives.
- `control_flow/`: `cond`/`switch`, `while_loop`/`fori_loop`, `scan` and their primitives.
- `jit/`: `jit`, its call primitive and the IR passes run before lowering.

Every transform flattens its user function with `pytree.flatten_fun` and evaluates closed
programs with `ir.eval_ir`. Sibling imports run one way: custom <- jvp, vmap, transpose <-
autodiff, program <- remat, jit <- control_flow.
"""
