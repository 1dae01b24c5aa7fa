"""Masks: global/layerwise magnitude and random pruning, applying and checking them, and the
cubic schedule of gradual pruning (docs/science.md)."""

from landscape.pruning.gradual import cubic_sparsity, kept_count, prune_to
from landscape.pruning.masks import (
    Mask,
    apply_mask,
    check_mask,
    density,
    layer_report,
    ones_mask,
    prune,
)

__all__ = [
    "Mask",
    "apply_mask",
    "check_mask",
    "cubic_sparsity",
    "density",
    "kept_count",
    "layer_report",
    "ones_mask",
    "prune",
    "prune_to",
]
