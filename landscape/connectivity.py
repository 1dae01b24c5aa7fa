"""Linear mode connectivity, the public API (docs/science.md; README "Connectivity and slices").

Example:
    >>> from landscape.connectivity import barrier
    >>> res = barrier(model, state_a, state_b, (x_test, y_test), points=11,
    ...               bn_policy="recompute", bn_data=[(x_train, y_train)])  # doctest: +SKIP
    >>> res.alphas, res.errors, res.error_barrier, res.loss_barrier  # doctest: +SKIP

``data`` and ``bn_data`` are a tensor pair ``(inputs, targets)`` or an iterable of
such pairs; states are state dicts (parameters and buffers) of one architecture.
"""

from landscape.analysis.connectivity import (
    BarrierResult,
    ConnectivityResult,
    barrier,
    barrier_from_curve,
    connectivity,
    path_alphas,
)
from landscape.analysis.engine import BN_POLICIES, Evaluation, Points, evaluate_points

__all__ = [
    "BN_POLICIES",
    "BarrierResult",
    "ConnectivityResult",
    "Evaluation",
    "Points",
    "barrier",
    "barrier_from_curve",
    "connectivity",
    "evaluate_points",
    "path_alphas",
]
