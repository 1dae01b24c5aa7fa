"""``landscape curve CKPT_A CKPT_B``: a trained low-loss curve between two checkpoints.

The bend point(s) of a Bezier curve or polygonal chain (--kind, --bends) start on the
straight line and are trained for --epochs epochs on CKPT_A's run's training data, the
ends fixed (Garipov et al. 2018); loss and error along the curve are then measured next
to the straight line, BatchNorm statistics re-estimated at every point (--bn-policy).
Masked ends keep the bends in the union or intersection of their masks (--mask-policy).
A CKPT is a run directory (its last level, or --level-a/--level-b), a level_NN folder, a
file inside a run directory, or a bare state dict with --model and --data. The result
(bends as safetensors, curve.png, result.json) goes to CKPT_A's analysis/curve_<hash>/ or
--out; a killed training resumes from its last finished epoch.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import (
    add_bare_arguments,
    add_job_arguments,
    add_pair_arguments,
    bare_kwargs,
)
from landscape.specs import CurveSpec

VERB = "curve"
HELP = "train a low-loss Bezier/polychain curve between two checkpoints, against the line"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 52


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_pair_arguments(parser)
    settings.add_arguments(parser, CurveSpec)
    add_job_arguments(parser, out="result folder (default: analysis/curve_<hash>/ in CKPT_A's "
                      "level, or in its run for a file outside the levels)")  # fmt: skip
    add_bare_arguments(parser)


def run(args: argparse.Namespace) -> int:
    spec = settings.from_args(CurveSpec, args)
    from landscape.cli._common import format_table
    from landscape.jobs import curve, resolve

    kw = bare_kwargs(args)
    a, b = (resolve(c, lv, device=spec.engine.device, **kw)
            for c, lv in ((args.ckpt_a, args.level_a), (args.ckpt_b, args.level_b)))  # fmt: skip
    res = curve(a, b, spec, out=args.out, force=args.force, wait=args.wait, quiet=args.quiet)
    r = res.record
    split = r["settings"]["split"]
    print(r["title"])
    rows = [(f"{t:.3f}", le, ce, ll, cl) for t, le, ce, ll, cl in zip(
        r["ts"], r["line"]["errors"], r["curve"]["errors"], r["line"]["losses"],
        r["curve"]["losses"])]  # fmt: skip
    print(format_table(("t", f"line {split} error", f"curve {split} error", "line loss",
                        "curve loss"), rows))  # fmt: skip
    bn = r["bn_policy"] if r["has_batchnorm"] else "no BatchNorm"
    print(f"error barrier: line {r['line_error_barrier']:.4f}, curve {r['error_barrier']:.4f}; "
          f"loss barrier: line {r['line_loss_barrier']:.4f}, curve {r['loss_barrier']:.4f}  "
          f"[{r['settings']['curve']}, {r['settings']['bends']} bend(s), "
          f"{r['settings']['epochs']} epochs, BN: {bn}] → {res.folder}")  # fmt: skip
    return 0
