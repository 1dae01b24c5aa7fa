"""``landscape connectivity RUN_DIR``: the path through successive level solutions and the barrier matrix.

[PAUL Fig. 2]: the error along the piecewise-linear path ``w^(0) → w^(1) → …``
(left) and the barrier between every pair of levels (right), SPEC §3. One engine
call evaluates every point. The full result (JSON + NPZ + figure) goes into the
first level's ``analysis/connectivity_<hash>/``; each successive pair is also
written as a ``barrier`` result into its first level's analysis folder (the same
folder ``landscape barrier`` would use for that pair with these settings).

This module also holds the options and helpers the other connectivity verbs
(``barrier``, ``instability``, ``slice``) share.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import paths
from landscape.analysis.connectivity import BarrierResult, connectivity
from landscape.analysis.engine import BN_POLICIES, MODES, Batch
from landscape.cli._common import format_table, progress
from landscape.cli._results import (
    existing_result,
    file_digest,
    save_figure,
    settings_digest,
    stamp,
    use_agg,
    write_result,
)
from landscape.errors import LandscapeError
from landscape.runs import Run, open_run

VERB = "connectivity"
HELP = "error along the path through successive levels, and the barrier matrix (Paul Fig. 2)"
ORDER = 50

__all__ = [
    "add_engine_arguments",
    "bn_batches",
    "engine_kwargs",
    "eval_data",
    "existing_result",
    "foreign_ident",
    "parse_levels",
    "save_figure",
    "settings_digest",
    "short_label",
    "write_result",
]


# --------------------------------------------------------------------------- shared helpers


def add_engine_arguments(
    parser: argparse.ArgumentParser,
    *,
    split: bool = True,
    out: tuple[str, str] | None = None,
    path: bool = False,
) -> None:
    """Options of the evaluation engine shared by the connectivity verbs.

    Args:
        split: add ``--split``.
        out: ``(kind, whose)`` adds ``--out DIR``, whose default is the result folder
            ``analysis/<kind>_<hash>/`` of ``whose`` level (or run).
        path: add ``--points`` (the verb measures straight paths); :func:`eval_settings`
            checks it and records it.
    """
    if path:
        parser.add_argument(
            "--points", type=int, default=11, metavar="P",
            help="evenly spaced points on each path, both ends included (default 11)",
        )  # fmt: skip
    if out is not None:
        kind, whose = out
        parser.add_argument(
            "--out", default=None, metavar="DIR",
            help=f"result folder (default: analysis/{kind}_<hash>/ in {whose} level, or in its "
            "run for a file outside the levels such as rewind.safetensors)",
        )  # fmt: skip
    g = parser.add_argument_group("evaluation")
    g.add_argument(
        "--bn-policy", choices=BN_POLICIES, default="recompute",
        help="BatchNorm statistics at each point: re-estimate on training batches (default), "
        "interpolate the buffers, or keep the reference state's (SPEC §3)",
    )  # fmt: skip
    g.add_argument(
        "--bn-samples", type=int, default=2000, metavar="N",
        help="training samples (no augmentation) for --bn-policy recompute, in batches of the run's "
        "batch size (default 2000)",
    )  # fmt: skip
    if split:
        g.add_argument(
            "--split", choices=("test", "train"), default="test",
            help="data the loss and error are measured on (default test)",
        )  # fmt: skip
    g.add_argument(
        "--eval-samples", type=int, default=0, metavar="N",
        help="measure on the first N samples of each split only (default 0: all)",
    )  # fmt: skip
    g.add_argument(
        "--batch-size", type=int, default=1000, metavar="N",
        help="samples per evaluation batch (speed and memory only; default 1000)",
    )  # fmt: skip
    g.add_argument(
        "--chunk-size", type=int, default=0, metavar="K",
        help="weight vectors evaluated together (speed and memory only; default 0: automatic)",
    )  # fmt: skip
    g.add_argument(
        "--mode", choices=MODES, default="auto",
        help="vmap: all points of a chunk in one batched call; loop: one at a time; auto: vmap "
        "on CUDA, loop on CPU (same results)",
    )  # fmt: skip
    g.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: the run's)"
    )
    g.add_argument("--force", action="store_true", help="recompute even if the result exists")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def engine_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Engine settings that change speed only (never the hash of a result)."""
    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    if args.chunk_size < 0:
        raise ValueError(f"--chunk-size must be 0 (automatic) or positive, got {args.chunk_size}")
    return {"batch_size": args.batch_size, "chunk_size": args.chunk_size, "mode": args.mode}


def eval_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings that change results: recorded in every output and hashed into its folder name.

    Every verb calls it first, so the speed-only options are checked here too: a bad
    value fails at once, even when a finished result would be reused.
    """
    engine_kwargs(args)
    if getattr(args, "points", 2) < 2:
        raise ValueError(f"--points must be at least 2 (the two ends), got {args.points}")
    if args.bn_policy == "recompute" and args.bn_samples <= 0:
        raise ValueError(f"--bn-samples must be positive, got {args.bn_samples}")
    if args.eval_samples < 0:
        raise ValueError(f"--eval-samples must be 0 (all) or positive, got {args.eval_samples}")
    out = {"bn_policy": args.bn_policy, "eval_samples": args.eval_samples}
    if args.bn_policy == "recompute":
        out["bn_samples"] = args.bn_samples
    if hasattr(args, "split"):
        out["split"] = args.split
    return out


def parse_levels(text: str, available: Sequence[int]) -> list[int]:
    """``"all"``, ``"0,2,5"`` or ``"0-4"`` → the listed levels, each checked to exist."""
    if text in ("", "all"):
        return list(available)
    wanted: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            lo, hi = (int(v) for v in part.split("-", 1)) if "-" in part else (int(part),) * 2
        except ValueError:
            raise ValueError(
                f"--levels {text!r}: write 'all', a list '0,2,5' or a range '0-4'"
            ) from None
        if hi < lo:
            raise ValueError(f"--levels {text!r}: the range {part} runs backwards; write {hi}-{lo}")
        wanted += range(lo, hi + 1)
    missing = [v for v in wanted if v not in available]
    if missing:
        raise LandscapeError(
            f"levels {missing} have no weights in this run (trained levels: {list(available)}); "
            "finish the run or pick other --levels"
        )
    return sorted(set(wanted))


def eval_data(run: Run, split: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The unaugmented, normalised ``split`` of the run's data set (first ``limit`` samples)."""
    return run.data.tensors(split, limit)


def bn_batches(run: Run, args: argparse.Namespace) -> list[Batch] | None:
    """Fixed training batches for BatchNorm re-estimation: the first ``--bn-samples`` of the run's
    data order (seeded by its ``--data-seed``), no augmentation, the run's batch size."""
    if args.bn_policy != "recompute":
        return None
    bs = min(run.config.data.batch_size, run.data.num_train)
    steps = math.ceil(args.bn_samples / bs)
    batches = list(run.data.train_batches(0, steps, bs, run.config.data.data_seed, augment=False))
    x, y = batches[-1]
    keep = args.bn_samples - bs * (steps - 1)  # exactly --bn-samples, as recorded
    batches[-1] = (x[:keep], y[:keep])
    return batches


def barrier_record(
    res: BarrierResult, settings: Mapping[str, Any], run_dir: Path, seconds: float, title: str
) -> dict[str, Any]:
    """The JSON record of one barrier result (the format every barrier folder holds)."""
    return {"kind": "barrier", "title": title, "settings": dict(settings), "run": str(run_dir),
            **res.to_dict(), "seconds": seconds, **stamp()}  # fmt: skip


def barrier_settings(
    base: Mapping[str, Any], points: int, ident_a: str, ident_b: str
) -> dict[str, Any]:
    """Hashed settings of a barrier between two identified checkpoints."""
    return {"kind": "barrier", "a": ident_a, "b": ident_b, "points": points, **base}


def foreign_ident(run: Run, ident: str) -> str:
    """How a checkpoint of *another* run is named in hashed settings: its absolute path
    and a hash of its bytes, so a result goes stale when that file is rewritten (the
    result lives in this run; the other run may be retrained in place)."""
    path = (run.path / ident).resolve()
    return f"{path}@sha256:{file_digest(path)}"


def short_label(ident: str) -> str:
    """A checkpoint's name for titles and legends: ``level_01``, ``rewind``, ``level_03/p0``,
    or ``<run>/level_02`` for another run's (:func:`foreign_ident`)."""
    p = Path(ident.split("@sha256:")[0])
    parts = [q for q in p.with_suffix("").parts if q not in ("weights", "particles")]
    if p.is_absolute():
        i = next((k for k, q in enumerate(parts) if q.startswith("level_")), len(parts) - 1)
        parts = parts[max(1, i - 1) :]
    return "/".join(parts)


def level_ident(level: int) -> str:
    """How a level's weights are named in hashed settings (relative to its run directory)."""
    return f"level_{level:02d}/weights.safetensors"


# --------------------------------------------------------------------------- the verb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by a runner")
    parser.add_argument(
        "--levels", default="all", metavar="LIST",
        help="levels on the path: 'all' (default), '0,2,4' or '0-5'",
    )  # fmt: skip
    parser.add_argument(
        "--no-matrix", action="store_true",
        help="successive pairs only (skip the barrier matrix over all pairs)",
    )  # fmt: skip
    add_engine_arguments(parser, path=True)


def run(args: argparse.Namespace) -> int:
    use_agg()
    from landscape.plotting.connectivity import plot_barrier, plot_connectivity

    run_ = open_run(args.run_dir, args.device)
    levels = parse_levels(args.levels, run_.levels())
    if len(levels) < 2:
        raise LandscapeError(
            f"a path needs at least two levels; --levels {args.levels!r} selects {levels} of "
            f"{run_.path}'s trained levels {run_.levels()}"
        )
    base = eval_settings(args)
    settings = {"kind": "connectivity", "levels": levels, "points": args.points,
                "matrix": not args.no_matrix, **base}  # fmt: skip
    folder = paths.analysis_dir(run_.path, levels[0], "connectivity", settings_digest(settings))
    record = existing_result(folder, args.force, settings)
    if record is None:
        model = run_.model()
        states = [run_.weights(lv) for lv in levels]
        data = eval_data(run_, args.split, args.eval_samples)
        bn = bn_batches(run_, args)
        n, inner = len(levels), args.points - 2
        total = n + inner * (n * (n - 1) // 2 if not args.no_matrix else n - 1)
        t0 = time.perf_counter()
        with progress(
            total=total, desc="connectivity", disable=True if args.quiet else None
        ) as bar:
            res = connectivity(
                model, states, data, args.points, args.bn_policy, bn, labels=levels,
                matrix=not args.no_matrix, progress=bar.update, **engine_kwargs(args),
            )  # fmt: skip
        seconds = time.perf_counter() - t0
        name = run_.path.name
        record = {"kind": "connectivity", "title": f"{name}: {args.split} error, BN {args.bn_policy}",
                  "settings": settings, "run": str(run_.path), **res.to_dict(),
                  "points_evaluated": total, "seconds": seconds, **stamp()}  # fmt: skip
        arrays = {"path_position": res.path()[0], "path_losses": res.path()[1],
                  "path_errors": res.path()[2], "alphas": res.segments[0].alphas,
                  "endpoint_errors": res.endpoint_errors, "endpoint_losses": res.endpoint_losses}  # fmt: skip
        if res.error_matrix is not None:
            arrays.update(error_matrix=res.error_matrix, loss_matrix=res.loss_matrix)
        write_result(folder, record, arrays)
        fig, _ = plot_connectivity(record)
        save_figure(fig, folder / "connectivity.png")
        # Each successive pair, in the format and folder of `landscape barrier`.
        for (la, lb), seg in zip(itertools.pairwise(levels), res.segments):
            bset = barrier_settings(base, args.points, level_ident(la), level_ident(lb))
            bfolder = paths.analysis_dir(run_.path, la, "barrier", settings_digest(bset))
            brec = barrier_record(seg, bset, run_.path, seconds, f"{name}: level {la} → {lb}")
            write_result(bfolder, brec, {"alphas": seg.alphas, "losses": seg.losses,
                                         "errors": seg.errors})  # fmt: skip
            fig, _ = plot_barrier(brec)
            save_figure(fig, bfolder / "barrier.png")
    _summary(record, folder)
    return 0


def _summary(record: Mapping[str, Any], folder: Path) -> None:
    labels = record["labels"]
    rows = [
        (f"{a} → {b}", seg["errors"][0], seg["errors"][-1], seg["error_barrier"],
         seg["loss_barrier"], seg["error_barrier_mean"])
        for a, b, seg in zip(labels, labels[1:], record["segments"])
    ]  # fmt: skip
    split = record["settings"].get("split", "test")
    print(f"\npath through levels {labels} ({split} split, BN policy {record['bn_policy']}"
          f"{'' if record['has_batchnorm'] else ', model has no BatchNorm'})")  # fmt: skip
    print(format_table(("pair", "err start", "err end", "err barrier", "loss barrier",
                        "err barrier (mean ends)"), rows))  # fmt: skip
    mat = record.get("error_matrix")
    if mat is not None:
        m = np.asarray(mat)
        print(f"barrier matrix over {len(labels)} levels: largest error barrier {m.max():.4f}, "
              f"mean off-diagonal {m[~np.eye(len(m), dtype=bool)].mean():.4f}")  # fmt: skip
    print(f"{record['points_evaluated']} points in {record['seconds']:.1f}s → {folder}")
