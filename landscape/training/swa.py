"""Stochastic weight averaging for one SWAMP particle: the SWA schedule and the reference loop.

A particle is trained with masked SGD on the base schedule until ``T_swa``, then at a
constant ``η_swa``, while a running mean of its iterates is kept, one snapshot per
epoch ([SWAMP Alg. 1]; SPEC §2). :func:`train_particle` is the sequential reference;
:mod:`landscape.training.vectorized` trains N particles at once with the same update
math, and the SWAMP runner checks nothing else but that both give the same numbers.

Why not ``torch.optim.swa_utils.AveragedModel``: it wraps a deep copy of one module,
so it cannot hold the stacked parameters of vectorised particles. We use its
averaging rule instead (:func:`torch.optim.swa_utils.get_swa_multi_avg_fn`, a
``lerp`` by ``1/(n+1)``), identical in both modes. BatchNorm statistics are not
averaged: they are re-estimated with :func:`landscape.training.recompute_bn` on
:func:`bn_batches` (the same rule as ``swa_utils.update_bn``: reset, then a
cumulative mean), which works on a plain module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import get_swa_multi_avg_fn

from landscape.data import DataSet
from landscape.errors import DivergenceError
from landscape.hparams import TrainHparams
from landscape.training.schedules import Schedule

__all__ = [
    "BN_SAMPLES",
    "ParticleResult",
    "SwaPlan",
    "autocast",
    "bn_batches",
    "check_finite",
    "make_plan",
    "masked_sgd",
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


def masked_sgd(params: Sequence[Tensor], hp: TrainHparams, lr: float) -> torch.optim.Optimizer:
    """A fresh ``torch.optim.SGD`` over ``params`` with the run's momentum, Nesterov and decay.

    The update is elementwise, so stacked particle tensors ``[N, ...]`` are updated
    exactly as N separate copies would be — the fact the vectorised mode rests on.
    """
    return torch.optim.SGD(
        params, lr=lr, momentum=hp.momentum, nesterov=hp.nesterov and hp.momentum > 0,
        weight_decay=hp.weight_decay,
    )  # fmt: skip


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked for, else nothing (as the training loop does)."""
    if precision == "bf16":
        if device.type != "cuda":
            raise ValueError("--precision bf16 needs a CUDA device; use fp32 on CPU")
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_finite(loss_sum: Tensor, step: int, context: str) -> None:
    """Raise :class:`DivergenceError` if any accumulated loss is NaN or infinite."""
    if not bool(torch.isfinite(loss_sum).all()):
        where = f" ({context})" if context else ""
        raise DivergenceError(
            f"a SWAMP particle's training loss diverged (non-finite) by step {step}{where}. "
            "Particles already saved and finished levels are intact. Lower --lr or --swa-lr, "
            "or add --warmup."
        )


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

    Returns:
        A :class:`ParticleResult` whose state is the SWA mean (parameters) plus the last
        iterate's buffers.

    Raises:
        DivergenceError: the loss became NaN or infinite.
    """
    from landscape.cli._common import progress

    device = next(model.parameters()).device
    lr_of = plan.lr(lr_at)
    params = dict(model.named_parameters())
    masks = {n: m.to(device=device, dtype=params[n].dtype) for n, m in (mask or {}).items()}
    opt = masked_sgd(list(params.values()), hp, lr_of(plan.start))
    names = list(params)
    avg = [p.detach().clone() for p in params.values()]
    snaps, taken = set(plan.snapshots()), 0
    curve: list[dict[str, float]] = []
    loss_sum, since = torch.zeros((), device=device), 0
    t0 = time.perf_counter()
    model.train()
    bar = progress(total=plan.stop - plan.start, desc=desc, disable=None if show_progress else True)
    batches = data.train_batches(plan.start, plan.stop, batch_size, data_seed, augment)
    for t, (x, y) in zip(range(plan.start, plan.stop), batches):
        lr = lr_of(t)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast(device, hp.precision):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for n, m in masks.items():
            params[n].grad.mul_(m)
        opt.step()
        with torch.no_grad():
            for n, m in masks.items():
                params[n].mul_(m)
        done = t + 1
        if done in snaps:
            # lerp by 1/(k+1): the first snapshot replaces the placeholder copy.
            _swa_update(avg, [p.detach() for p in params.values()], taken)
            taken += 1
        loss_sum += loss.detach().float()
        since += 1
        if (done - plan.start) % _FINITE_CHECK_EVERY == 0 or done == plan.stop:
            check_finite(loss_sum, done, context)
        if (eval_every and done % eval_every == 0) or done == plan.stop:
            curve.append({"step": done, "lr": lr, "train_loss": float(loss_sum) / since})
            loss_sum.zero_()
            since = 0
        bar.update(1)
    bar.close()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state.update(dict(zip(names, avg)))
    return ParticleResult(
        state=state,
        snapshots=taken,
        curve=curve,
        seconds=time.perf_counter() - t0,
        steps=plan.stop - plan.start,
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
