"""``curve(a, b, spec)``: a trained low-loss curve between two checkpoints, against the line
(Garipov et al. 2018, §3; Draxler et al. 2018).

The bend points of a Bezier curve or polygonal chain (:mod:`landscape.analysis.curves`)
start on the straight line and are trained by SGD with the run's optimiser settings
(momentum, weight decay, batch size, augmentation) and Garipov's learning-rate schedule,
one ``t ∼ U[0, 1]`` per batch, the ends fixed. BatchNorm layers use batch statistics while
the bends train; every evaluated point of the curve and of the line then gets the engine's
BatchNorm policy (``recompute`` by default: statistics re-estimated at each point). With
masked ends the bends stay in the subspace of ``spec.mask_policy``.

The result folder (``a``'s level ``analysis/curve_<digest>/``, or ``out``) holds the bends
as loadable state dicts (``bend_1.safetensors`` …), ``result.npz`` (``ts``, loss and error
along curve and line), ``curve.png`` and ``result.json`` last. Training is checkpointed
after every epoch (``training.safetensors``: bends, momentum, epoch), so a killed job
resumes where it stopped, with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from landscape import distributed
from landscape.analysis.connectivity import BarrierResult
from landscape.analysis.curves import (
    bend_mask,
    curve_coefficients,
    curve_lr,
    curve_step,
    initial_bends,
    line_coefficients,
)
from landscape.analysis.engine import Points, batchnorm_modules, evaluate_points
from landscape.checkpoint import load_state, save_state
from landscape.data.base import step_generator
from landscape.errors import LandscapeError
from landscape.jobs.common import Log, pair
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import Checkpoint, short_label, use_threads
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import CurveSpec

__all__ = ["curve", "curve_settings", "train_bends"]

#: The per-epoch training checkpoint inside the result folder (removed once finished).
TRAINING_FILE = "training.safetensors"


def _mask_of(c: Checkpoint) -> dict[str, Tensor] | None:
    """A checkpoint's mask (its level's, or a bare file's ``mask_file``), else ``None``."""
    return c.mask() if c.level is not None or c.mask_file is not None else None


def curve_settings(spec: CurveSpec, run: Run, ident_a: str, ident_b: str) -> dict[str, Any]:
    """Hashed settings of a curve: the spec with the run's optimiser settings resolved."""
    hp, d = run.config.train, run.config.data
    return {
        "kind": "curve", "a": ident_a, "b": ident_b, "curve": spec.kind, "bends": spec.bends,
        "epochs": spec.epochs, "lr": spec.lr or hp.lr, "momentum": hp.momentum,
        "nesterov": hp.nesterov, "weight_decay": hp.weight_decay, "batch_size": d.batch_size,
        "augment": d.augment, "mask_policy": spec.mask_policy, "seed": spec.seed,
        "points": spec.points, "split": spec.split, "t_sampling": "uniform per batch",
        "init": "on the line", "lr_schedule": "garipov", **spec.engine.hashed(),
    }  # fmt: skip


def _forward(model: nn.Module, buffers: Mapping[str, Tensor]):
    """``(point, x) → model(x)`` at ``point`` with fixed buffers (BatchNorm uses batch statistics
    in train mode; the running statistics it updates are a scratch copy, never used)."""

    def forward(point: Mapping[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, {**point, **buffers}, (x,))

    return forward


def train_bends(
    model: nn.Module,
    run: Run,
    state_a: Mapping[str, Tensor],
    state_b: Mapping[str, Tensor],
    bends: Sequence[dict[str, Tensor]],
    spec: CurveSpec,
    *,
    mask: Mapping[str, Tensor] | None = None,
    checkpoint: Path | None = None,
    tag: str = "",
    log: Log = print,
    quiet: bool = True,
) -> dict[str, Any]:
    """Train the bends in place for ``spec.epochs`` epochs (Garipov et al. §3, eq. 3).

    Each step draws ``t ∼ U[0, 1]`` (one per batch, from ``spec.seed``), evaluates the loss
    at ``φ_θ(t)`` and steps the bends with SGD (the run's momentum, Nesterov and weight
    decay; Garipov's schedule from ``spec.lr`` or the run's ``--lr``). After every epoch the
    bends, the momentum and the epoch count go to ``checkpoint`` (atomically), and a call
    that finds a checkpoint ``tag`` wrote continues from it.

    Returns:
        ``{"epoch_losses": mean training loss of each epoch, "seconds_per_epoch": [...],
        "resumed_from": epoch}``.
    """
    from landscape.progress import progress
    from landscape.training.loop import check_finite, masked_sgd

    hp, d = run.config.train, run.config.data
    data = run.data
    names = [n for n, _ in model.named_parameters()]
    masks = {n: m.to(device=bends[0][n].device, dtype=bends[0][n].dtype)
             for n, m in (mask or {}).items()}  # fmt: skip
    leaves = [{n: b[n].detach().clone().requires_grad_(True) for n in names} for b in bends]
    params = [p for leaf in leaves for p in leaf.values()]
    base_lr = spec.lr or hp.lr
    opt = masked_sgd(params, hp, base_lr)
    buffers = {k: v.detach().clone() for k, v in state_a.items() if k not in names}
    forward = _forward(model, buffers)
    bs = min(d.batch_size, data.num_train)
    spe = data.steps_per_epoch(bs)
    total = max(1, spec.epochs * spe)
    out: dict[str, Any] = {"epoch_losses": [], "seconds_per_epoch": [], "resumed_from": 0}
    start = 0
    if checkpoint is not None and checkpoint.exists():
        start = _restore(checkpoint, tag, leaves, opt, out)
        if start:
            log(f"resuming the curve's training at epoch {start} of {spec.epochs} ({checkpoint})")
    model.train()
    for bn in batchnorm_modules(model):
        bn.momentum = 0.1  # the scratch buffers' update; never read
    bar = progress(total=spec.epochs, initial=start, desc="curve", disable=True if quiet else None)
    for epoch in range(start, spec.epochs):
        t0 = time.perf_counter()
        ts = torch.rand(spe, generator=step_generator(spec.seed, 7, epoch)).double().numpy()
        coeffs = curve_coefficients(spec.kind, spec.bends, ts).tolist()
        loss_sum = torch.zeros((), device=run.device)
        batches = data.train_batches(epoch * spe, (epoch + 1) * spe, bs, spec.seed, d.augment)
        for i, batch in enumerate(batches):
            lr = curve_lr(base_lr, (epoch * spe + i) / total)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss_sum += curve_step(forward, F.cross_entropy, coeffs[i], state_a, leaves, state_b,
                                   names, batch)  # fmt: skip
            if masks:
                for leaf in leaves:
                    for n, m in masks.items():
                        leaf[n].grad.mul_(m)
            opt.step()
            if masks:
                with torch.no_grad():
                    for leaf in leaves:
                        for n, m in masks.items():
                            leaf[n].mul_(m)
        check_finite(loss_sum, (epoch + 1) * spe, f"curve bends, epoch {epoch + 1}")
        out["epoch_losses"].append(float(loss_sum) / spe)
        out["seconds_per_epoch"].append(time.perf_counter() - t0)
        if checkpoint is not None and distributed.is_primary():
            _save(checkpoint, tag, epoch + 1, leaves, opt, out)
        bar.update(1)
    bar.close()
    with torch.no_grad():
        for bend, leaf in zip(bends, leaves):
            for n in names:
                bend[n] = leaf[n].detach().clone()
    return out


def _save(path: Path, tag: str, epoch: int, leaves, opt, out: Mapping[str, Any]) -> None:
    tensors = {}
    for j, leaf in enumerate(leaves):
        for n, p in leaf.items():
            tensors[f"bend{j}/{n}"] = p.detach()
            buf = opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                tensors[f"momentum{j}/{n}"] = buf
    meta = {"tag": tag, "epoch": str(epoch), "progress": json.dumps(dict(out))}
    save_state(path, tensors, metadata=meta)


def _restore(path: Path, tag: str, leaves, opt, out: dict[str, Any]) -> int:
    """Load a training checkpoint of the same settings (``tag``); the epoch to start at."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("tag") != tag:
        return 0  # another settings' leftover: start afresh (it is overwritten)
    device = next(iter(leaves[0].values())).device
    tensors = load_state(path, device)
    with torch.no_grad():
        for j, leaf in enumerate(leaves):
            for n, p in leaf.items():
                p.copy_(tensors[f"bend{j}/{n}"])
                if f"momentum{j}/{n}" in tensors:
                    opt.state[p]["momentum_buffer"] = tensors[f"momentum{j}/{n}"].clone()
    out.update(json.loads(meta["progress"]))
    out["resumed_from"] = int(meta["epoch"])
    return int(meta["epoch"])


def curve(
    a: Any,
    b: Any,
    spec: CurveSpec = CurveSpec(),
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    log: Log = print,
    quiet: bool = True,
) -> Result:
    """Train a low-loss curve between checkpoints ``a`` and ``b`` and measure it against
    the straight line (Garipov et al. 2018).

    Args:
        a, b: targets (run, level folder, checkpoint file, bare state dict) or
            :class:`Checkpoint` s of one architecture; the data, the optimiser settings and
            the result folder come from ``a``'s run.
        spec: the curve family, bends, epochs, learning rate, mask policy, measurement.
        out: the result folder (default: ``a``'s ``analysis/curve_<digest>/``).
        force: retrain even if a finished result exists (a training checkpoint is dropped).
        wait: wait for another process computing the same result instead of stopping.

    Returns:
        a :class:`Result` whose record holds ``ts``, ``curve`` and ``line`` (each with
        ``losses``, ``errors``, ``error_barrier``, ``loss_barrier`` …), the curve's and the
        line's error barrier at top level, the bends' files and the training losses.
    """
    eng = spec.engine
    ca, cb, ident_b = pair(a, b, eng.device)
    run = ca.run
    if cb.run.config.data.data != run.config.data.data:
        log(f"note: CKPT_B was trained on {cb.run.config.data.data}; training and measuring on "
            f"CKPT_A's {run.config.data.data}")  # fmt: skip
    if spec.epochs > 0 and run.data.num_train < 1:
        raise LandscapeError(f"{run.path}: no training data to train the curve on")
    mask = bend_mask(_mask_of(ca), _mask_of(cb), spec.mask_policy)
    settings = curve_settings(spec, run, ca.ident, ident_b)
    folder = Path(out) if out else ca.result_dir("curve", digest(settings))
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        t0 = time.perf_counter()
        model = run.model()
        use_threads(run, spec.engine.threads, model)
        state_a = dict(ca.state)
        state_b = {k: v.to(run.device) for k, v in cb.state.items()}
        mask = None if mask is None else {k: v.to(run.device) for k, v in mask.items()}
        bends = initial_bends(spec.kind, state_a, state_b, spec.bends, mask)
        checkpoint = folder / TRAINING_FILE
        if force:
            checkpoint.unlink(missing_ok=True)
        training = train_bends(model, run, state_a, state_b, bends, spec, mask=mask,
                               checkpoint=checkpoint, tag=digest(settings), log=log, quiet=quiet)  # fmt: skip
        t1 = time.perf_counter()
        ts = np.linspace(0.0, 1.0, spec.points)
        coeffs = np.concatenate([curve_coefficients(spec.kind, spec.bends, ts),
                                 line_coefficients(spec.bends, ts)])  # fmt: skip
        last = spec.bends + 1
        reference = [last if t == 1.0 else 0 for t in ts] * 2
        points = Points.combine([state_a, *bends, state_b], coeffs, reference)
        ev = evaluate_points(model, points, eval_data(run, spec.split, eng.eval_samples),
                             bn_policy=eng.bn_policy, bn_data=bn_batches(run, eng), **eng.speed())  # fmt: skip
        if not (np.isfinite(ev.losses).all() and np.isfinite(ev.errors).all()):
            raise LandscapeError(
                f"the loss along the curve is not finite ({folder}); lower --lr or --epochs"
            )
        has_bn = bool(batchnorm_modules(model))
        p = spec.points
        on_curve = BarrierResult.from_curve(ts, ev.losses[:p], ev.errors[:p], eng.bn_policy, has_bn)
        on_line = BarrierResult.from_curve(ts, ev.losses[p:], ev.errors[p:], eng.bn_policy, has_bn)
        b_label = cb.label if cb.bare else short_label(ident_b)
        names = [f"bend_{j + 1}.safetensors" for j in range(spec.bends)]
        record = {
            "kind": "curve", "title": f"{run.path.name}: {ca.label} → {b_label}",
            "settings": settings, "run": str(run.path), "ts": ts.tolist(),
            "curve": _summary(on_curve), "line": _summary(on_line),
            "error_barrier": on_curve.error_barrier, "loss_barrier": on_curve.loss_barrier,
            "line_error_barrier": on_line.error_barrier,
            "line_loss_barrier": on_line.loss_barrier,
            "bn_policy": eng.bn_policy, "has_batchnorm": has_bn,
            "masked": mask is not None,
            "bend_density": _density(mask), "bend_files": names,
            "epoch_losses": training["epoch_losses"],
            "seconds_per_epoch": training["seconds_per_epoch"],
            "resumed_from_epoch": training["resumed_from"],
            "seconds_train": t1 - t0, "seconds": time.perf_counter() - t0, **stamp(),
        }  # fmt: skip
        w = Writer(folder)
        if w.writes:
            for name, bend in zip(names, bends):
                save_state(folder / name, bend, metadata={"curve": spec.kind})
        w.arrays({"ts": ts, "curve_losses": on_curve.losses, "curve_errors": on_curve.errors,
                  "line_losses": on_line.losses, "line_errors": on_line.errors})  # fmt: skip
        from landscape.plotting.curves import plot_curve

        w.figure("curve.png", lambda: plot_curve(record))
        result = w.finish(record)
        if w.writes:
            checkpoint.unlink(missing_ok=True)  # finished: the marker is written
        return result


def _summary(res: BarrierResult) -> dict[str, Any]:
    d = res.to_dict()
    d.pop("alphas")
    d.pop("bn_policy")
    d.pop("has_batchnorm")
    return d


def _density(mask: Mapping[str, Tensor] | None) -> float | None:
    """Fraction of the masked tensors' coordinates the bends may move (``None``: dense)."""
    if mask is None:
        return None
    kept = sum(int(m.sum()) for m in mask.values())
    return kept / max(1, sum(m.numel() for m in mask.values()))
