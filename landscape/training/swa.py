"""Stochastic weight averaging for one SWAMP particle: the SWA schedule and the reference loop.

A particle is trained with masked SGD on the base schedule until ``T_swa``, then at a
constant ``η_swa``, while a running mean of its iterates is kept, one snapshot per
epoch ([SWAMP Alg. 1]; docs/science.md). :func:`train_particle` is the sequential reference;
:mod:`landscape.training.vectorized` trains N particles at once with the same update
math on the same batches (equal to float rounding over the first steps, not bit-equal;
docs/science.md §5).

Why not ``torch.optim.swa_utils.AveragedModel``: it wraps a deep copy of one module,
so it cannot hold the stacked parameters of vectorised particles. We use its
averaging rule instead (:func:`torch.optim.swa_utils.get_swa_multi_avg_fn`, a
``lerp`` by ``1/(n+1)``), identical in both modes. BatchNorm statistics are not
averaged: they are re-estimated with :func:`landscape.training.recompute_bn` on
:func:`bn_batches` (the same rule as ``swa_utils.update_bn``: reset, then a
cumulative mean), which works on a plain module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.optim.swa_utils import get_swa_multi_avg_fn

from landscape.data import DataSet
from landscape.experiment_log import ScalarLog
from landscape.hparams import TrainHparams
from landscape.training.loop import train
from landscape.training.schedules import Schedule

__all__ = [
    "BN_SAMPLES",
    "ParticleResult",
    "SwaPlan",
    "bn_batches",
    "make_plan",
    "train_particle",
]

#: Samples used to re-estimate BatchNorm statistics of an averaged network [ours]:
#: the first ``BN_SAMPLES`` training samples, unaugmented, in data-set order, in full
#: batches of the training batch size (all of MNIST-1D; 39 batches of 128 on CIFAR).
BN_SAMPLES = 5000

# How often (in steps) the loop looks for a non-finite loss; each look is a host sync.
_FINITE_CHECK_EVERY = 50

_swa_update = get_swa_multi_avg_fn()


@dataclass(frozen=True)
class SwaPlan:
    """When a particle averages: steps ``start .. stop-1``, SWA from ``swa_step`` on.

    Attributes:
        start, stop: the global step range of the level (``τ .. T`` in SWAMP).
        swa_step: ``T_swa``; steps ``t ≥ swa_step`` use the constant ``swa_lr``.
        swa_lr: ``η_swa`` (0.05 [SWAMP]).
        steps_per_epoch: snapshots are taken at epoch ends.
    """

    start: int
    stop: int
    swa_step: int
    swa_lr: float
    steps_per_epoch: int

    def lr(self, base: Schedule) -> Schedule:
        """The particle's schedule: ``base(t)`` before ``T_swa``, ``η_swa`` from it on."""
        swa_step, swa_lr = self.swa_step, self.swa_lr
        return lambda t: swa_lr if t >= swa_step else base(t)

    def snapshots(self) -> list[int]:
        """Step counts after which the iterate joins the running mean [ours].

        Every epoch end ``d`` (``d % steps_per_epoch == 0``) with ``T_swa < d ≤ T``,
        and always the last step ``T``; so each snapshot has seen at least one SWA-LR
        step, and ``swa_start = 1`` (no SWA phase) averages just the final iterate.
        """
        spe = self.steps_per_epoch
        first = (self.swa_step // spe + 1) * spe
        out = list(range(first, self.stop + 1, spe))
        if not out or out[-1] != self.stop:
            out.append(self.stop)
        return out


def make_plan(
    start: int, stop: int, swa_start: float, swa_lr: float, steps_per_epoch: int
) -> SwaPlan:
    """``T_swa = start + round(swa_start · (stop − start))`` (75% of the level's steps by default)."""
    if stop <= start:
        raise ValueError(f"a SWAMP level needs steps: start {start} is not before stop {stop}")
    if not 0 <= swa_start <= 1:
        raise ValueError(f"--swa-start is a fraction in [0, 1], got {swa_start}")
    if swa_lr <= 0:
        raise ValueError(f"--swa-lr must be positive, got {swa_lr}")
    swa_step = start + round(swa_start * (stop - start))
    return SwaPlan(start, stop, swa_step, swa_lr, steps_per_epoch)


@dataclass
class ParticleResult:
    """One trained particle.

    Attributes:
        state: the SWA mean of the parameters, with the buffers of the last iterate
            (BatchNorm statistics are re-estimated afterwards, never averaged).
        snapshots: how many iterates the mean holds.
        curve: rows ``{"step", "lr", "train_loss"}`` (mean batch loss since the last row).
        seconds, steps: wall time and optimiser steps of this particle's training (a
            vectorised group reports the group's wall time divided by its size).
    """

    state: dict[str, Tensor]
    snapshots: int
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def train_particle(
    model: nn.Module,
    data: DataSet,
    hp: TrainHparams,
    batch_size: int,
    *,
    plan: SwaPlan,
    lr_at: Schedule,
    mask: Mapping[str, Tensor] | None = None,
    data_seed: int = 0,
    augment: bool = True,
    eval_every: int = 0,
    desc: str = "particle",
    show_progress: bool = True,
    context: str = "",
    on_log: ScalarLog | None = None,
) -> ParticleResult:
    """Train one particle with masked SGD and SWA; the sequential reference [SWAMP Alg. 1].

    The per-step math is that of :func:`landscape.training.train` (gradients masked
    before the step, weights re-masked after it, a fresh optimiser), with the
    learning rate ``plan.lr(lr_at)`` and the running mean updated after every step in
    ``plan.snapshots()``. The model is trained in place; its final iterate stays in it.

    Args:
        model: the network, already holding the (masked) start weights.
        data: batches are drawn by global step index with ``data_seed``.
        hp: optimiser settings.
        batch_size: training batch size.
        plan: the step range, ``T_swa``, ``η_swa`` and the snapshot steps.
        lr_at: the base schedule ``t -> lr`` (used before ``T_swa``).
        mask: prunable-tensor mask (``True`` keeps); ``None`` trains densely.
        eval_every: a curve row every N steps (0: one row at the end).
        context: named in the divergence message.
        on_log: the particle's experiment log, as in :func:`landscape.training.train`.

    Returns:
        A :class:`ParticleResult` whose state is the SWA mean (parameters) plus the last
        iterate's buffers.

    Raises:
        DivergenceError: the loss became NaN or infinite.
    """
    names = [n for n, _ in model.named_parameters()]
    avg = [p.detach().clone() for _, p in model.named_parameters()]
    snaps, taken = set(plan.snapshots()), 0

    def snapshot(done: int, net: nn.Module) -> None:
        nonlocal taken
        if done in snaps:
            # lerp by 1/(k+1): the first snapshot replaces the placeholder copy.
            _swa_update(avg, [p.detach() for p in net.parameters()], taken)
            taken += 1

    result = train(
        model, data, hp, batch_size, start=plan.start, stop=plan.stop, mask=mask,
        lr_at=plan.lr(lr_at), data_seed=data_seed, augment=augment, eval_every=eval_every,
        desc=desc, show_progress=show_progress, context=context, on_step=snapshot, on_log=on_log,
    )  # fmt: skip
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state.update(dict(zip(names, avg)))
    return ParticleResult(
        state=state, snapshots=taken, curve=result.curve, seconds=result.seconds, steps=result.steps
    )


def bn_batches(
    data: DataSet, batch_size: int, samples: int = BN_SAMPLES
) -> tuple[list[tuple[Tensor, Tensor]], dict[str, Any]]:
    """The fixed batches that re-estimate BatchNorm statistics of averaged networks [ours].

    Returns:
        ``(batches, record)``: the first ``⌊min(samples, N_train) / batch_size⌋`` full,
        unaugmented training batches in data-set order (at least one), and a JSON-able
        description of them for the metrics.
    """
    n = max(1, min(samples, data.num_train) // batch_size)
    batches = []
    for i, b in enumerate(data.eval_batches("train", batch_size)):
        if i == n:
            break
        batches.append(b)
    record = {
        "policy": "recompute",
        "split": "train",
        "augment": False,
        "order": "data-set order, from the first sample",
        "batch_size": batch_size,
        "batches": len(batches),
        "samples": sum(int(y.numel()) for _, y in batches),
    }
    return batches, record
