"""Linear mode connectivity: paths, error and loss barriers, the barrier matrix (docs/science.md).

All points of a call go through one :func:`~landscape.analysis.engine.evaluate_points`
call: the barrier matrix over ``n`` level solutions uses them as the basis and
evaluates the ``n`` endpoints once plus the interior points of every pair, so the
endpoint values every barrier subtracts are the same numbers everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from landscape.analysis.engine import (
    BN_POLICIES,
    DataLike,
    Points,
    State,
    batchnorm_modules,
    check_states,
    evaluate_points,
)

__all__ = [
    "BarrierResult",
    "ConnectivityResult",
    "barrier",
    "barrier_from_curve",
    "connectivity",
    "path_alphas",
]


def path_alphas(points: int) -> np.ndarray:
    """``points`` evenly spaced ``γ`` in ``[0, 1]``, both ends included (docs/science.md: default 11)."""
    if points < 2:
        raise ValueError(f"a path needs at least 2 points (its two ends), got {points}")
    return np.linspace(0.0, 1.0, points)


def barrier_from_curve(alphas: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """The barrier of a curve sampled at ``alphas`` (``alphas[0] = 0``, ``alphas[-1] = 1``).

    Returns:
        ``(B, B_mean)``: ``B = max_γ [v(γ) − ((1 − γ) v(0) + γ v(1))]`` [PAUL Def. 2.1],
        and the mean-endpoint variant ``max_γ v(γ) − ½ (v(0) + v(1))`` (docs/science.md).
        Both are ``≥ 0`` for ``B`` (the ends contribute 0); ``B_mean`` can be negative.
    """
    a = np.asarray(alphas, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if a[0] != 0.0 or a[-1] != 1.0:
        raise ValueError("the curve must include both ends (alpha 0 and 1)")
    linear = (1.0 - a) * v[0] + a * v[-1]
    return float(np.max(v - linear)), float(np.max(v) - 0.5 * (v[0] + v[-1]))


@dataclass(frozen=True)
class BarrierResult:
    """Loss and error along ``(1 − γ) w_a + γ w_b`` and their barriers [PAUL Def. 2.1].

    Attributes:
        alphas: ``γ`` of each point, ``[P]``.
        losses, errors: mean cross-entropy and error at each point, ``[P]``.
        loss_barrier, error_barrier: ``max_γ [v(γ) − linear interpolation of the ends]``.
        loss_barrier_mean, error_barrier_mean: ``max_γ v(γ) − mean of the ends``.
        bn_policy: how BatchNorm statistics were set at every point (docs/science.md).
        has_batchnorm: whether the model has BatchNorm at all (if not, the policy is moot).
    """

    alphas: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    loss_barrier: float
    error_barrier: float
    loss_barrier_mean: float
    error_barrier_mean: float
    bn_policy: str
    has_batchnorm: bool

    @classmethod
    def from_curve(
        cls, alphas: np.ndarray, losses: np.ndarray, errors: np.ndarray, bn_policy: str,
        has_batchnorm: bool,
    ) -> BarrierResult:  # fmt: skip
        lb, lbm = barrier_from_curve(alphas, losses)
        eb, ebm = barrier_from_curve(alphas, errors)
        return cls(
            np.asarray(alphas, dtype=np.float64), np.asarray(losses, dtype=np.float64),
            np.asarray(errors, dtype=np.float64), lb, eb, lbm, ebm, bn_policy, has_batchnorm,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays as lists."""
        return {
            "alphas": self.alphas.tolist(), "losses": self.losses.tolist(),
            "errors": self.errors.tolist(), "loss_barrier": self.loss_barrier,
            "error_barrier": self.error_barrier, "loss_barrier_mean": self.loss_barrier_mean,
            "error_barrier_mean": self.error_barrier_mean, "bn_policy": self.bn_policy,
            "has_batchnorm": self.has_batchnorm,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BarrierResult:
        return cls(
            np.asarray(d["alphas"], dtype=np.float64), np.asarray(d["losses"], dtype=np.float64),
            np.asarray(d["errors"], dtype=np.float64), float(d["loss_barrier"]),
            float(d["error_barrier"]), float(d["loss_barrier_mean"]),
            float(d["error_barrier_mean"]), str(d["bn_policy"]), bool(d["has_batchnorm"]),
        )  # fmt: skip


def barrier(
    model: nn.Module,
    state_a: State,
    state_b: State,
    data: DataLike,
    points: int = 11,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    *,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
) -> BarrierResult:
    """Error and loss barrier between two networks of one architecture [PAUL §2, Def. 2.1].

    Args:
        model: the architecture (its own weights are not used).
        state_a, state_b: state dicts (parameters and buffers) of the two ends.
        data: where to measure: a tensor pair ``(inputs, targets)`` or an iterable of pairs.
        points: evenly spaced ``γ`` in ``[0, 1]`` including both ends (default 11 [ours]).
        bn_policy: ``recompute`` [ours], ``interpolate`` [code] or ``none`` (docs/science.md).
        bn_data: training batches for ``recompute`` (needed if the model has BatchNorm).
        batch_size, chunk_size, mode: engine settings (:func:`evaluate_points`).

    Returns:
        A :class:`BarrierResult` with the whole curve and both barrier variants.

    Raises:
        CheckpointError: a state does not fit ``model`` (e.g. another architecture).
        ValueError: bad ``points``/``bn_policy``, or ``recompute`` without ``bn_data``.

    Example:
        >>> res = barrier(model, sd_a, sd_b, (x_test, y_test), bn_data=[(x_tr, y_tr)])
        >>> res.error_barrier, res.loss_barrier  # doctest: +SKIP
    """
    alphas = path_alphas(points)
    if bn_policy not in BN_POLICIES:
        raise ValueError(f"unknown bn_policy {bn_policy!r}: use one of {', '.join(BN_POLICIES)}")
    check_states(model, {"state_a": state_a, "state_b": state_b})
    ev = evaluate_points(
        model, Points.line(state_a, state_b, alphas), data, bn_policy=bn_policy,
        bn_data=bn_data, batch_size=batch_size, chunk_size=chunk_size, mode=mode,
    )  # fmt: skip
    return BarrierResult.from_curve(
        alphas, ev.losses, ev.errors, bn_policy, bool(batchnorm_modules(model))
    )


@dataclass(frozen=True)
class ConnectivityResult:
    """The piecewise path through successive solutions and the barrier matrix [PAUL Fig. 2].

    Attributes:
        labels: one label per state (e.g. the level numbers), ``[n]``.
        segments: the path ``states[i] → states[i+1]`` for each ``i``, ``[n − 1]``.
        error_matrix, loss_matrix: ``B(w_i, w_j)`` for all pairs, symmetric, zero
            diagonal, ``[n, n]``; ``None`` when the matrix was not asked for.
        error_matrix_mean, loss_matrix_mean: the mean-endpoint variants.
        bn_policy, has_batchnorm: as in :class:`BarrierResult`.
        endpoint_losses, endpoint_errors: loss and error of each state, ``[n]``.
    """

    labels: list[int]
    segments: list[BarrierResult]
    error_matrix: np.ndarray | None
    loss_matrix: np.ndarray | None
    error_matrix_mean: np.ndarray | None
    loss_matrix_mean: np.ndarray | None
    bn_policy: str
    has_batchnorm: bool
    endpoint_losses: np.ndarray
    endpoint_errors: np.ndarray

    def path(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The concatenated path: ``(position, losses, errors)``; position ``i + γ`` on segment ``i``."""
        xs, ls, es = [], [], []
        for i, seg in enumerate(self.segments):
            keep = slice(0 if i == 0 else 1, None)  # shared ends appear once
            xs.append(i + seg.alphas[keep])
            ls.append(seg.losses[keep])
            es.append(seg.errors[keep])
        if not xs:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        return np.concatenate(xs), np.concatenate(ls), np.concatenate(es)

    def to_dict(self) -> dict[str, Any]:
        def arr(m: np.ndarray | None) -> list | None:
            return None if m is None else m.tolist()

        pos, losses, errors = self.path()
        return {
            "labels": list(self.labels),
            "segments": [s.to_dict() for s in self.segments],
            "path": {"position": pos.tolist(), "losses": losses.tolist(), "errors": errors.tolist()},
            "error_matrix": arr(self.error_matrix), "loss_matrix": arr(self.loss_matrix),
            "error_matrix_mean": arr(self.error_matrix_mean),
            "loss_matrix_mean": arr(self.loss_matrix_mean),
            "bn_policy": self.bn_policy, "has_batchnorm": self.has_batchnorm,
            "endpoint_losses": self.endpoint_losses.tolist(),
            "endpoint_errors": self.endpoint_errors.tolist(),
        }  # fmt: skip


def connectivity(
    model: nn.Module,
    states: Sequence[State],
    data: DataLike,
    points: int = 11,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    *,
    labels: Sequence[int] | None = None,
    matrix: bool = True,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
    progress: Callable[[int], object] | None = None,
) -> ConnectivityResult:
    """Barriers along ``w^(0) → w^(1) → …`` and between all pairs [PAUL §3.1, Fig. 2].

    One engine call evaluates the ``n`` states once and the ``points − 2`` interior
    points of every pair (successive pairs only when ``matrix=False``).

    Args:
        states: the solutions in path order (e.g. level 0, 1, …), one architecture.
        labels: names of the states in the result (default ``0 .. n-1``).
        matrix: also compute the barrier of every non-successive pair.
        Other arguments: as in :func:`barrier`.

    Returns:
        A :class:`ConnectivityResult`.
    """
    n = len(states)
    if n < 2:
        raise ValueError(f"connectivity needs at least two states, got {n}")
    if bn_policy not in BN_POLICIES:
        raise ValueError(f"unknown bn_policy {bn_policy!r}: use one of {', '.join(BN_POLICIES)}")
    labels = list(range(n)) if labels is None else [int(v) for v in labels]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} states")
    check_states(model, {f"state {lab}": s for lab, s in zip(labels, states)})
    alphas = path_alphas(points)
    inner = alphas[1:-1]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if matrix or j == i + 1]
    coeffs = [np.eye(n)]
    reference = list(range(n))
    for i, j in pairs:
        c = np.zeros((len(inner), n))
        c[:, i], c[:, j] = 1.0 - inner, inner
        coeffs.append(c)
        reference += [i] * len(inner)
    pts = Points.combine(states, np.concatenate(coeffs), reference)
    ev = evaluate_points(
        model, pts, data, bn_policy=bn_policy, bn_data=bn_data, batch_size=batch_size,
        chunk_size=chunk_size, mode=mode, progress=progress,
    )  # fmt: skip
    has_bn = bool(batchnorm_modules(model))
    curves: dict[tuple[int, int], BarrierResult] = {}
    for p, (i, j) in enumerate(pairs):
        rows = slice(n + p * len(inner), n + (p + 1) * len(inner))
        losses = np.concatenate([[ev.losses[i]], ev.losses[rows], [ev.losses[j]]])
        errors = np.concatenate([[ev.errors[i]], ev.errors[rows], [ev.errors[j]]])
        curves[(i, j)] = BarrierResult.from_curve(alphas, losses, errors, bn_policy, has_bn)
    mats = None
    if matrix:
        mats = [np.zeros((n, n)) for _ in range(4)]
        for (i, j), c in curves.items():
            vals = (c.error_barrier, c.loss_barrier, c.error_barrier_mean, c.loss_barrier_mean)
            for m, v in zip(mats, vals):
                m[i, j] = m[j, i] = v
    segments = [curves[(i, i + 1)] for i in range(n - 1)]
    em, lm, emm, lmm = mats if mats is not None else (None, None, None, None)
    return ConnectivityResult(
        labels=labels, segments=segments, error_matrix=em, loss_matrix=lm,
        error_matrix_mean=emm, loss_matrix_mean=lmm, bn_policy=bn_policy, has_batchnorm=has_bn,
        endpoint_losses=ev.losses[:n].copy(), endpoint_errors=ev.errors[:n].copy(),
    )  # fmt: skip
