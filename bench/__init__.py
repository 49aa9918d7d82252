"""Benchmarks: scripts that print figures and ratios (never timed tests).

`fashion` is imported first so that its OpenMP wait policy (fashion/__init__) is in place before torch loads, as
it is for a user's process that imports fashion before torch.
"""
import fashion  # noqa: F401
