"""Two-dimensional loss-landscape slices, the public API (docs/science.md).

Example:
    >>> from landscape.slices import plane_slice, random_slice
    >>> res = plane_slice(model, w_L, projection, w_next, {"test": (x, y)},
    ...                   bn_policy="interpolate")  # doctest: +SKIP
    >>> res.values["test_error"].shape  # (25, 25)  # doctest: +SKIP
"""

from landscape.analysis.slices import (
    NORMALIZATIONS,
    Plane,
    SliceResult,
    anchor_plane,
    filter_normalize,
    plane_slice,
    random_directions,
    random_slice,
)

__all__ = [
    "NORMALIZATIONS",
    "Plane",
    "SliceResult",
    "anchor_plane",
    "filter_normalize",
    "plane_slice",
    "random_directions",
    "random_slice",
]
