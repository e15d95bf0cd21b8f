"""Differentiable, batchable control flow: `cond`/`switch`, `while_loop`, `fori_loop`, `scan`.

This module is the family's public face and overview; the code lives beside it, one file per
primitive: `cond.py` (`cond_p`, `cond`, `switch`), `scan.py` (`scan_p`, `scan`),
`while_loop.py` (`while_p`, `while_loop`, `fori_loop`), `island.py` (`island_p`, eager islands
inside staged programs), and `common.py` (the helpers they share). Imports run one way:
common <- cond, scan, island <- while_loop (which builds on `scan` and `island`); the family
uses the primitives' bind wrappers and `program.py`'s program transforms, not `funcgrad.numpy`.

Three higher-order primitives carry IR sub-programs (closed over nothing: constants are hoisted
into leading operands) in their params:

- `cond_p(index, *ops; branches)`: run `branches[index]` (index clamped into range).
- `while_p(*cond_consts, *body_consts, *carry; cond_jaxpr, body_jaxpr, cond_nconsts,
  body_nconsts)`: `while cond(carry): carry = body(carry)`.
- `scan_p(*consts, *carry, *xs; jaxpr, num_consts, num_carry, length, reverse)`:
  `carry, y_i = body(consts, carry, x_i)` for i = 0..length-1 (or backwards), ys stacked.

Each has impl, abstract eval, jvp, partial eval (how `linearize` stages only the tangent part),
transpose (cond, scan), batching and printing rules, all in one block per primitive.

Eager fast paths: when no transform is active, `while_loop`, `fori_loop` and `scan` are plain
Python loops (checking the carry's type each step) and `cond`/`switch` call the chosen branch;
whenever the predicate of a `cond` is concrete (also under `grad` and `jvp`, whose primal values
are concrete), only the chosen branch runs on values, and the others are traced with abstract
values only (cached per function and input types) so that branches of different types fail
eagerly with the error staged code gives. Eager = jit for Python scalars too: branches and
bodies receive arrays, and weak-typed (Python-scalar) carries and operands follow JAX's
promotion rule (`common._weak_promoted`, `cond._eager_switch`).

Reverse mode through `while_loop` (no fixed trip count): during `linearize` the primal loop runs
(its predicate is concrete), recording the trip count `T` and the residuals of each iteration;
the tangent loop is staged as a length-`T` `scan` over the stacked residuals, whose transpose is
a reverse `scan`. Under full staging (`make_ir`, `jit`) the trip count is unknown until the
program runs: the primal loop is staged as a `while`, and the tangent loop as an eager island
(`island.py`) whose transpose runs that recording reverse pass when the compiled program runs.

vmap of `cond` with a batched predicate runs each branch only on the rows that take it: gather
those rows, run the branch batched, scatter back. When the predicate values are known (eager
vmap, vmap of grad) that happens at once; when they are not (under `make_ir`/`jit`) the staged
program holds an eager island (`island.py`) that does it when the program runs, running each
branch's compiled batched code; its derivatives are the island's (a gather transposes to a
scatter-add).
"""
from __future__ import annotations

from .cond import cond as cond
from .cond import cond_p as cond_p
from .cond import switch as switch
from .scan import scan as scan
from .scan import scan_p as scan_p
from .while_loop import fori_loop as fori_loop
from .while_loop import while_loop as while_loop
from .while_loop import while_p as while_p

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "cond_p", "while_p", "scan_p"]
