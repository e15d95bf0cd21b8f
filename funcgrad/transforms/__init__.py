"""Transforms are interpreters over the trace machinery: jvp, linearize/transpose (autodiff),
vmap, and user-defined rules (custom)."""
