"""Helpers shared by the verbs: tables, progress bars, spec flags, the engine group,
bare-checkpoint options, and the printed summaries of results (so that no verb imports
another)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from landscape.progress import progress
from landscape.settings import add_engine_arguments
from landscape.tables import RUN_HEADERS, format_table, plus_minus, run_cells, sig

__all__ = [
    "add_bare_arguments",
    "add_engine_arguments",
    "add_job_arguments",
    "add_level_choice",
    "add_pair_arguments",
    "bare_kwargs",
    "consent",
    "format_table",
    "log_analyses",
    "plus_minus",
    "print_barrier",
    "print_run",
    "print_runs",
    "progress",
    "run_cells",
    "sig",
]


def add_job_arguments(parser: argparse.ArgumentParser, out: str | None = None) -> None:
    """``--force``, ``--quiet`` and, with ``out`` (its help text), ``--out DIR``."""
    if out is not None:
        parser.add_argument("--out", default=None, metavar="DIR", help=out)
    parser.add_argument("--force", action="store_true", help="recompute even if the result exists")
    parser.add_argument(
        "--wait", action="store_true",
        help="if another process is computing the same result, wait for it (default: stop)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--log", "--log-to", dest="log", default="", metavar="KINDS",
        help="also write the numbers of the run's finished analyses to its experiment log "
        "(<run>/logs: csv, tensorboard, wandb; comma-separated), step = level",
    )  # fmt: skip
    parser.set_defaults(_log_results=True)
    parser.add_argument(
        "--trust-model", action="store_true",
        help="build a user model factory (package.module:factory) that a run's config.json "
        "names; that imports and runs its code (docs/reliability.md)",
    )  # fmt: skip


def log_analyses(args: argparse.Namespace) -> None:
    """After an analysis verb with ``--log KINDS``: log the finished analyses of every run
    directory its command line names (a run, a level or a file in a run)."""
    from landscape import paths
    from landscape.experiment_log import log_results

    named = []
    for value in vars(args).values():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v and Path(v).exists():
                named.append(Path(v).resolve())
    runs = {next((q for q in (p, *p.parents) if paths.config(q).exists()), None) for p in named}
    runs.discard(None)
    for run_dir in sorted(runs):
        log_results(run_dir, args.log.split(","))


def add_level_choice(parser: argparse.ArgumentParser, all_levels: str) -> None:
    """``--level L`` or ``--all-levels`` (what the latter adds: ``all_levels``), for a verb
    that measures one level of a run or every level with a summary across them."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--level", type=int, default=None, metavar="L",
                       help="level of a run directory (default: the last trained one)")  # fmt: skip
    which.add_argument("--all-levels", action="store_true", help=all_levels)


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """The two targets ``CKPT_A CKPT_B`` of a verb that joins two checkpoints, each with its
    ``--level-a``/``--level-b`` for a run directory."""
    for end in ("a", "b"):
        parser.add_argument(f"ckpt_{end}", metavar=f"CKPT_{end.upper()}",
                            help="run dir, level_NN dir, or a checkpoint file")  # fmt: skip
        parser.add_argument(f"--level-{end}", type=int, default=None,
                            help=f"level of CKPT_{end.upper()} if a run dir")  # fmt: skip


def consent(args: argparse.Namespace) -> None:
    """Record the user's consent to user model factories: ``--trust-model``, or the factory
    the command line itself names with ``--model``."""
    from landscape import models

    if getattr(args, "trust_model", False):
        models.trust()
    if getattr(args, "model", "") and models.is_user_factory(args.model):
        models.trust(args.model)


def add_bare_arguments(parser: argparse.ArgumentParser, mask: bool = False) -> None:
    """Options naming the architecture of a bare state dict (a file outside any run)."""
    u = parser.add_argument_group("a bare state dict (a checkpoint outside any run directory)")
    u.add_argument("--model", default="", help="model name or package.module:factory")
    u.add_argument("--data", default="", help="data set for the model's input shape and the loss")
    u.add_argument("--data-root", default="", help="where the data set is cached or found")
    if mask:
        u.add_argument("--mask", default="", help="mask file (safetensors/torch) of the state dict")


def bare_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The resolver's keyword arguments for a bare state dict."""
    return {"model": args.model, "data": args.data, "data_root": args.data_root,
            "mask": getattr(args, "mask", "")}  # fmt: skip


def print_barrier(record: Mapping[str, Any], folder: Path) -> None:
    """The curve and both barrier variants as a table, under the result's title."""
    print(record.get("title", ""))
    rows = [(f"{a:.3f}", e, lo) for a, e, lo in
            zip(record["alphas"], record["errors"], record["losses"])]  # fmt: skip
    split = record["settings"].get("split", "test")
    print(format_table(("gamma", f"{split} error", f"{split} loss"), rows))
    bn = record["bn_policy"] if record["has_batchnorm"] else f"{record['bn_policy']}, no BatchNorm"
    print(f"error barrier {record['error_barrier']:.4f} (mean-ends variant "
          f"{record['error_barrier_mean']:.4f}), loss barrier {record['loss_barrier']:.4f}  "
          f"[BN: {bn}] → {folder}")  # fmt: skip
    if record["has_batchnorm"] and record["bn_policy"] == "none":
        print("note: with --bn-policy none the interior points use the start's BatchNorm "
              "statistics, which describe none of them (docs/science.md); recompute is the "
              "measure for BatchNorm networks")  # fmt: skip


def print_runs(
    root: Path, as_json: bool = False, markdown: bool = False, check: bool = False
) -> int:
    """The ``landscape runs`` table of the run directories in ``root`` (or their JSON), with a
    note per run trained on several processes; returns how many runs there are."""
    import json

    from landscape.catalog import find_runs, runs_table, summarize, world_note

    runs = [summarize(d, check=check) for d in find_runs(root)]
    if as_json:
        print(json.dumps([r.to_dict() for r in runs], indent=2))
    elif runs:
        print(format_table(*runs_table(runs), markdown=markdown))
        for r in runs:
            note = world_note(r.world_sizes)
            if note:
                print(f"{r.name}: {note}")
    return len(runs)


def print_run(run_dir: Path, markdown: bool = False) -> None:
    """A run's method, directory and table of levels (``landscape show``)."""
    from landscape import paths
    from landscape.io import level_metrics, load_json

    rows = level_metrics(run_dir)
    cfg = load_json(paths.config(run_dir))
    method = cfg.get("method", "unknown method") if isinstance(cfg, dict) else "unknown method"
    print(f"\n{method} run {run_dir}")
    if not rows:
        print("  (no finished level yet)")
        return
    worlds = {r["level"]: int(r.get("world_size", 1)) for r in rows}
    if any(w != 1 for w in worlds.values()):  # torchrun levels: not a one-process run's numbers
        headers, cells = (
            (*RUN_HEADERS, "processes"),
            [(*run_cells(r), worlds[r["level"]]) for r in rows],
        )
    else:
        headers, cells = RUN_HEADERS, [run_cells(r) for r in rows]
    print(format_table(headers, cells, markdown=markdown))
    from landscape.catalog import world_note

    note = world_note(worlds)
    if note:
        print(f"note: {note}")
    total = sum(r["seconds"] for r in rows)
    print(f"{len(rows)} levels, {total:.1f}s of training and evaluation")
    collapsed = [r["level"] for r in rows if r.get("collapsed")]
    if collapsed:
        print(f"warning: levels {collapsed} are at chance (training collapsed); lower --lr or "
              "add --warmup and retrain them")  # fmt: skip
