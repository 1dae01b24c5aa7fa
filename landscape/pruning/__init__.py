"""Masks: global/layerwise magnitude and random pruning, applying and checking them (docs/science.md)."""

from landscape.pruning.masks import (
    Mask,
    apply_mask,
    check_mask,
    density,
    layer_report,
    ones_mask,
    prune,
)

__all__ = ["Mask", "apply_mask", "check_mask", "density", "layer_report", "ones_mask", "prune"]
