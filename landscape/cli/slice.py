"""``landscape slice``: loss and error on a 2-D plane of weight space (SPEC §4).

Three ways to pick the plane:

- ``landscape slice RUN_DIR --level L`` — through ``w^(L)``, its projection
  ``m_{L+1} ⊙ w^(L)`` and the next solution ``w^(L+1)`` [PAUL Fig. 3]; the dense
  level 0 is marked too, and the matching contour is drawn at its test error + ε.
- ``landscape slice --checkpoints A B C`` — through any three checkpoints of one
  architecture (e.g. three SWAMP particles); the contour is at A's error + ε.
- ``landscape slice CKPT --random --filter-normalize`` — ``w + a d1 + b d2`` with
  random filter-normalised directions, biases and BatchNorm excluded [Li et al. 2018].

Test error/loss and train loss/error are measured at every grid point; the result
(JSON + NPZ) and ``slice.png`` go into the origin's level ``analysis/slice_<hash>/``
(the run's ``analysis/`` for an origin outside the levels, e.g. ``rewind.safetensors``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.analysis.slices import NORMALIZATIONS, plane_slice, random_slice
from landscape.cli._common import format_table, progress
from landscape.cli._results import (
    existing_result,
    save_figure,
    settings_digest,
    stamp,
    use_agg,
    write_result,
)
from landscape.cli.barrier import locate
from landscape.cli.connectivity import (
    add_engine_arguments,
    bn_batches,
    engine_kwargs,
    eval_data,
    eval_settings,
    foreign_ident,
    short_label,
)
from landscape.errors import LandscapeError
from landscape.runs import open_run

VERB = "slice"
HELP = "loss/error contour on a plane: level anchors (Paul Fig. 3), any 3 checkpoints, or random"
ORDER = 53


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", nargs="?", metavar="RUN_DIR|CKPT",
        help="a run directory (with --level) or, with --random, any checkpoint",
    )  # fmt: skip
    parser.add_argument("--level", type=int, default=None, help="level L of the anchor plane")
    parser.add_argument(
        "--checkpoints", nargs=3, metavar=("A", "B", "C"), default=None,
        help="plane through three checkpoints (A is the origin)",
    )  # fmt: skip
    parser.add_argument(
        "--random", action="store_true", help="random directions around one checkpoint (Li et al.)"
    )
    parser.add_argument(
        "--normalize", choices=NORMALIZATIONS, default="filter",
        help="--random: scale each filter (default), each tensor, or nothing to the weights' norm",
    )  # fmt: skip
    parser.add_argument(
        "--filter-normalize", dest="normalize", action="store_const", const="filter",
        help="--random: filter normalisation [Li et al. 2018] (the default; same as --normalize filter)",
    )  # fmt: skip
    parser.add_argument(
        "--within-mask", action="store_true",
        help="--random: keep the directions inside the checkpoint's mask (its level's)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="--random: seed of the directions")
    parser.add_argument(
        "--span", type=float, default=1.0, help="--random: grid spans [-span, span] (default 1)"
    )
    parser.add_argument("--grid", type=int, default=25, help="points per axis (default 25)")
    parser.add_argument(
        "--margin", type=float, default=0.3,
        help="anchor planes: grid spans [-margin·s, (1+margin)·s], s = max(|u|, |v|) (default 0.3)",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance", type=float, default=0.01, metavar="EPS",
        help="matching contour at the reference test error + EPS (default 0.01)",
    )  # fmt: skip
    add_engine_arguments(parser, split=False, out=("slice", "the origin's"))


def run(args: argparse.Namespace) -> int:
    use_agg()
    from landscape.plotting.slices import plot_slices

    modes = [flag for flag, on in (("--level", args.level is not None),
             ("--checkpoints", args.checkpoints is not None), ("--random", args.random)) if on]  # fmt: skip
    if len(modes) != 1:
        raise LandscapeError(
            "pick one plane: RUN_DIR --level L, --checkpoints A B C, or CKPT --random"
            + (f" (got {' and '.join(modes)})" if modes else "")
        )
    if args.checkpoints is not None and args.target is not None:
        raise LandscapeError("--checkpoints takes the three checkpoints; drop the first argument")
    if args.checkpoints is None and args.target is None:
        raise LandscapeError(f"{modes[0]} needs a run directory or checkpoint as first argument")
    if args.grid < 2:
        raise ValueError(f"--grid needs at least 2 points per axis, got {args.grid}")
    if args.margin < 0:
        raise ValueError(
            f"--margin must be 0 or more (the grid's room around the anchors), got {args.margin}"
        )
    if args.random and args.grid % 2 == 0:
        print(f"note: with an even --grid ({args.grid}) the grid misses the centre itself; "
              "an odd one includes it")  # fmt: skip
    base = eval_settings(args)
    if args.random:
        run_, state, level, ident = locate(args.target, None, args.device)
        if args.within_mask and level is None:
            raise LandscapeError(f"{args.target} is not a level's weights: no mask to stay inside")
        mask = run_.mask(level) if args.within_mask else None
        settings = {"kind": "slice", "plane": "random", "center": ident, "seed": args.seed,
                    "normalize": args.normalize, "within_mask": args.within_mask,
                    "span": args.span, "grid": args.grid, **base}  # fmt: skip
        anchors: list[tuple[str, dict]] = [(short_label(ident), state)]
        title = f"{run_.path.name}/{ident}: random {args.normalize}-normalised plane"
    elif args.checkpoints:
        located = [locate(c, None, args.device) for c in args.checkpoints]
        run_, _, level, _ = located[0]
        for c, (r, *_rest) in zip(args.checkpoints[1:], located[1:]):
            if r.config.model.model != run_.config.model.model:
                raise LandscapeError(
                    f"{c} is a {r.config.model.model!r}, {args.checkpoints[0]} a "
                    f"{run_.config.model.model!r}: a plane joins three networks of one architecture"
                )
        idents = [
            loc[3] if loc[0].path.resolve() == run_.path.resolve() else foreign_ident(*loc[::3])
            for loc in located
        ]  # fmt: skip
        mask = None
        anchors = [(short_label(i), {k: v.to(run_.device) for k, v in loc[1].items()})
                   for i, loc in zip(idents, located)]  # fmt: skip
        settings = {"kind": "slice", "plane": "checkpoints", "anchors": idents,
                    "grid": args.grid, "margin": args.margin, "tolerance": args.tolerance,
                    **base}  # fmt: skip
        title = f"{run_.path.name}: plane through {', '.join(a for a, _ in anchors)}"
    else:
        run_ = open_run(args.target, args.device)
        level = args.level
        if level + 1 not in run_.levels() or level not in run_.levels():
            raise LandscapeError(
                f"the plane of level {level} needs levels {level} and {level + 1}; {run_.path} has "
                f"{run_.levels()}. Pick --level below the last trained one."
            )
        w = run_.weights(level)
        proj = {k: v.clone() for k, v in w.items()}
        for k, m in run_.mask(level + 1).items():
            proj[k] = proj[k] * m.to(proj[k].dtype)
        mask = None
        anchors = [(f"w^({level})", w), (f"m_{level + 1} ⊙ w^({level})", proj),
                   (f"w^({level + 1})", run_.weights(level + 1))]  # fmt: skip
        settings = {"kind": "slice", "plane": "level", "level": level, "grid": args.grid,
                    "margin": args.margin, "tolerance": args.tolerance, **base}  # fmt: skip
        title = f"{run_.path.name}: level {level} → {level + 1}"

    digest = settings_digest(settings)
    folder = Path(args.out) if args.out else paths.result_dir(run_.path, level, "slice", digest)
    record = existing_result(folder, args.force, settings)
    if record is None:
        record = _compute(args, run_, anchors, mask, settings, title)
        write_result(folder, record, {f"values_{k}": v for k, v in record["values"].items()}
                     | {"a": record["a"], "b": record["b"]})  # fmt: skip
        fig, _ = plot_slices(record)
        save_figure(fig, folder / "slice.png")
    _summary(record, folder)
    return 0


def _compute(
    args: argparse.Namespace,
    run_: Any,
    anchors: list[tuple[str, dict]],
    mask: dict | None,
    settings: dict,
    title: str,
) -> dict[str, Any]:
    model = run_.model()
    datasets = {"test": eval_data(run_, "test", args.eval_samples),
                "train": eval_data(run_, "train", args.eval_samples)}  # fmt: skip
    engine = dict(bn_policy=args.bn_policy, bn_data=bn_batches(run_, args), **engine_kwargs(args))
    extra: dict[str, dict] = {}
    if settings["plane"] == "level" and args.level > 0:
        extra["w^(0) dense"] = run_.weights(0)
    total = args.grid**2 + len(anchors) + len(extra)
    t0 = time.perf_counter()
    with progress(total=total, desc="slice", disable=True if args.quiet else None) as bar:
        if args.random:
            res = random_slice(
                model, anchors[0][1], datasets, seed=args.seed, normalize=args.normalize,
                mask=mask, grid=args.grid, span=args.span, progress=bar.update, **engine,
            )  # fmt: skip
        else:
            res = plane_slice(
                model, anchors[0][1], anchors[1][1], anchors[2][1], datasets, grid=args.grid,
                margin=args.margin, names=[a[0] for a in anchors], extra=extra,
                progress=bar.update, **engine,
            )  # fmt: skip
    record: dict[str, Any] = {"title": title, "settings": settings, "run": str(run_.path),
                              **res.to_dict(), "seconds": time.perf_counter() - t0, **stamp()}  # fmt: skip
    if not args.random:
        # The matching contour: the dense network's test error (level planes), or the
        # origin's (any three checkpoints), plus the tolerance ε (SPEC §3 "Matching").
        ref = record["marks"][-1] if extra else record["marks"][0]
        record["matching_reference"] = ref["name"]
        record["matching_level"] = ref["test_error"] + args.tolerance
    return record


def _summary(record: dict, folder: Path) -> None:
    rows = [(m["name"], f"{m['a']:.3f}", f"{m['b']:.3f}", m["test_error"], m["train_loss"])
            for m in record["marks"]]  # fmt: skip
    print(f"\n{record['title']} ({len(record['a'])}x{len(record['b'])} grid, BN policy "
          f"{record['bn_policy']}{'' if record['has_batchnorm'] else ', no BatchNorm'})")  # fmt: skip
    print(format_table(("point", "a", "b", "test error", "train loss"), rows))
    if "matching_level" in record:
        import numpy as np

        z = np.asarray(record["values"]["test_error"])
        frac = float((z <= record["matching_level"]).mean())
        print(f"matching level {record['matching_level']:.4f} ({record['matching_reference']} + "
              f"tolerance): {frac:.1%} of the grid is at or below it")  # fmt: skip
    print(
        f"{len(record['a']) * len(record['b'])} grid points in {record['seconds']:.1f}s → {folder}"
    )
