"""N SWAMP particles trained together on one device: stacked parameters through ``vmap``.

Every parameter and buffer is stacked along a new leading particle dimension
``[N, ...]``; one forward pass is ``torch.func.vmap`` of
``torch.func.functional_call`` over the stacks and a stack of N batches (each
particle draws its own data order), so a GPU runs N small networks as one large
one. The loss is the sum of the N per-particle mean losses, whose gradient with
respect to the stack is exactly the N separate gradients; ``torch.optim.SGD`` over
the stacked tensors is elementwise and therefore the same update as N optimisers.
The batches, start and update rule are those of :func:`landscape.training.swa.train_particle`
run N times; the numbers agree to float rounding over the first steps (tests/test_swamp.py),
not bit for bit: vmap's batched kernels (convolution, BatchNorm, a linear layer's weight
gradient over the particle stack) sum in another order, and over a long level at a high
learning rate the difference grows (docs/science.md §5).

BatchNorm under ``vmap`` (measured on a 2-core CPU): running statistics are updated in place on
the stacked buffers, which works because every buffer is stacked too and the
module momenta are floats (the PyTorch default 0.1); ``momentum=None`` modules are
rejected with a clear error. Models with random layers (dropout) are not supported:
``vmap`` refuses random operations unless told how to split them, and a split
stream could not match the sequential reference anyway.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.optim.swa_utils import get_swa_multi_avg_fn

from landscape.data import DataSet
from landscape.experiment_log import ScalarLog
from landscape.functional import batchnorm_layers
from landscape.hparams import TrainHparams
from landscape.training.loop import (
    FINITE_CHECK_EVERY,
    _StepLog,
    autocast,
    check_finite,
    masked_sgd,
)
from landscape.training.schedules import Schedule
from landscape.training.swa import ParticleResult, SwaPlan

__all__ = ["stack_states", "train_particles", "unstack_state"]

_swa_update = get_swa_multi_avg_fn()  # the same lerp-by-1/(k+1) rule as swa.py


def stack_states(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """``{name: torch.stack([s[name] for s in states])}``: the particle dimension first."""
    if not states:
        raise ValueError("stack_states needs at least one state")
    return {k: torch.stack([s[k].detach() for s in states]).clone() for k in states[0]}


def unstack_state(stacked: Mapping[str, Tensor], index: int) -> dict[str, Tensor]:
    """Particle ``index`` of a stacked state, as a plain state dict of fresh tensors."""
    return {k: v[index].detach().clone() for k, v in stacked.items()}


def _check_batchnorm(model: nn.Module) -> None:
    for name, m in batchnorm_layers(model):
        if m.momentum is None:
            raise ValueError(
                f"BatchNorm {name!r} has momentum=None (a cumulative mean), which cannot be "
                "updated under vmap; give it a float momentum or use --particle-mode sequential"
            )


def train_particles(
    model: nn.Module,
    states: Sequence[Mapping[str, Tensor]],
    data: DataSet,
    hp: TrainHparams,
    batch_size: int,
    *,
    plan: SwaPlan,
    lr_at: Schedule,
    data_seeds: Sequence[int],
    mask: Mapping[str, Tensor] | None = None,
    augment: bool = True,
    eval_every: int = 0,
    desc: str = "particles",
    show_progress: bool = True,
    context: str = "",
    on_logs: Sequence[ScalarLog | None] | None = None,
) -> list[ParticleResult]:
    """Train ``len(states)`` particles at once with masked SGD and SWA [SWAMP Alg. 1].

    Args:
        model: the skeleton; only its structure is used (its tensors are not touched).
        states: each particle's (masked) start state dict.
        data, hp, batch_size, plan, lr_at, mask, augment, eval_every, context: as in
            :func:`landscape.training.swa.train_particle`.
        data_seeds: particle ``i`` draws its batches with ``data_seeds[i]``.
        on_logs: particle ``i``'s experiment log (``train/loss`` and ``train/lr`` of every
            step, ``train/loss_mean`` at each curve point), as in :func:`landscape.training.train`.

    Returns:
        One :class:`ParticleResult` per particle, in order; ``seconds`` is the group's
        wall time divided by the number of particles.

    Raises:
        DivergenceError: a particle's loss became NaN or infinite.
    """
    from landscape.progress import progress

    n = len(states)
    if n == 0:
        raise ValueError("train_particles needs at least one start state")
    if len(data_seeds) != n:
        raise ValueError(f"got {n} start states but {len(data_seeds)} data seeds")
    _check_batchnorm(model)
    device = next(model.parameters()).device
    pnames = [k for k, _ in model.named_parameters()]
    bnames = [k for k, _ in model.named_buffers()]
    stacked = stack_states([{k: s[k].to(device) for k in (*pnames, *bnames)} for s in states])
    params = {k: stacked[k].requires_grad_() for k in pnames}
    buffers = {k: stacked[k] for k in bnames}
    # One mask for all particles, broadcast over the particle dimension.
    masks = {k: m.to(device=device, dtype=params[k].dtype) for k, m in (mask or {}).items()}
    lr_of = plan.lr(lr_at)
    opt = masked_sgd(list(params.values()), hp, lr_of(plan.start))
    avg = [p.detach().clone() for p in params.values()]
    snaps, taken = set(plan.snapshots()), 0
    model.train()

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, (p, b), (x,))

    batched_forward = vmap(forward)
    curves: list[list[dict[str, float]]] = [[] for _ in range(n)]
    loss_sum, since = torch.zeros(n, device=device), 0
    t0 = time.perf_counter()
    bar = progress(total=plan.stop - plan.start, desc=desc, disable=None if show_progress else True)
    streams = [
        data.train_batches(plan.start, plan.stop, batch_size, s, augment) for s in data_seeds
    ]
    steps = _StepLog(on_logs)
    for t, group in zip(range(plan.start, plan.stop), zip(*streams)):
        lr = lr_of(t)
        for g in opt.param_groups:
            g["lr"] = lr
        xs = torch.stack([x for x, _ in group])
        ys = torch.stack([y for _, y in group])
        with autocast(device, hp.precision):
            logits = batched_forward(params, buffers, xs)
        per = F.cross_entropy(logits.flatten(0, 1).float(), ys.flatten(), reduction="none")
        losses = per.view(n, -1).mean(1)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        for k, m in masks.items():
            params[k].grad.mul_(m)
        opt.step()
        with torch.no_grad():
            for k, m in masks.items():
                params[k].mul_(m)
        done = t + 1
        if done in snaps:
            _swa_update(avg, [p.detach() for p in params.values()], taken)
            taken += 1
        loss_sum += losses.detach().float()
        since += 1
        steps.add(done, lr, losses)
        if (done - plan.start) % FINITE_CHECK_EVERY == 0 or done == plan.stop:
            check_finite(loss_sum, done, context)
            steps.flush()
        if (eval_every and done % eval_every == 0) or done == plan.stop:
            steps.flush()
            means = (loss_sum / since).tolist()
            for i in range(n):
                curves[i].append({"step": done, "lr": lr, "train_loss": means[i]})
                if on_logs and on_logs[i] is not None:
                    on_logs[i]({"train/loss_mean": means[i]}, done)
            loss_sum.zero_()
            since = 0
        bar.update(1)
    bar.close()
    seconds = (time.perf_counter() - t0) / n
    final = {**{k: v.detach() for k, v in buffers.items()}, **dict(zip(pnames, avg))}
    return [
        ParticleResult(
            state=unstack_state(final, i),
            snapshots=taken,
            curve=curves[i],
            seconds=seconds,
            steps=plan.stop - plan.start,
        )
        for i in range(n)
    ]
