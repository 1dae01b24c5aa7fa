"""Pruning runners: idempotent level loops that skip finished work (docs/science.md).

Every method is a function ``run(ctx: RunContext) -> None`` registered by name;
entries are lazy (``"module:function"``) so each method lives in its own module.
"""

from __future__ import annotations

from landscape.registry import Registry

__all__ = ["METHODS"]

METHODS: Registry = Registry("pruning method", flag="--method")
METHODS.add(
    "dense", "landscape.runners.imp:run_dense", "train the dense network only (`landscape train`)"
)
METHODS.add(
    "imp-wr", "landscape.runners.imp:run_imp", "IMP with weight rewinding to step τ [PAUL Alg. 1]"
)
METHODS.add("imp-lrr", "landscape.runners.imp:run_imp", "IMP with learning-rate rewinding")
METHODS.add("imp-ft", "landscape.runners.imp:run_imp", "IMP with fine-tuning at the final LR")
METHODS.add(
    "imp",
    "landscape.runners.retrain:run_retrain",
    "prune a dense run in J phases, retraining with FT/LRW/SLR/CLR/LLR/ALLR [ZIMMER]",
)
METHODS.add("bimp", "landscape.runners.bimp:run_bimp", "budgeted IMP with ALLR retraining [ZIMMER]")
METHODS.add(
    "swamp",
    "landscape.runners.swamp:run_swamp",
    "SWAMP: N particles, weight-averaged, one mask [SWAMP Alg. 1]",
)
METHODS.add(
    "gmp",
    "landscape.runners.gradual:run_gradual",
    "gradual magnitude pruning during training, cubic schedule [Zhu & Gupta 2017]",
)
METHODS.add(
    "dpf",
    "landscape.runners.gradual:run_gradual",
    "dynamic pruning with feedback: GMP's schedule, dense weights updated [Lin et al. 2020]",
)
