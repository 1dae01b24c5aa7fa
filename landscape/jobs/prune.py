"""``prune(cfg)``: run a pruning method (or dense training) into its run directory.

The runners are idempotent level loops: a finished level is skipped, so calling
``prune`` again with the same settings resumes a killed run, and (for IMP-WR/LRR/FT
and SWAMP) a larger ``levels`` extends a finished one. Returns the run directory,
which every analysis job takes as its target::

    from landscape import jobs
    from landscape.hparams import PRESETS, RunConfig

    run_dir = jobs.prune(RunConfig().replace(**PRESETS["mlp-mnist1d"], method="imp-wr", levels=5))

Before anything is written, the model is built and run on two samples of the data,
so a model that does not fit the data, an unknown name or a bad path fails with
nothing on disk. While it trains, the run directory is locked (one writer per run,
``landscape.locks``); finished levels are checked against the digests their
``metrics.json`` recorded; stray temporary files of a killed run are removed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from landscape import distributed, paths
from landscape.devices import configure_threads, resolve_device
from landscape.distributed import env_rank, env_world_size, init_from_env, local_device
from landscape.errors import LandscapeError
from landscape.experiment_log import open_log, parse_kinds
from landscape.hparams import RunConfig, parse_duration
from landscape.io import load_json, save_json
from landscape.locks import hold
from landscape.pruning import ones_mask
from landscape.runners import METHODS
from landscape.runners.common import RunContext, check_level_files, primary_first
from landscape.runs import check_path, prepare_run_dir, run_dir_of

__all__ = ["DATA_PARALLEL_METHODS", "MAX_STEPS", "check_feasible", "check_fit", "prune"]

#: The most optimiser steps any duration of a run may mean (``--length``, ``--rewind-step``,
#: retraining epochs, ...): ten million, over 20 times ImageNet's 90-epoch ResNet recipe. A
#: longer one is a typo (``1000000000ep``), and the schedules hold one rate per step.
MAX_STEPS = 10_000_000

#: The methods that train one network with DDP over the ranks under ``torchrun``
#: (SWAMP instead trains its particles one per rank, :mod:`landscape.runners.swamp`).
DATA_PARALLEL_METHODS = ("dense", "imp-wr", "imp-lrr", "imp-ft", "imp", "bimp", "gmp", "dpf")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prune(
    cfg: RunConfig,
    *,
    out: str | Path | None = None,
    root: str | Path | None = None,
    quiet: bool = False,
    wait: bool = False,
    log: Callable[[str], object] = _stderr,
    log_to: Iterable[str] | str = (),
) -> Path:
    """Run ``cfg.prune.method`` into its run directory (resuming finished work); the directory.

    Args:
        out: the run directory (default: :func:`landscape.runs.run_dir_of` under ``root``).
        root: where run directories go (default: ``$LANDSCAPE_ROOT`` or ``./runs``).
        quiet: no progress bars or per-level lines (always so on ranks other than 0).
        wait: when another process is writing the run, wait for it instead of stopping.
        log_to: experiment logs to write into ``<run>/logs`` (``"csv"``, ``"tensorboard"``,
            ``"wandb"``; :mod:`landscape.experiment_log`): every training step's loss and
            learning rate, each evaluation, each level's numbers. Not a setting of the run
            (not in its hash); rank 0 alone writes them.

    Raises:
        LockedError: another process is writing this run directory (and not ``wait``).
        ConfigMismatchError: the directory holds a run made with other settings.
        CheckpointError: a finished level's files were damaged after they were written.
    """
    runner = METHODS.get(cfg.prune.method)
    kinds = parse_kinds(log_to)  # an unknown kind or a missing package: before any write
    world = env_world_size()
    device = local_device(resolve_device(cfg.train.device))
    run_dir = run_dir_of(cfg, out, root)
    check_path(run_dir)
    quiet = quiet or env_rank() != 0  # under torchrun only rank 0 reports
    say = (lambda *a, **k: None) if quiet else log
    parallel = world > 1 and cfg.prune.method in DATA_PARALLEL_METHODS
    ctx = RunContext(cfg, run_dir, device, show_progress=not quiet, log=say, data_parallel=parallel)
    model = check_fit(ctx)  # everything is validated before the first byte is written
    threads = configure_threads(device, sum(p.numel() for p in model.parameters()),
                                cfg.train.threads)  # fmt: skip
    joined = init_from_env(device)  # False on one process, or when already joined
    try:
        # Under torchrun the ranks share the run: rank 0 holds the lock and prepares the
        # directory while the others wait (an error there stops every rank).
        with distributed.primary_context(lambda: hold(run_dir, wait=wait, what="run directory")):

            def open_run_dir() -> None:
                for stray in _stray_files(run_dir):  # a killed writer's leftovers
                    stray.unlink(missing_ok=True)
                # finished levels checked before config.json records anything (an extension)
                for level in paths.levels(run_dir):
                    check_level_files(run_dir, level)
                prepare_run_dir(cfg, out=run_dir)
                _check_threads(run_dir, device, threads, log)
                _check_world(run_dir, world if parallel else 1, log)

            primary_first(open_run_dir)
            if env_rank() == 0:
                ctx.experiment = open_log(run_dir, kinds, run_dir.name, cfg.to_dict())
            say(f"{cfg.prune.method}: {run_dir}  (device {device}"
                + (f", {world} data-parallel ranks)" if parallel else ")"))  # fmt: skip
            if device.type == "cpu":
                say(f"{sum(p.numel() for p in model.parameters()):,} parameters, {threads} CPU "
                    "thread(s) (--threads to change)")  # fmt: skip
            t0 = time.perf_counter()
            runner(ctx)
            distributed.barrier()
            say(f"finished in {time.perf_counter() - t0:.1f}s")
    finally:
        if ctx.experiment is not None:
            ctx.experiment.close()
        if joined:
            distributed.shutdown()
    return run_dir


def check_fit(ctx: RunContext) -> torch.nn.Module:
    """Build the run's model and data and run two training samples through it.

    Raises:
        LandscapeError: the model does not fit the data (e.g. an image model on MNIST-1D).
    """
    model = ctx.model()
    ones_mask(model, ctx.cfg.prune.prune_scope, ctx.cfg.prune.prune_ignore)  # names checked
    x, _ = ctx.data.tensors("train", 2)
    try:
        with torch.no_grad():
            model.eval()(x)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().split("\n")[0][:200]
        raise LandscapeError(
            f"model {ctx.cfg.model.model!r} does not fit data {ctx.cfg.data.data!r} (inputs of "
            f"shape {tuple(x.shape[1:])}): {first}. MNIST-1D takes mlp or cnn1d; CIFAR the "
            "resnet/vgg/wrn models; see `landscape models`"
        ) from None
    check_feasible(ctx, model)
    return model


def check_feasible(ctx: RunContext, model: torch.nn.Module) -> None:
    """The run's settings against its data and model, before anything is written: the batch
    fits the training set, bf16 has a GPU, every duration is a whole number of steps within
    :data:`MAX_STEPS`, the rewind point lies before the end of training, the warm-up is
    shorter than training, and every level prunes at least one weight and keeps one (for
    ``gmp``/``dpf``: their schedule fits, :func:`landscape.runners.gradual.gradual_plan`).

    Raises:
        ValueError: naming the flag, the value and the limit.
    """
    cfg, data = ctx.cfg, ctx.data
    if cfg.train.precision == "bf16" and ctx.device.type != "cuda":
        raise ValueError("--precision bf16 needs a CUDA device; use fp32 on CPU")
    if cfg.data.batch_size > data.num_train:
        raise ValueError(
            f"--batch-size {cfg.data.batch_size} exceeds the {data.num_train} training samples "
            f"of {cfg.data.data}; use at most {data.num_train}"
        )
    spe = ctx.steps_per_epoch
    t, p = cfg.train, cfg.prune
    durations = [("--length", t.length), ("--warmup", t.warmup), ("--eval-every", t.eval_every),
                 ("--rewind-step", p.rewind_step),
                 *(("--milestones", m) for m in filter(None, t.milestones.split(",")))]  # fmt: skip
    steps = {}
    for flag, text in durations:
        steps[flag] = parse_duration(text, spe)
        if steps[flag] > MAX_STEPS:
            raise ValueError(
                f"{flag} {text!r} is {steps[flag]:,} steps ({spe} an epoch at --batch-size "
                f"{cfg.data.batch_size}); the limit is {MAX_STEPS:,} steps"
            )
    for flag, epochs in (
        ("--retrain-epochs", p.retrain_epochs),
        ("--budget-epochs", p.budget_epochs),
    ):
        if p.method in ("imp", "bimp") and epochs * spe > MAX_STEPS:
            raise ValueError(
                f"{flag} {epochs} is {epochs * spe:,} steps; the limit is {MAX_STEPS:,} steps"
            )
    total = steps["--length"]
    if total <= 0:
        raise ValueError(f"--length {t.length!r} gives no training steps")
    if steps["--warmup"] >= total:
        raise ValueError(f"--warmup {t.warmup!r} is not shorter than --length {t.length!r}")
    if p.method in ("imp-wr", "swamp") and steps["--rewind-step"] >= total:
        raise ValueError(
            f"--rewind-step {p.rewind_step} is not before the end of training (--length "
            f"{t.length} = {total} steps); pass a smaller --rewind-step"
        )
    ones = ones_mask(model, p.prune_scope, p.prune_ignore)
    if p.method in ("gmp", "dpf"):
        from landscape.runners.gradual import gradual_plan

        interval = parse_duration(p.prune_interval, spe)
        if interval > MAX_STEPS:
            raise ValueError(
                f"--prune-interval {p.prune_interval!r} is {interval:,} steps; the limit is "
                f"{MAX_STEPS:,} steps"
            )
        gradual_plan(cfg, spe, sum(m.numel() for m in ones.values()))
        return
    _check_levels(cfg, ones)


def _check_levels(cfg: RunConfig, mask: dict[str, torch.Tensor]) -> None:
    """Refuse ``--levels`` past the level that prunes nothing more or keeps no weight: the
    same rounding as :func:`landscape.pruning.prune` (``round(fraction · kept)`` a level, over
    all prunable weights, or per tensor for ``layerwise``), counted without training."""
    p = cfg.prune
    if p.method == "dense" or p.levels == 0 or p.prune_ratio == "adaptive":
        return  # adaptive: the fraction of each level is measured at its solution
    if p.method in ("imp", "bimp"):
        from landscape.training.retrain_schedules import phase_fraction

        fraction = phase_fraction(p.goal_sparsity, p.levels)
    else:
        fraction = p.prune_fraction
    kept = [m.numel() for m in mask.values()] if p.prune_strategy == "layerwise" else [
        sum(m.numel() for m in mask.values())
    ]  # fmt: skip
    for level in range(1, p.levels + 1):
        removed = [round(fraction * k) for k in kept]
        kept = [k - r for k, r in zip(kept, removed)]
        if sum(removed) == 0 or min(kept) == 0:
            what = "would prune no weight" if sum(removed) == 0 else "would keep no weight"
            raise ValueError(
                f"--levels {p.levels}: level {level} {what} (pruning {fraction:.3g} of the "
                f"{sum(k + r for k, r in zip(kept, removed)):,} weights left of "
                f"{sum(m.numel() for m in mask.values()):,} prunable); at most {level - 1} "
                "levels mean something here: lower --levels"
                + ("" if p.method not in ("imp", "bimp") else " or --goal-sparsity")
            )


def _check_threads(run_dir: Path, device: torch.device, threads: int, say) -> None:
    """Record the CPU thread count of a new run; say when a resume uses another one.

    On the CPU, results are bit-for-bit reproducible for a fixed thread count only
    (float reductions are ordered by thread), so a run resumed with another count
    differs in the last bits from an uninterrupted one (docs/reliability.md).
    """
    if device.type == "cpu":
        _record_once(run_dir, "threads", threads, say, lambda was: (
            f"was trained with {was} CPU thread(s) and resumes with {threads}; results then "
            f"differ in the last bits from an uninterrupted run (--threads {was} keeps them "
            "identical)"))  # fmt: skip


def _check_world(run_dir: Path, world: int, say) -> None:
    """Record the number of data-parallel ranks of a new run; say when a resume uses another.

    A run resumes bit for bit only with the world size it started with: each rank's
    share of a batch, and so the order of the gradient sums, depends on it.
    """
    _record_once(run_dir, "world_size", world, say, lambda was: (
        f"was trained on {was} data-parallel rank(s) and resumes on {world}; the remaining "
        "levels differ in the last bits from an uninterrupted run"))  # fmt: skip


def _record_once(run_dir: Path, key: str, value: int, say, note: Callable[[int], str]) -> None:
    """Write ``key: value`` into the ``config.json`` of a run with no level yet; on a
    resume with another value, say ``note(recorded value)``."""
    meta = load_json(paths.config(run_dir))
    recorded = meta.get(key)
    if recorded is None:
        if not paths.levels(run_dir):
            save_json(paths.config(run_dir), {**meta, key: value})
    elif recorded != value:
        say(f"note: {run_dir} {note(recorded)}")


def _stray_files(run_dir: Path) -> list[Path]:
    """Temporary files a killed runner left in the folders only runners write (the run, its
    rewind snapshots, levels, particles) — never in ``analysis/``, whose writers hold their
    own locks and may be running now."""
    folders = [run_dir, run_dir / "rewind"]
    for level in run_dir.glob("level_*"):
        folders += [level, level / "particles"]
    # a linked folder is never entered: its files are not the run's to delete
    linked = [d for d in folders if d.is_symlink() or d.parent.is_symlink()]
    return [f for d in folders if d.is_dir() and d not in linked for f in d.glob(".*.tmp")]
