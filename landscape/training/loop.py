"""The masked SGD training loop ``A_t(w, k)`` of docs/science.md.

Pruned coordinates stay exactly zero: their gradients are zeroed before every
optimiser step and the weights are re-masked after it, so the momentum buffer of
a pruned coordinate, which only ever accumulates ``grad + wd·w = 0``, stays 0.
A fresh optimiser is made for every call (open_lth's "fresh optimiser state at
every level"); its momentum can be handed in and read back (``momentum``,
:attr:`TrainResult.momentum`), so a run trained in segments (gradual pruning,
:mod:`landscape.runners.gradual`) is the run trained in one call.

Masks may change while training (``mask_at``): gradual magnitude pruning [Zhu & Gupta
2017] zeroes the newly pruned weights and their momentum at each update and trains on as
above; with ``feedback`` (DPF, Lin et al. 2020, §3) the forward and backward pass use the
pruned weights ``m ⊙ w`` while the optimiser updates the dense ``w`` with that gradient,
so pruned weights keep learning and may return at the next mask update.

Data-parallel (``data_parallel=True`` under ``torchrun``, docs/scaling.md): every
rank draws the same global batch of step ``t`` (a pure function of ``t``), keeps
its contiguous ``1/R`` share, and ``torch.nn.parallel.DistributedDataParallel``
averages the gradients, so each step is the single-process step on the global
batch up to float rounding. BatchNorm statistics are those of a rank's share
(DDP's default) on the CPU, and synchronised over ranks (``SyncBatchNorm``) on CUDA.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape import distributed
from landscape.data import DataSet
from landscape.distributed import DistributedError
from landscape.errors import DivergenceError
from landscape.experiment_log import ScalarLog
from landscape.hparams import TrainHparams
from landscape.training.evaluate import evaluate
from landscape.training.schedules import Schedule, lr_schedule

__all__ = ["FINITE_CHECK_EVERY", "TrainResult", "autocast", "check_finite", "masked_sgd", "train"]

# How often (in steps) the loop looks at the loss for NaN/inf. Looking costs a host
# sync, so it is batched: a diverged step is still caught within this many steps.
FINITE_CHECK_EVERY = 50


@dataclass
class TrainResult:
    """What a call of :func:`train` did: the learning curve, wall seconds and steps."""

    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    #: the optimiser's momentum buffers at the end, by parameter name (none without momentum)
    momentum: dict[str, Tensor] = field(default_factory=dict)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked for, else nothing."""
    if precision == "bf16":
        if device.type != "cuda":
            raise ValueError("--precision bf16 needs a CUDA device; use fp32 on CPU")
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def masked_sgd(params: Sequence[Tensor], hp: TrainHparams, lr: float) -> torch.optim.Optimizer:
    """A fresh ``torch.optim.SGD`` over ``params`` with the run's momentum, Nesterov and decay.

    The update is elementwise, so stacked particle tensors ``[N, ...]`` are updated
    exactly as N separate copies would be (SWAMP's vectorised mode rests on this).
    """
    return torch.optim.SGD(
        params, lr=lr, momentum=hp.momentum, nesterov=hp.nesterov and hp.momentum > 0,
        weight_decay=hp.weight_decay,
    )  # fmt: skip


def train(
    model: nn.Module,
    data: DataSet,
    hp: TrainHparams,
    batch_size: int,
    *,
    stop: int,
    start: int = 0,
    mask: Mapping[str, Tensor] | None = None,
    lr_at: Schedule | None = None,
    data_seed: int = 0,
    augment: bool = True,
    eval_every: int = 0,
    desc: str = "train",
    show_progress: bool = True,
    context: str = "",
    on_step: Callable[[int, nn.Module], None] | None = None,
    data_parallel: bool = False,
    on_log: ScalarLog | None = None,
    mask_at: Callable[[int, nn.Module], Mapping[str, Tensor] | None] | None = None,
    feedback: bool = False,
    momentum: Mapping[str, Tensor] | None = None,
) -> TrainResult:
    """Train ``model`` in place for global steps ``start .. stop-1`` with masked SGD.

    Args:
        model: the network; its weights should already be masked.
        data: batches are drawn by global step index (resume-safe).
        hp: optimiser settings (lr, momentum, Nesterov, weight decay, precision).
        batch_size: training batch size.
        stop, start: global step range; the LR at step ``t`` is ``lr_at(t)``.
        mask: prunable-tensor mask (``True`` keeps); ``None`` trains densely.
        lr_at: schedule ``t -> lr``; default: :func:`lr_schedule` of ``hp``.
        data_seed: seed of the data order / augmentation (SGD noise).
        eval_every: append a test-set point to the learning curve every N steps (0: never).
        context: named in the divergence message (e.g. the run directory and level).
        on_step: called as ``on_step(t + 1, model)`` after every optimiser step and
            re-masking (SWA snapshots hook in here).
        data_parallel: under ``torchrun``, train with DDP over the ranks, each on its
            share of the global batch (module docstring); every rank must call.
        on_log: the experiment log (:mod:`landscape.experiment_log`): gets ``train/loss``
            (of the global batch, under DDP too) and ``train/lr`` of every step,
            handed over in groups at the loop's existing host syncs (every
            :data:`FINITE_CHECK_EVERY` steps), and ``test/loss``, ``test/error`` and
            ``train/loss_mean`` (the curve's mean since the last point) at each evaluation.
        mask_at: called as ``mask_at(t, model)`` before step ``t``; a mask it returns
            replaces the one in force from step ``t`` on (``None``: no change). Without
            ``feedback`` the newly pruned weights and their momentum are zeroed then.
        feedback: DPF's update (module docstring): forward and backward at ``m ⊙ w``, the
            step applied to the dense weights, which are left in ``model``; the learning
            curve evaluates ``m ⊙ w``.
        momentum: the momentum buffers to start from, by parameter name (a previous
            call's :attr:`TrainResult.momentum`); default: a fresh optimiser.

    Returns:
        A :class:`TrainResult`; ``curve`` rows hold ``step``, ``lr``, ``train_loss``
        (mean batch loss since the last point), ``test_loss`` and ``test_error``.

    Raises:
        DivergenceError: the training loss became NaN or infinite.
        DistributedError: ``data_parallel`` with a batch size the ranks do not divide.
    """
    from landscape.progress import progress

    device = next(model.parameters()).device
    spe = data.steps_per_epoch(batch_size)
    lr_at = lr_at or lr_schedule(hp, spe)
    params = dict(model.named_parameters())
    masks = _factors(mask, params, device)
    opt = masked_sgd(list(model.parameters()), hp, lr_at(start))
    for n, buf in (momentum or {}).items():
        opt.state[params[n]]["momentum_buffer"] = buf.detach().to(params[n]).clone()
    result = TrainResult()
    t0 = time.perf_counter()
    model.train()
    parallel = data_parallel and distributed.collective()
    share = _share(batch_size) if parallel else slice(None)
    net = _wrap(model, hp, device, parallel)
    loss_sum = torch.zeros((), device=device)
    since = 0
    bar = progress(total=stop - start, desc=desc, disable=None if show_progress else True)
    batches = data.train_batches(start, stop, batch_size, data_seed, augment)
    # Under DDP rank 0 alone logs, of the global batch: when it does, every rank keeps its
    # share's losses for the mean (rank 0's choice reaches the others once per call).
    logging = distributed.broadcast_object(on_log is not None) if parallel else False
    steps = _StepLog(on_log, reduce=bool(logging))
    for t, (x, y) in zip(range(start, stop), batches):
        new_mask = mask_at(t, model) if mask_at is not None else None
        if new_mask is not None:
            masks = _factors(new_mask, params, device)
            if not feedback:
                _zero_pruned(params, masks, opt)
        lr = lr_at(t)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = x[share], y[share]
        if hp.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with _pruned_view(params, masks if feedback else {}):
            with autocast(device, hp.precision):
                loss = F.cross_entropy(net(x), y)
            loss.backward()
        if masks and not feedback:
            for n, m in masks.items():
                params[n].grad.mul_(m)
        opt.step()
        if masks and not feedback:
            with torch.no_grad():
                for n, m in masks.items():
                    params[n].mul_(m)
        done = t + 1
        if on_step is not None:
            on_step(done, model)
        loss_sum += loss.detach().float()
        since += 1
        steps.add(done, lr, loss)
        checked = (done - start) % FINITE_CHECK_EVERY == 0 or done == stop
        if checked or (eval_every and done % eval_every == 0):
            # every rank sees the mean over ranks, so all of them stop together
            mean = distributed.all_reduce_mean(loss_sum.clone()) if parallel else loss_sum
            check_finite(mean, done, context)
            steps.flush()  # after the finite check: its host sync is already paid
        if eval_every and (done % eval_every == 0 or done == stop):
            point: dict[str, Any] = {"step": done, "lr": lr, "train_loss": float(mean) / since}
            with _pruned_view(params, masks if feedback else {}):
                test = evaluate(model, data, "test", shard=parallel)
            point.update(test_loss=test["loss"], test_error=test["error"])
            result.curve.append(point)
            if on_log is not None:
                on_log({"test/loss": test["loss"], "test/error": test["error"],
                        "train/loss_mean": point["train_loss"]}, done)  # fmt: skip
            loss_sum.zero_()
            since = 0
            bar.set_postfix(test_err=f"{test['error']:.3f}")
        bar.update(1)
    bar.close()
    if parallel:  # DDP's buckets are freed now, not at some later garbage collection
        del net
        gc.collect()
    if hp.channels_last:  # saved tensors are contiguous (safetensors needs it)
        model.to(memory_format=torch.contiguous_format)
    result.steps = stop - start
    result.seconds = time.perf_counter() - t0
    result.momentum = {n: opt.state[p]["momentum_buffer"] for n, p in params.items()
                       if opt.state.get(p, {}).get("momentum_buffer") is not None}  # fmt: skip
    return result


def _factors(
    mask: Mapping[str, Tensor] | None, params: Mapping[str, Tensor], device: torch.device
) -> dict[str, Tensor]:
    """The mask as 0/1 factors in each parameter's dtype, on ``device``."""
    return {n: m.to(device=device, dtype=params[n].dtype) for n, m in (mask or {}).items()}


def _zero_pruned(
    params: Mapping[str, Tensor], masks: Mapping[str, Tensor], opt: torch.optim.Optimizer
) -> None:
    """Zero the pruned weights and their momentum (a new mask of gradual pruning): from here
    on they stay 0 as under any fixed mask (module docstring)."""
    with torch.no_grad():
        for n, m in masks.items():
            params[n].mul_(m)
            buf = opt.state.get(params[n], {}).get("momentum_buffer")
            if buf is not None:
                buf.mul_(m)


@contextlib.contextmanager
def _pruned_view(params: Mapping[str, Tensor], masks: Mapping[str, Tensor]):
    """Inside, the parameters hold ``m ⊙ w``; on leaving, the dense ``w`` again (gradients
    computed inside stay). Nothing happens for an empty ``masks``."""
    if not masks:
        yield
        return
    dense = {n: params[n].detach().clone() for n in masks}
    with torch.no_grad():
        for n, m in masks.items():
            params[n].mul_(m)
    try:
        yield
    finally:
        with torch.no_grad():
            for n, w in dense.items():
                params[n].copy_(w)


class _StepLog:
    """Per-step losses held on the device until the next host sync, then handed to ``on_log``
    (one ``.tolist()`` per group, so logging adds no synchronisation per step). A row
    ``losses`` may be a vector (one loss per particle): ``on_log`` is then one callback per
    entry."""

    def __init__(
        self, on_log: ScalarLog | Sequence[ScalarLog | None] | None, reduce: bool = False
    ) -> None:
        if isinstance(on_log, Sequence) and all(log is None for log in on_log):
            on_log = None  # no particle is logged
        self.on_log = on_log
        # Under DDP only rank 0 logs, but every rank holds its share's losses and joins the
        # mean at each flush (one all-reduce of ≤ FINITE_CHECK_EVERY numbers per flush).
        self.reduce = reduce
        self.rows: list[tuple[int, float, Tensor]] = []

    def add(self, step: int, lr: float, loss: Tensor) -> None:
        if self.on_log is not None or self.reduce:
            self.rows.append((step, lr, loss.detach()))

    def flush(self) -> None:
        """Hand the held steps to ``on_log``; every rank of a DDP run calls it at the same steps."""
        if not self.rows:
            return
        stacked = torch.stack([r[2].float() for r in self.rows])
        if self.reduce:
            stacked = distributed.all_reduce_mean(stacked)
        if self.on_log is None:
            self.rows.clear()
            return
        values = stacked.tolist()
        logs = self.on_log if isinstance(self.on_log, Sequence) else None
        for (step, lr, _), v in zip(self.rows, values):
            if logs is None:
                self.on_log({"train/loss": v, "train/lr": lr}, step)  # type: ignore[operator]
                continue
            for log, vi in zip(logs, v):
                if log is not None:
                    log({"train/loss": vi, "train/lr": lr}, step)
        self.rows.clear()


def _share(batch_size: int) -> slice:
    """This rank's contiguous ``1/R`` of a global batch of ``batch_size`` rows."""
    rank, world = distributed.shard_world()
    if batch_size % world:
        raise DistributedError(
            f"--batch-size {batch_size} is not divisible by the {world} processes: each rank "
            f"trains on an equal share of the global batch. Use a batch size divisible by {world} "
            "or another --nproc-per-node"
        )
    per = batch_size // world
    return slice(rank * per, (rank + 1) * per)


def _wrap(model: nn.Module, hp: TrainHparams, device: torch.device, parallel: bool) -> nn.Module:
    """What the loop calls: ``model`` in channels-last layout, under DDP, compiled, as asked.

    The optimiser and the masks work on ``model``'s own parameters, which the wrappers share.
    """
    if hp.channels_last:
        model.to(memory_format=torch.channels_last)  # 4-D weights only; others unchanged
    net = model
    if parallel:
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":  # statistics over the global batch, as on one GPU
            net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    if hp.compile:
        net = torch.compile(net)
    return net


def check_finite(loss_sum: Tensor, step: int, context: str) -> None:
    """Raise :class:`DivergenceError` if any accumulated loss is NaN or infinite."""
    if not bool(torch.isfinite(loss_sum).all()):
        where = f" ({context})" if context else ""
        raise DivergenceError(
            f"the training loss diverged (non-finite) by step {step}{where}. The level's weights "
            "were not saved (its mask, if already written, is kept and reused); finished levels "
            "are intact (so are saved SWAMP particles). Lower --lr (or --swa-lr), add --warmup, "
            "or check the data, then re-run."
        )
