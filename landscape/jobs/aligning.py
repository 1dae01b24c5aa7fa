"""What the jobs that align networks share (``align``, ``barrier``, ``connectivity``,
``instability`` and the connectivity across runs): aligning one checkpoint onto another,
the straight-path barrier with or without REPAIR, the mask overlap, and how all of it
is recorded (docs/science.md, permutation alignment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.analysis.alignment import (
    Matching,
    PermutationSpec,
    apply_permutation,
    match,
    permutation_spec,
    repaired_barrier,
    weight_distance,
)
from landscape.analysis.connectivity import BarrierResult, ConnectivityResult
from landscape.analysis.connectivity import barrier as barrier_curve
from landscape.analysis.engine import batchnorm_modules
from landscape.errors import LandscapeError
from landscape.jobs.evaluation import bn_batches, eval_data, train_batches
from landscape.runs import Run
from landscape.specs import EngineSpec

__all__ = [
    "Aligned",
    "align_states",
    "aligned_path_barrier",
    "alignment_record",
    "check_repair",
    "connectivity_from_pairs",
    "mask_iou",
    "path_barrier",
    "run_permutation_spec",
]

State = Mapping[str, Tensor]


@dataclass(frozen=True)
class Aligned:
    """Network B permuted onto network A.

    Attributes:
        state: B's state dict, permuted (the same function as B).
        mask: B's mask, permuted with its weights (``None`` when none was given).
        matching: the permutation and the matched objective before and after.
        spec: the permutation groups of the architecture.
        distance_before, distance_after: ``‖θ_A − θ_B‖`` and ``‖θ_A − π(θ_B)‖`` over the
            parameters (float64).
    """

    state: dict[str, Tensor]
    mask: dict[str, Tensor] | None
    matching: Matching
    spec: PermutationSpec
    distance_before: float
    distance_after: float

    def summary(self) -> dict[str, Any]:
        """The record's ``alignment`` entry: method, group sizes, distances, objective."""
        m = self.matching
        return {"method": m.method, "groups": self.spec.sizes(), "sweeps": m.sweeps,
                "distance_before": self.distance_before, "distance_after": self.distance_after,
                "objective_before": m.objective_before, "objective_after": m.objective_after}  # fmt: skip


def run_permutation_spec(run: Run, model: nn.Module) -> PermutationSpec:
    """The permutation groups of ``run``'s architecture, traced on two of its inputs."""
    x, _ = run.data.tensors("train", 2)
    return permutation_spec(model, x)


def align_states(
    run: Run,
    model: nn.Module,
    state_a: State,
    state_b: State,
    method: str,
    samples: int,
    mask_b: State | None = None,
    spec: PermutationSpec | None = None,
) -> Aligned:
    """B (``state_b``, and ``mask_b``) permuted onto A by ``method`` (``weight`` or
    ``activation``, the latter on the first ``samples`` training samples of ``run``)."""
    spec = spec or run_permutation_spec(run, model)
    names = [n for n, _ in model.named_parameters()]
    batches = train_batches(run, samples) if method == "activation" else None
    m = match(method, model, spec, state_a, state_b, names=names, batches=batches)
    aligned = apply_permutation(spec, m.perm, state_b)
    mask = None if mask_b is None else apply_permutation(spec, m.perm, mask_b)
    return Aligned(aligned, mask, m, spec, weight_distance(state_a, state_b, names),
                   weight_distance(state_a, aligned, names))  # fmt: skip


def check_repair(model: nn.Module, engine: EngineSpec, repair: bool) -> None:
    """REPAIR of a BatchNorm network is ``--bn-policy recompute``; refuse another policy."""
    if repair and batchnorm_modules(model) and engine.bn_policy != "recompute":
        raise LandscapeError(
            f"--repair on a BatchNorm network is --bn-policy recompute (Jordan et al. 2023, §4); "
            f"drop --bn-policy {engine.bn_policy} or --repair"
        )


def alignment_record(align: str, repair: bool, model: nn.Module) -> dict[str, Any]:
    """How a result was aligned and repaired (recorded in every barrier-type result)."""
    how = None
    if repair:
        how = "bn-recompute" if batchnorm_modules(model) else "rescale"
    return {"align": align, "repair": repair, "repair_by": how}


def path_barrier(
    run: Run,
    model: nn.Module,
    state_a: State,
    state_b: State,
    *,
    points: int,
    split: str,
    engine: EngineSpec,
    repair: bool,
    spec: PermutationSpec | None = None,
) -> BarrierResult:
    """The barrier on the straight path ``state_a → state_b`` measured on ``run``'s data,
    REPAIRed if asked (:func:`check_repair` first): BatchNorm networks by the engine's
    ``recompute`` policy, others by :func:`~landscape.analysis.alignment.repaired_barrier`."""
    check_repair(model, engine, repair)
    data = eval_data(run, split, engine.eval_samples)
    if repair and not batchnorm_modules(model):
        spec = spec or run_permutation_spec(run, model)
        return repaired_barrier(model, spec, state_a, state_b, data,
                                train_batches(run, engine.bn_samples), points, **engine.speed())  # fmt: skip
    return barrier_curve(model, state_a, state_b, data, points, engine.bn_policy,
                         bn_batches(run, engine), **engine.speed())  # fmt: skip


def aligned_path_barrier(
    run: Run,
    model: nn.Module,
    state_a: State,
    state_b: State,
    *,
    align: str,
    repair: bool,
    points: int,
    split: str,
    engine: EngineSpec,
) -> tuple[BarrierResult, dict[str, Any] | None]:
    """``state_b`` permuted onto ``state_a`` by ``align`` (``"none"``: as it is), then the
    barrier of the straight path (:func:`path_barrier`); with the alignment's summary, or
    ``None`` when nothing was aligned. What ``barrier`` and ``instability`` measure."""
    summary = None
    if align != "none":
        aligned = align_states(run, model, state_a, state_b, align, engine.bn_samples)
        state_b, summary = aligned.state, aligned.summary()
    res = path_barrier(run, model, state_a, state_b, points=points, split=split, engine=engine,
                       repair=repair)  # fmt: skip
    return res, summary


def mask_iou(mask_a: State, mask_b: State) -> float:
    """``|m_A ∧ m_B| / |m_A ∨ m_B|`` over the tensors of both masks (1 for two dense masks)."""
    inter = union = 0
    for k in mask_a:
        a, b = mask_a[k].bool(), mask_b[k].bool()
        inter += int((a & b).sum())
        union += int((a | b).sum())
    return inter / union if union else 1.0


def state_to(state: State, device: torch.device) -> dict[str, Tensor]:
    """Every tensor of ``state`` on ``device``."""
    return {k: v.to(device) for k, v in state.items()}


def connectivity_from_pairs(
    labels: Sequence[int], curves: Mapping[tuple[int, int], BarrierResult], *, matrix: bool
) -> ConnectivityResult:
    """A :class:`ConnectivityResult` from one barrier curve per pair ``(i, j)``, ``i < j``
    (each pair measured on its own, e.g. with ``j`` aligned onto ``i``). The endpoint
    values are each state's as the start of its first pair (the end of the last)."""
    n = len(labels)
    mats = [np.zeros((n, n)) for _ in range(4)] if matrix else None
    if mats is not None:
        for (i, j), c in curves.items():
            vals = (c.error_barrier, c.loss_barrier, c.error_barrier_mean, c.loss_barrier_mean)
            for m, v in zip(mats, vals):
                m[i, j] = m[j, i] = v
    first = next(iter(curves.values()))
    ends_l = [curves[i, i + 1].losses[0] for i in range(n - 1)] + [curves[n - 2, n - 1].losses[-1]]
    ends_e = [curves[i, i + 1].errors[0] for i in range(n - 1)] + [curves[n - 2, n - 1].errors[-1]]
    em, lm, emm, lmm = mats if mats is not None else (None, None, None, None)
    return ConnectivityResult(
        labels=list(labels), segments=[curves[i, i + 1] for i in range(n - 1)], error_matrix=em,
        loss_matrix=lm, error_matrix_mean=emm, loss_matrix_mean=lmm, bn_policy=first.bn_policy,
        has_batchnorm=first.has_batchnorm, endpoint_losses=np.asarray(ends_l),
        endpoint_errors=np.asarray(ends_e),
    )  # fmt: skip
