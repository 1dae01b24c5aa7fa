"""``landscape align CKPT_A CKPT_B``: permute B's hidden units onto A's (weight or activation
matching, Ainsworth et al. 2023) and measure the barrier before and after.

CKPT_A and CKPT_B are what ``barrier`` takes: a run directory (its last level, or
``--level-a/--level-b``), a ``level_NN`` folder, a file inside a run directory, or a bare
state dict with ``--model`` and ``--data``. Writes ``aligned.safetensors`` (and
``aligned_mask.safetensors`` when B has a mask) and ``result.json`` into CKPT_A's level
``analysis/align_<hash>/`` or ``--out``. Flags → :class:`AlignSpec` → ``jobs.align``.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_bare_arguments, add_job_arguments, format_table
from landscape.specs import AlignSpec

VERB = "align"
HELP = "permute one network's hidden units onto another's; the barrier before and after"
ORDER = 53


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for end in ("a", "b"):
        parser.add_argument(f"ckpt_{end}", metavar=f"CKPT_{end.upper()}",
                            help="run dir, level_NN dir, or a checkpoint file")  # fmt: skip
        parser.add_argument(f"--level-{end}", type=int, default=None,
                            help=f"level of CKPT_{end.upper()} if a run dir")  # fmt: skip
    settings.add_arguments(parser, AlignSpec)
    add_job_arguments(parser, out="result folder (default: analysis/align_<hash>/ in CKPT_A's "
                      "level, or in its run for a file outside the levels)")  # fmt: skip
    add_bare_arguments(parser)


def run(args: argparse.Namespace) -> int:
    spec = settings.from_args(AlignSpec, args)
    from landscape.cli._common import bare_kwargs
    from landscape.jobs import align, resolve

    a, b = (resolve(c, lv, device=spec.engine.device, **bare_kwargs(args))
            for c, lv in ((args.ckpt_a, args.level_a), (args.ckpt_b, args.level_b)))  # fmt: skip
    res = align(a, b, spec, out=args.out, force=args.force, wait=args.wait)
    r = res.record
    print(r["title"])
    print(format_table(("", "distance ‖θ_A − θ_B‖", "error barrier", "loss barrier"), [
        ("before", r["distance_before"], r["error_barrier_before"], r["loss_barrier_before"]),
        (f"after ({r['method']} matching)", r["distance_after"], r["error_barrier_after"],
         r["loss_barrier_after"]),
    ]))  # fmt: skip
    groups = ", ".join(f"{g} ({n})" for g, n in r["groups"].items())
    print(f"permutation groups: {groups}")
    if r["mask_iou_before"] is not None:
        print(f"mask IoU {r['mask_iou_before']:.4f} → {r['mask_iou_after']:.4f}")
    repair = f"REPAIR by {r['repair_by']}" if r["repair"] else "no REPAIR"
    print(f"[{repair}; matched in {r['match_seconds']:.2f}s, {r['seconds']:.1f}s in all] → "
          f"{res.folder}")  # fmt: skip
    return 0
