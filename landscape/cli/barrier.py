"""``landscape barrier CKPT_A CKPT_B``: the error and loss barrier between any two checkpoints (SPEC §3).

A CKPT is a run directory (its last level, or ``--level-a/--level-b``), a
``level_NN`` folder, or a ``.safetensors`` file inside a run directory (e.g.
``rewind.safetensors`` or a SWAMP particle). Both must be of one architecture.
The data and BatchNorm batches come from CKPT_A's run. The result goes into
CKPT_A's level ``analysis/barrier_<hash>/`` — the run's ``analysis/`` when CKPT_A
is in no level, like ``rewind.safetensors`` — or ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from landscape import paths
from landscape.analysis.connectivity import barrier
from landscape.cli._common import format_table
from landscape.cli._results import (
    existing_result,
    save_figure,
    settings_digest,
    use_agg,
    write_result,
)
from landscape.cli.connectivity import (
    add_engine_arguments,
    barrier_record,
    barrier_settings,
    bn_batches,
    engine_kwargs,
    eval_data,
    eval_settings,
    foreign_ident,
    short_label,
)
from landscape.errors import LandscapeError
from landscape.runs import Run, resolve_checkpoint

VERB = "barrier"
HELP = "error/loss barrier on the straight path between two checkpoints of one architecture"
ORDER = 51

__all__ = ["locate"]


def locate(
    arg: str, level: int | None, device: str
) -> tuple[Run, dict[str, torch.Tensor], int | None, str]:
    """``(run, state, level, ident)`` of a CKPT argument.

    ``level`` is the level folder the checkpoint lives in (``None`` for files such as
    ``rewind.safetensors``); ``ident`` names the file relative to its run directory.
    """
    p = Path(arg)
    if level is not None and not (p.is_dir() and paths.config(p).exists()):
        raise LandscapeError(
            f"--level-a/--level-b pick a level of a run directory; {arg} is a level folder or "
            "a file already: drop the option"
        )
    run, state = resolve_checkpoint(arg, level=level, device=device)
    if p.is_file():
        rel = p.resolve().relative_to(run.path.resolve())
        lv = next((int(q.name[6:]) for q in rel.parents if q.name.startswith("level_")
                   and q.name[6:].isdigit()), None)  # fmt: skip
        return run, state, lv, rel.as_posix()
    if p.name.startswith("level_") and not paths.config(p).exists():
        lv = int(p.name[6:])
    else:
        lv = level if level is not None else run.levels()[-1]
    return run, state, lv, f"level_{lv:02d}/weights.safetensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ckpt_a", metavar="CKPT_A", help="run dir, level_NN dir or .safetensors")
    parser.add_argument("ckpt_b", metavar="CKPT_B", help="run dir, level_NN dir or .safetensors")
    parser.add_argument("--level-a", type=int, default=None, help="level of CKPT_A if a run dir")
    parser.add_argument("--level-b", type=int, default=None, help="level of CKPT_B if a run dir")
    add_engine_arguments(parser, out=("barrier", "CKPT_A's"), path=True)


def run(args: argparse.Namespace) -> int:
    use_agg()
    from landscape.plotting.connectivity import plot_barrier

    run_a, state_a, level_a, ident_a = locate(args.ckpt_a, args.level_a, args.device)
    run_b, state_b, _, ident_b = locate(args.ckpt_b, args.level_b, args.device)
    if run_b.path.resolve() != run_a.path.resolve():
        ident_b = foreign_ident(run_b, ident_b)
        if run_b.config.model.model != run_a.config.model.model:
            raise LandscapeError(
                f"CKPT_A is a {run_a.config.model.model!r} and CKPT_B a "
                f"{run_b.config.model.model!r}: a path joins two networks of one architecture; "
                "pass two checkpoints of the same model"
            )
        if run_b.config.data.data != run_a.config.data.data:
            print(f"note: CKPT_B was trained on {run_b.config.data.data}; measuring on "
                  f"CKPT_A's {run_a.config.data.data}")  # fmt: skip
    settings = barrier_settings(eval_settings(args), args.points, ident_a, ident_b)
    digest = settings_digest(settings)
    folder = (
        Path(args.out) if args.out else paths.result_dir(run_a.path, level_a, "barrier", digest)
    )
    record = existing_result(folder, args.force, settings)
    if record is None:
        t0 = time.perf_counter()
        res = barrier(
            run_a.model(), state_a, {k: v.to(run_a.device) for k, v in state_b.items()},
            eval_data(run_a, args.split, args.eval_samples), args.points, args.bn_policy,
            bn_batches(run_a, args), **engine_kwargs(args),
        )  # fmt: skip
        title = f"{run_a.path.name}: {short_label(ident_a)} → {short_label(ident_b)}"
        record = barrier_record(res, settings, run_a.path, time.perf_counter() - t0, title)
        write_result(folder, record, {"alphas": res.alphas, "losses": res.losses,
                                      "errors": res.errors})  # fmt: skip
        fig, _ = plot_barrier(record)
        save_figure(fig, folder / "barrier.png")
    print_barrier(record, folder)
    return 0


def print_barrier(record: dict, folder: Path) -> None:
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
              "statistics, which describe none of them (SPEC §3); recompute is the measure "
              "for BatchNorm networks")  # fmt: skip
