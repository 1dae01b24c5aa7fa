"""Sets read off a computed slice grid (numpy only, no model): the part of a sublevel set
linearly connected to the plane's origin [PAUL Fig. 3] (docs/science.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["origin_path_max"]


def origin_path_max(a: np.ndarray, b: np.ndarray, z: np.ndarray, samples: int = 33) -> np.ndarray:
    """The largest value on the straight path from the plane's origin to every grid point.

    The path from the origin ``(0, 0)`` to a grid point ``q`` lies in the plane, so its
    values are the slice's: for each ``q`` this returns ``max_γ z(γq)``, with ``z``
    bilinearly interpolated between grid points (``samples`` values of γ). The points
    whose path maximum is at most a level ``t`` form the part of the sublevel set
    ``{z ≤ t}`` that is linearly connected to the origin (star-shaped around it) — the
    set [PAUL Fig. 3] outlines, with ``t`` the matching level. Its resolution is the
    grid's: a ridge narrower than a grid cell is not seen.

    Args:
        a, b: the grid's coordinates (increasing; the origin must lie inside the grid).
        z: values ``[len(b), len(a)]`` (row ``i`` is ``b[i]``), e.g. the test error.

    Returns:
        ``[len(b), len(a)]``, each at least the point's own value.
    """
    from scipy.interpolate import RegularGridInterpolator

    a, b, z = np.asarray(a, float), np.asarray(b, float), np.asarray(z, float)
    if not (a[0] <= 0 <= a[-1] and b[0] <= 0 <= b[-1]):
        raise ValueError("the origin (0, 0) must lie inside the grid to measure paths from it")
    interp = RegularGridInterpolator((b, a), z)
    gamma = np.linspace(0.0, 1.0, samples)
    bb, aa = np.meshgrid(b, a, indexing="ij")
    pts = np.stack([gamma[:, None, None] * bb, gamma[:, None, None] * aa], axis=-1)
    return interp(pts.reshape(-1, 2)).reshape(samples, *z.shape).max(axis=0)
