"""Analyses of run directories: pure functions returning frozen result dataclasses.

Submodules (imported on demand, so ``import landscape.analysis`` stays cheap):

- ``engine``: evaluate K weight vectors per pass over the data, BatchNorm
  statistics re-estimated for all K at once (docs/architecture.md, performance).
- ``connectivity``: paths, error/loss barriers, the barrier matrix (docs/science.md).
- ``slices``: planes through three anchors and random filter-normalised planes (docs/science.md).
- ``hessian``: Hessian-vector products, Lanczos, Hutchinson, SLQ (docs/science.md).
"""
