"""``landscape connectivity RUN_DIR``: the path through successive level solutions and the
barrier matrix [PAUL Fig. 2]; flags → :class:`ConnectivitySpec` → ``jobs.connectivity``.

``landscape connectivity RUN_1 RUN_2 [...] --across``: at every level the runs share, the
barrier matrix between the runs' solutions, raw and (with ``--align``) aligned, and the
overlap of their masks → ``jobs.connectivity_across``."""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, format_table
from landscape.specs import ConnectivitySpec

VERB = "connectivity"
HELP = "error along the path through successive levels, and the barrier matrix (Paul Fig. 2)"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                        help="a run directory written by a runner (several with --across)")  # fmt: skip
    parser.add_argument(
        "--across", action="store_true",
        help="compare the runs (e.g. seeds of one recipe) at every level they share: the "
        "barrier matrix between their solutions, raw and with --align aligned, and the mask IoU",
    )  # fmt: skip
    settings.add_arguments(parser, ConnectivitySpec)
    add_job_arguments(parser, out="--across: where the result folder goes (default: the first "
                      "run's analysis/)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(ConnectivitySpec, args)
    if args.across:
        return _across(args, spec)
    if len(args.run_dir) > 1:
        raise ValueError(f"{len(args.run_dir)} run directories given: pass one, or add --across "
                         "to compare runs")  # fmt: skip
    if args.out:
        raise ValueError("--out is for --across; a run's connectivity goes into its first level")
    from landscape.jobs import connectivity

    res = connectivity(args.run_dir[0], spec, force=args.force, wait=args.wait, quiet=args.quiet)
    record = res.record
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
        n = len(mat)
        off = [mat[i][j] for i in range(n) for j in range(n) if i != j]
        print(f"barrier matrix over {n} levels: largest error barrier "
              f"{max(max(r) for r in mat):.4f}, mean off-diagonal {sum(off) / len(off):.4f}")  # fmt: skip
    print(f"{record['points_evaluated']} points in {record['seconds']:.1f}s → {res.folder}")
    return 0


def _across(args: argparse.Namespace, spec: ConnectivitySpec) -> int:
    from landscape.jobs import connectivity_across

    res = connectivity_across(args.run_dir, spec, out=args.out, force=args.force,
                              wait=args.wait, quiet=args.quiet, log=lambda _: None)  # fmt: skip
    rec = res.record
    aligned = rec["align"] != "none"
    head = ["level", "density", "error barrier (raw)", "mask IoU (raw)"]
    if aligned:
        head += [f"error barrier ({rec['align']})", f"mask IoU ({rec['align']})"]
    rows = []
    for p in rec["per_level"]:
        s = p["summary"]
        row = [p["level"], f"{p['density']:.4f}", s["error_matrix_raw"], s["mask_iou_raw"]]
        if aligned:
            row += [s["error_matrix_aligned"], s["mask_iou_aligned"]]
        rows.append(row)
    print(f"\n{rec['title']} ({', '.join(rec['labels'])}); means over run pairs")
    print(format_table(head, rows))
    print(f"{rec['seconds']:.1f}s → {res.folder}")
    return 0
