"""Permutation alignment of two networks [Ainsworth et al. 2023; Jordan et al. 2023].

- :mod:`.permutation_spec`: which units one permutation moves together, derived from the
  ``torch.fx`` graph; applying a permutation to a state dict or a mask.
- :mod:`.matching`: weight matching and activation matching (Git Re-Basin §3).
- :mod:`.repair`: REPAIR's rescaling of interpolated networks without BatchNorm.
"""

from landscape.analysis.alignment.matching import (
    MATCHING_METHODS,
    Matching,
    activation_matching,
    match,
    weight_distance,
    weight_matching,
)
from landscape.analysis.alignment.permutation_spec import (
    Axis,
    PermGroup,
    PermutationSpec,
    PermutationSpecError,
    apply_permutation,
    identity_permutation,
    invert_permutation,
    permutation_spec,
    random_permutation,
)
from landscape.analysis.alignment.repair import repair_layers, repaired_barrier, repaired_state

__all__ = [
    "MATCHING_METHODS",
    "Axis",
    "Matching",
    "PermGroup",
    "PermutationSpec",
    "PermutationSpecError",
    "activation_matching",
    "apply_permutation",
    "identity_permutation",
    "invert_permutation",
    "match",
    "permutation_spec",
    "random_permutation",
    "repair_layers",
    "repaired_barrier",
    "repaired_state",
    "weight_distance",
    "weight_matching",
]
