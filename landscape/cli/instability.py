"""``landscape instability RUN_DIR --level L``: the stability test of SPEC §3 [PAUL §2].

Trains two copies of level ``L`` from the level's starting point with different
SGD noise (data order, augmentation) and reports the barrier between them. The
starting point and step range are the runner's own (``landscape/runners/imp.py``):
``imp-wr`` — ``m_L ⊙ w_τ`` over ``τ .. T``; ``imp-lrr`` — ``m_L ⊙ w^(L−1)`` over ``0 .. T``;
``imp-ft`` — ``m_L ⊙ w^(L−1)`` over ``T .. 2T`` at the final LR; level 0 — ``w_τ``
(``w_0`` unless IMP-WR) over ``τ .. T``. The copies are saved under a hash of
the seeds and of the starting files (weights, mask), so a re-run with other
evaluation settings only re-measures, a retrained level gets new copies, and
``--force`` retrains them.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from landscape import paths
from landscape.analysis.connectivity import barrier
from landscape.analysis.engine import Points, evaluate_points
from landscape.checkpoint import load_state, save_state
from landscape.cli._common import format_table
from landscape.cli._results import (
    existing_result,
    file_digest,
    save_figure,
    settings_digest,
    stamp,
    use_agg,
    write_result,
)
from landscape.cli.barrier import print_barrier
from landscape.cli.connectivity import (
    add_engine_arguments,
    bn_batches,
    engine_kwargs,
    eval_data,
    eval_settings,
)
from landscape.devices import configure_threads
from landscape.errors import LandscapeError
from landscape.functional import state_of
from landscape.hparams import parse_duration
from landscape.pruning import apply_mask
from landscape.runs import Run, open_run
from landscape.training import constant, lr_schedule, train

VERB = "instability"
HELP = "train two copies of a level with different SGD noise and measure their barrier"
ORDER = 52

_METHODS = ("imp-wr", "imp-lrr", "imp-ft", "dense")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="an IMP run directory")
    parser.add_argument("--level", type=int, required=True, help="the level to test")
    parser.add_argument(
        "--seeds", type=int, nargs=2, default=None, metavar=("S1", "S2"),
        help="data-order seeds of the two copies (default: the run's --data-seed + 1 and + 2)",
    )  # fmt: skip
    parser.add_argument(
        "--rewind-steps", default=None, metavar="LIST",
        help="scan the rewind point: test the level from m_L ⊙ w_τ for each τ in LIST (steps or "
        "durations, e.g. '0,50,100,1ep'), w_τ retraced from the run's initialisation and data "
        "order; reports the onset of linear mode connectivity (IMP-WR levels and level 0)",
    )  # fmt: skip
    parser.add_argument(
        "--onset", type=float, default=0.02, metavar="EPS",
        help="with --rewind-steps: the level counts as stable from the first τ whose error "
        "barrier is at most EPS (default 0.02, as in Frankle et al. 2020)",
    )  # fmt: skip
    add_engine_arguments(parser, path=True)


@dataclass(frozen=True)
class StartPoint:
    """Where the runner trained a level from.

    Attributes:
        state: the (masked) starting weights.
        start, stop: the global step range.
        constant_lr: IMP-FT trains at the final LR of the original schedule.
        sources: the files ``state`` comes from (weights, mask); their hash keys the copies.
    """

    state: dict[str, Tensor]
    start: int
    stop: int
    constant_lr: bool
    sources: tuple[Path, ...]


def start_point(run: Run, level: int) -> StartPoint:
    """The start the runner trained ``level`` from (module docstring)."""
    cfg = run.config
    method = cfg.prune.method
    if method not in _METHODS:
        raise LandscapeError(
            f"instability retrains IMP levels ({', '.join(_METHODS)}); {run.path} is a "
            f"{method!r} run"
        )
    spe = run.data.steps_per_epoch(cfg.data.batch_size)
    total = parse_duration(cfg.train.length, spe)
    tau = parse_duration(cfg.prune.rewind_step, spe) if method == "imp-wr" else 0
    if level not in run.levels():
        raise LandscapeError(f"level {level} is not trained in {run.path} (levels: {run.levels()})")
    if not paths.rewind(run.path).exists():
        raise LandscapeError(
            f"{run.path} has no rewind.safetensors (the starting point); re-run its runner"
        )
    mask = run.mask(level)
    if level == 0 or method == "imp-wr":
        state, start, stop, const = run.rewind(), tau, total, False
        source = paths.rewind(run.path)
    elif method == "imp-lrr":
        state, start, stop, const = run.weights(level - 1), 0, total, False
        source = paths.weights(run.path, level - 1)
    else:  # imp-ft
        state, start, stop, const = run.weights(level - 1), total, 2 * total, True
        source = paths.weights(run.path, level - 1)
    state = {k: v.clone() for k, v in state.items()}
    apply_mask(state, mask)
    return StartPoint(state, start, stop, const, (source, paths.mask(run.path, level)))


def run(args: argparse.Namespace) -> int:
    use_agg()
    run_ = open_run(args.run_dir, args.device)
    cfg = run_.config
    seeds = tuple(args.seeds) if args.seeds else (cfg.data.data_seed + 1, cfg.data.data_seed + 2)
    if seeds[0] == seeds[1]:
        raise ValueError("--seeds must differ: two copies with the same SGD noise are identical")
    eval_settings(args)  # every option checked before any training
    # The runner's thread rule: one thread for small CPU models (also what makes the
    # retraced rewind points match the run's bit for bit).
    configure_threads(run_.device, sum(p.numel() for p in run_.model().parameters()),
                      cfg.train.threads)  # fmt: skip
    if args.rewind_steps is None:
        record, folder = _test(run_, args, seeds, start_point(run_, args.level))
        _print_test(record, folder)
        return 0
    return _scan(run_, args, seeds)


def _test(run_: Run, args, seeds, sp: StartPoint, extra=None):
    """One stability test: two copies from ``sp``; ``(record, folder)``."""
    from landscape.plotting.connectivity import plot_barrier

    cfg = run_.config
    train_settings = {"kind": "instability", "level": args.level, "seeds": list(seeds),
                      "start": file_digest(*sp.sources), **(extra or {})}  # fmt: skip
    settings = {**train_settings, "points": args.points, **eval_settings(args)}
    # The copies depend only on the training settings: other evaluation settings reuse them.
    copies_dir = paths.analysis_dir(
        run_.path, args.level, "instability-copies", settings_digest(train_settings)
    )
    folder = paths.analysis_dir(run_.path, args.level, "instability", settings_digest(settings))
    record = existing_result(folder, args.force, settings)
    if record is not None:
        return record, folder
    spe = run_.data.steps_per_epoch(cfg.data.batch_size)
    schedule = lr_schedule(cfg.train, spe)
    start, stop = sp.start, sp.stop
    lr_at = constant(schedule(start - 1)) if sp.constant_lr else schedule  # imp-ft: final LR
    mask = run_.mask(args.level)
    copies = []
    t0 = time.perf_counter()
    for i, seed in enumerate(seeds):
        path = copies_dir / f"copy_{i}.safetensors"
        model = run_.model()
        if path.exists() and not args.force:
            model.load_state_dict(load_state(path, run_.device))
        else:
            model.load_state_dict(sp.state)
            train(
                model, run_.data, cfg.train, cfg.data.batch_size, start=start, stop=stop,
                mask=mask, lr_at=lr_at, data_seed=seed, augment=cfg.data.augment,
                desc=f"copy {i} (seed {seed})", show_progress=not args.quiet,
                context=f"{run_.path}, instability copy {i}",
            )  # fmt: skip
            save_state(path, state_of(model), metadata={"seed": str(seed)})
        copies.append(state_of(model))
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = eval_data(run_, args.split, args.eval_samples)
    res = barrier(
        run_.model(), copies[0], copies[1], data, args.points, args.bn_policy,
        bn_batches(run_, args), **engine_kwargs(args),
    )  # fmt: skip
    # Each copy as trained (its own BN statistics), on the same samples as the path.
    own = evaluate_points(run_.model(), Points.states(copies), data, bn_policy="none",
                          **engine_kwargs(args))  # fmt: skip
    title = f"{run_.path.name}: level {args.level} from step {start}, seeds {seeds}"
    record = {
        "kind": "instability", "title": title, "settings": settings, "run": str(run_.path),
        **res.to_dict(),
        "copies": [str(copies_dir / f"copy_{i}.safetensors") for i in range(2)],
        "copy_errors_own_bn": own.errors.tolist(),
        "train_steps": [start, stop], "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t0, **stamp(),
    }  # fmt: skip
    write_result(folder, record, {"alphas": res.alphas, "losses": res.losses,
                                  "errors": res.errors})  # fmt: skip
    fig, _ = plot_barrier(record)
    save_figure(fig, folder / "barrier.png")
    return record, folder


def _print_test(record, folder) -> None:
    print(f"level {record['settings']['level']}: two copies trained over steps "
          f"{record['train_steps'][0]}..{record['train_steps'][1]} with data seeds "
          f"{record['settings']['seeds']}; their {record['settings']['split']} errors (as "
          "trained): " + ", ".join(f"{e:.4f}" for e in record["copy_errors_own_bn"]))  # fmt: skip
    print_barrier(record, folder)


def rewind_points(run_: Run, steps: list[int], *, quiet: bool = False) -> dict[int, Path]:
    """``w_τ = A_0(w_0, τ)`` for each step, retraced from the run's initialisation and data
    order in one dense pass (snapshots after step τ), saved once under the run's
    ``analysis/rewind-points/``. The run's own ``rewind.safetensors`` is the same
    trajectory: the runners train ``w_τ`` exactly so (``runners/common.py``)."""
    cfg = run_.config
    folder = paths.run_analysis_dir(run_.path, "rewind-points", "dense")
    files = {t: folder / f"step_{t}.safetensors" for t in steps}
    missing = sorted(t for t, f in files.items() if not f.exists())
    if missing:
        model = run_.model()
        if 0 in missing:
            save_state(files[0], state_of(model), metadata={"step": "0"})

        def snapshot(t: int, m) -> None:
            if t in files and t in missing:
                save_state(files[t], state_of(m), metadata={"step": str(t)})

        if missing[-1] > 0:
            train(
                model, run_.data, cfg.train, cfg.data.batch_size, start=0, stop=missing[-1],
                mask=None, data_seed=cfg.data.data_seed, augment=cfg.data.augment,
                desc=f"retrace w_τ to step {missing[-1]}", show_progress=not quiet,
                context=f"{run_.path}, rewind points", on_step=snapshot,
            )  # fmt: skip
    return files


def _scan(run_: Run, args, seeds) -> int:
    """The stability test at several rewind steps and the onset of LMC (SPEC §3)."""
    from landscape.plotting.connectivity import plot_instability_scan

    cfg = run_.config
    method = cfg.prune.method
    if args.level > 0 and method != "imp-wr":
        raise LandscapeError(
            f"--rewind-steps moves the rewind point of IMP-WR levels (and of level 0); level "
            f"{args.level} of this {method!r} run starts from w^({args.level - 1}) instead"
        )
    own = start_point(run_, args.level)
    tau, total = own.start, own.stop  # the run's own rewind step (0 for LRR/FT level 0) and T
    spe = run_.data.steps_per_epoch(cfg.data.batch_size)
    steps = sorted(
        {parse_duration(t.strip(), spe) for t in args.rewind_steps.split(",") if t.strip()}
    )
    if not steps or steps[-1] >= total:
        raise ValueError(
            f"--rewind-steps {args.rewind_steps!r}: give steps (or '2ep') before the end of "
            f"training, T = {total} steps"
        )
    if not 0 < args.onset < 1:
        raise ValueError(f"--onset is an error barrier in (0, 1), got {args.onset}")
    files = rewind_points(run_, [t for t in steps if t != tau], quiet=args.quiet)
    mask = run_.mask(args.level)
    records, folders = [], []
    for t in steps:
        if t == tau:  # the run's own rewind point: the same result as without --rewind-steps
            record, folder = _test(run_, args, seeds, own)
        else:
            state = load_state(files[t], run_.device)
            if args.level > 0:
                apply_mask(state, mask)
            sp = StartPoint(state, t, total, False, (files[t], paths.mask(run_.path, args.level)))
            record, folder = _test(run_, args, seeds, sp, {"rewind_step": t})
        records.append(record)
        folders.append(folder)
    errors = [r["error_barrier"] for r in records]
    onset = next((t for t, e in zip(steps, errors) if e <= args.onset), None)
    settings = {"kind": "instability-scan", "level": args.level, "seeds": list(seeds),
                "rewind_steps": steps, "points": args.points, **eval_settings(args)}  # fmt: skip
    summary = {
        "kind": "instability-scan", "settings": settings, "run": str(run_.path),
        "title": f"{run_.path.name}: level {args.level}, stability vs rewind step",
        "rewind_steps": steps, "run_rewind_step": tau, "steps_per_epoch": spe,
        "error_barriers": errors, "loss_barriers": [r["loss_barrier"] for r in records],
        "copy_errors_own_bn": [r["copy_errors_own_bn"] for r in records],
        "onset_threshold": args.onset, "onset": onset, "results": [str(f) for f in folders],
        "split": records[0]["settings"]["split"], "bn_policy": args.bn_policy, **stamp(),
    }  # fmt: skip
    folder = paths.analysis_dir(
        run_.path, args.level, "instability-scan", settings_digest(settings)
    )
    write_result(folder, summary, {"rewind_steps": steps, "error_barriers": errors})
    fig, _ = plot_instability_scan(summary)
    save_figure(fig, folder / "scan.png")
    rows = [(t, f"{e:.4f}", f"{r['loss_barrier']:.4f}",
             ", ".join(f"{c:.4f}" for c in r["copy_errors_own_bn"]))
            for t, e, r in zip(steps, errors, records)]  # fmt: skip
    print(summary["title"])
    print(format_table(("rewind step", "error barrier", "loss barrier",
                        f"copies' {summary['split']} errors"), rows))  # fmt: skip
    found = (f"step {onset} (≈ {onset / spe:.2f} epochs), the first rewind step with an error "
             f"barrier ≤ {args.onset}" if onset is not None else
             f"not reached: every error barrier is above {args.onset}")  # fmt: skip
    print(f"onset of linear mode connectivity: {found} → {folder}")
    return 0
