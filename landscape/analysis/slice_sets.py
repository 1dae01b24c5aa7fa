"""Sets read off a computed slice grid (numpy only, no model): the part of a sublevel set
linearly connected to the plane's origin, and [PAUL]'s linearly connected sublevel set
(LCS) of the origin [PAUL Fig. 3] (docs/science.md, "Two-dimensional slices").

The straight path from the plane's origin ``(0, 0)`` to a grid point ``q`` lies in the
plane, so its values are the slice's: they are read off the grid by bilinear interpolation
at ``samples`` points ``γq``, ``γ ∈ [0, 1]``. The resolution is the grid's: a ridge
narrower than a grid cell is not seen.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LCS_BARRIER",
    "linearly_connected_sublevel_set",
    "origin_path_barrier",
    "origin_path_max",
    "origin_rays",
]

#: The error barrier above which a straight path counts as having a barrier: the 0.02 of
#: Frankle et al. 2020, which the stability onset (``InstabilitySpec.onset``) uses too.
LCS_BARRIER = 0.02


def origin_rays(
    a: np.ndarray,
    b: np.ndarray,
    z: np.ndarray,
    samples: int = 33,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """The slice's values on the straight path from the origin to every grid point.

    Args:
        a, b: the grid's coordinates (increasing; the origin must lie inside the grid).
        z: values ``[len(b), len(a)]`` (row ``i`` is ``b[i]``), e.g. the test error.
        samples: points per path, both ends included (``γ = 0 … 1``).
        points: other end points instead of the grid's, ``[..., 2]`` as ``(a, b)`` inside
            the grid (e.g. a marked network's coordinates).

    Returns:
        ``[samples, len(b), len(a)]``: entry ``[k, i, j]`` is ``z(γ_k · (a[j], b[i]))``
        (``[samples, ...]`` for ``points``).
    """
    from scipy.interpolate import RegularGridInterpolator

    a, b, z = np.asarray(a, float), np.asarray(b, float), np.asarray(z, float)
    if not (a[0] <= 0 <= a[-1] and b[0] <= 0 <= b[-1]):
        raise ValueError("the origin (0, 0) must lie inside the grid to measure paths from it")
    if samples < 2:
        raise ValueError(f"a path needs at least its two ends (samples >= 2), got {samples}")
    interp = RegularGridInterpolator((b, a), z)
    gamma = np.linspace(0.0, 1.0, samples)
    if points is None:
        bb, aa = np.meshgrid(b, a, indexing="ij")
    else:
        points = np.asarray(points, float)
        aa, bb = points[..., 0], points[..., 1]
    g = gamma.reshape(-1, *([1] * aa.ndim))
    pts = np.stack([g * bb, g * aa], axis=-1)
    return interp(pts.reshape(-1, 2)).reshape(samples, *aa.shape)


def origin_path_max(a: np.ndarray, b: np.ndarray, z: np.ndarray, samples: int = 33) -> np.ndarray:
    """The largest value on the straight path from the plane's origin to every grid point.

    The points whose path maximum is at most a level ``t`` form the part of the sublevel
    set ``{z ≤ t}`` that is linearly connected to the origin (star-shaped around it).

    Returns:
        ``[len(b), len(a)]``, each at least the point's own value (see :func:`origin_rays`).
    """
    return origin_rays(a, b, z, samples).max(axis=0)


def origin_path_barrier(
    a: np.ndarray, b: np.ndarray, z: np.ndarray, samples: int = 33
) -> np.ndarray:
    """The barrier of the straight path from the origin to every grid point [PAUL Def. 2.1].

    ``B(q) = max_γ [z(γq) − ((1 − γ) z(0) + γ z(q))]``, the path's height above the line
    between its ends (``analysis.connectivity.barrier_from_curve``'s ``B``), ``≥ 0``.

    Returns:
        ``[len(b), len(a)]``.
    """
    return _ray_barrier(origin_rays(a, b, z, samples))


def _ray_barrier(rays: np.ndarray) -> np.ndarray:
    """Each ray's height above the line between its ends (``[samples, ...]`` → ``[...]``)."""
    gamma = np.linspace(0.0, 1.0, len(rays)).reshape(-1, *([1] * (rays.ndim - 1)))
    linear = (1.0 - gamma) * rays[:1] + gamma * rays[-1:]
    return np.maximum((rays - linear).max(axis=0), 0.0)


def linearly_connected_sublevel_set(
    a: np.ndarray,
    b: np.ndarray,
    z: np.ndarray,
    level: float,
    barrier: float = LCS_BARRIER,
    samples: int = 33,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """[PAUL]'s linearly connected sublevel set of the origin, on the grid [PAUL Fig. 3].

    ``LCS = {q : E(q) ≤ level and no barrier on the segment from the origin to q}``, with
    ``level = E(w^(L)) + ε`` for the plane through ``w^(L)``. A grid point belongs when
    every value on its ray from the origin is at most ``level`` (so its own is) and the
    ray's barrier (:func:`origin_path_barrier`) is at most ``barrier``. The sublevel
    condition alone gives a set star-shaped around the origin; the barrier test removes
    the points behind a rise of more than ``barrier`` that stays under ``level``.

    Args:
        level: the sublevel, e.g. the origin's test error + ε.
        barrier: the largest error barrier that counts as none (default 0.02).
        points: test these ``(a, b)`` points instead of the grid's (:func:`origin_rays`).

    Returns:
        a boolean ``[len(b), len(a)]`` array (``points``' shape without the last axis),
        ``True`` inside the set.
    """
    rays = origin_rays(a, b, z, samples, points)
    return (rays.max(axis=0) <= level) & (_ray_barrier(rays) <= barrier)
