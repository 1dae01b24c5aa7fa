"""Analyses of run directories: pure functions returning frozen result dataclasses.

Submodules (imported on demand, so ``import landscape.analysis`` stays cheap):

- ``engine``: evaluate K weight vectors per pass over the data, BatchNorm
  statistics re-estimated for all K at once (ARCHITECTURE.md, performance).
- ``connectivity``: paths, error/loss barriers, the barrier matrix (SPEC §3).
- ``slices``: planes through three anchors and random filter-normalised planes (SPEC §4).
- ``hessian``: Hessian-vector products, Lanczos, Hutchinson, SLQ (SPEC §5).
"""
