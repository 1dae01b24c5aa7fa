"""The command line every analysis script shares: preset, seeds, where runs and figures go.

Each script names its default preset (the MNIST-1D setting its committed figure comes
from) and keeps its own settings; these options only choose the network and data, the
seeds, the device and the folders, so the same script runs a CIFAR preset on a GPU:

    python3 analysis_scripts/regime_mnist1d.py --preset resnet20-cifar10 \\
        --data-root /data/cifar --device cuda --threads 0

With a preset other than the default, figures go to ``figures/<preset>/`` so the
committed MNIST-1D figures are never overwritten. Runs go to ``--root`` (default
``$LANDSCAPE_ROOT/<the script's folder>``, ``$LANDSCAPE_ROOT`` defaulting to ``runs``);
a repeated call reuses every finished run and result.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from landscape.analysis.slice_sets import LCS_BARRIER
from landscape.hparams import PRESETS, RunConfig

__all__ = [
    "BARRIER",
    "barrier_matching_and_lcs",
    "barrier_matching_counts",
    "base_config",
    "command_line",
    "lcs_counts",
    "lcs_membership",
    "mean_sd",
    "options",
    "paired_bounds",
    "paired_interval",
    "paul_epsilon",
]


def options(
    doc: str | None,
    preset: str,
    folder: str,
    *,
    seeds: str | None = "0,1,2",
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse the shared options (and ``extra``'s); set torch's thread count.

    Args:
        doc: the script's docstring (its first paragraph is the ``--help`` description).
        preset: the script's default preset.
        folder: the runs' folder under ``$LANDSCAPE_ROOT`` (default of ``--root``).
        seeds: the default seeds (``None``: a one-seed script, no ``--seeds`` option).
        extra: adds the script's own options to the parser.

    Returns:
        the options, with ``seeds`` as a list of ints and ``root``/``figures`` as paths.
    """
    parser = argparse.ArgumentParser(allow_abbrev=False, description=(doc or "").split("\n\n")[0])
    parser.add_argument("--preset", default=preset, choices=sorted(PRESETS),
                        help=f"network, data and training recipe (default: {preset})")  # fmt: skip
    if seeds is not None:
        parser.add_argument("--seeds", default=seeds, help="seeds (initialisation and data order)")
    parser.add_argument("--root", default=None,
                        help=f"where the runs go (default: $LANDSCAPE_ROOT/{folder})")  # fmt: skip
    parser.add_argument("--figures", default=None,
                        help="where figures go (default: figures/, or figures/<preset>/ for "
                        "another preset than the default)")  # fmt: skip
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (0: torch's default, e.g. on a GPU machine)")  # fmt: skip
    parser.add_argument("--data-root", default="", help="where CIFAR/ImageNet are on disk")
    parser.add_argument("--download", action="store_true", help="let torchvision fetch CIFAR")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    args.seeds = [int(s) for s in str(getattr(args, "seeds", "")).split(",") if s.strip()]
    args.root = Path(args.root or Path(os.environ.get("LANDSCAPE_ROOT", "runs")) / folder)
    default = Path("figures") if args.preset == preset else Path("figures") / args.preset
    args.figures = Path(args.figures) if args.figures else default
    args.figures.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def command_line() -> str:
    """The command that ran this script, as a record's ``command`` (shell-quoted, every
    flag as given, and ``$LANDSCAPE_ROOT`` where it was set, since it places the runs: a
    record names the exact call that reproduces it)."""
    root = os.environ.get("LANDSCAPE_ROOT")
    prefix = f"LANDSCAPE_ROOT={shlex.quote(root)} " if root else ""
    return prefix + "python3 " + shlex.join(sys.argv)


def base_config(args: argparse.Namespace) -> RunConfig:
    """``args.preset``'s settings with the device, threads and data location of ``args``
    (none of them part of a run's name, so runs made before are found again)."""
    return RunConfig().replace(**PRESETS[args.preset]).replace(
        device=args.device, threads=args.threads, data_root=args.data_root,
        download=args.download,
    )  # fmt: skip


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one value)."""
    values = list(values)
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_interval(diffs) -> tuple[float, float]:
    """Mean of per-seed paired differences and the half-width of its two-sided 95% Student t
    interval (0 for one difference)."""
    from scipy.stats import t  # the quantile for any number of seeds, not a short table

    diffs = list(diffs)
    m, s = mean_sd(diffs)
    n = len(diffs)
    return m, float(t.ppf(0.975, n - 1)) * s / n**0.5 if n > 1 else 0.0


def paul_epsilon(dense_errors) -> float:
    """[PAUL]'s ε: the sample standard deviation of the dense test error over seeds. With one
    seed there is no spread; then the ``slice`` verb's default ``--tolerance`` (0.01), so
    that every script draws the same matching level from the same runs."""
    import dataclasses

    from landscape.specs import SliceSpec

    dense = list(dense_errors)
    if len(dense) > 1:
        return statistics.stdev(dense)
    return next(f.default for f in dataclasses.fields(SliceSpec) if f.name == "tolerance")


def paired_bounds(diffs) -> list[float]:
    """``[mean, low, high]``: a paired difference over seeds and its two-sided 95% Student t
    interval (:func:`paired_interval` as bounds, the form the SWAMP records store)."""
    m, h = paired_interval(list(diffs))
    return [m, m - h, m + h]


#: The error barrier above which a path counts as having one in these scripts: the library's
#: (the 0.02 of Frankle et al. 2020), so the scripts and the ``slice`` verb's LCS agree.
BARRIER = LCS_BARRIER


def barrier_matching_counts(errors, barriers, matching_level: float, threshold: float) -> dict:
    """[PAUL] Fig. 2's "zero error barrier if and only if matching", counted both ways.

    Over every (run, level L ≥ 1): level L matches when its test error is at most
    ``matching_level``; the segment L−1 → L has a barrier when its error barrier exceeds
    ``threshold``. Returns the 2×2 table and both implications as ``[holds, of]``:
    matching ⇒ no barrier (of the matching levels, how many have no barrier into them)
    and no barrier ⇒ matching (of the barrier-free segments, how many end matching).

    Args:
        errors: per run, every level's test error (level 0 first).
        barriers: per run, the successive error barriers (segment L−1 → L at index L−1).
    """
    table = {"matching_no_barrier": 0, "matching_barrier": 0,
             "not_matching_no_barrier": 0, "not_matching_barrier": 0}  # fmt: skip
    for errs, bars in zip(errors, barriers, strict=True):
        for err, bar in zip(errs[1:], bars, strict=True):
            key = ("matching" if err <= matching_level else "not_matching") + (
                "_barrier" if bar > threshold else "_no_barrier"
            )
            table[key] += 1
    m, n = table["matching_no_barrier"], table["not_matching_no_barrier"]
    return {**table, "threshold": threshold, "matching_level": matching_level,
            "matching_implies_no_barrier": [m, m + table["matching_barrier"]],
            "no_barrier_implies_matching": [m, m + n]}  # fmt: skip


def lcs_membership(errors, barriers, eps: float, matching_level: float, threshold: float = BARRIER):
    """[PAUL] Fig. 3's criterion per level from records: is ``w^(L+1)`` in the linearly
    connected sublevel set of ``w^(L)``, ``{w : E(w) ≤ E(w^(L)) + ε, no barrier from w^(L)}``?

    Args:
        errors: one run's level test errors (level 0 first).
        barriers: its successive error barriers (L → L+1 at index L).
        eps: [PAUL]'s ε (the standard deviation of the dense test error over seeds).
        matching_level: the dense error + ε (whether ``w^(L+1)`` matches).
        threshold: the largest barrier that counts as none.

    Returns:
        one row per L = 0 … last − 1: ``level``, ``in_lcs``, its two parts
        (``error_ok``, ``barrier_ok``) and ``next_matches``.
    """
    rows = []
    for lvl, bar in enumerate(barriers):
        error_ok = errors[lvl + 1] <= errors[lvl] + eps
        rows.append({"level": lvl, "in_lcs": bool(error_ok and bar <= threshold),
                     "error_ok": bool(error_ok), "barrier_ok": bool(bar <= threshold),
                     "next_matches": bool(errors[lvl + 1] <= matching_level)})  # fmt: skip
    return rows


def lcs_counts(rows_per_run) -> dict:
    """The 2×2 table of (``w^(L+1)`` in the LCS of ``w^(L)``, level L+1 matches) over runs' rows."""
    table = {"in_matching": 0, "in_not_matching": 0, "out_matching": 0, "out_not_matching": 0}
    for rows in rows_per_run:
        for r in rows:
            key = ("in" if r["in_lcs"] else "out") + (
                "_matching" if r["next_matches"] else "_not_matching"
            )
            table[key] += 1
    return table


def barrier_matching_and_lcs(errors: dict, barriers: dict, eps: float, matching_level: float):
    """Both [PAUL] Fig. 2 and Fig. 3 tests for one setting's runs, as the JSON stores them.

    Args:
        errors: run name → its level test errors (level 0 first).
        barriers: run name → its successive error barriers.
        eps: [PAUL]'s ε; matching_level: the dense error + ε.

    Returns:
        ``(barrier_matching, lcs)``: :func:`barrier_matching_counts` at ε (the paper's
        threshold) and at :data:`BARRIER` (ours), and per run :func:`lcs_membership` with
        its :func:`lcs_counts`.
    """
    names = list(errors)
    counts = {label: barrier_matching_counts([errors[n] for n in names],
                                             [barriers[n] for n in names],
                                             matching_level, th)
              for label, th in (("epsilon", eps), ("0.02", BARRIER))}  # fmt: skip
    per_run = {n: lcs_membership(errors[n], barriers[n], eps, matching_level) for n in names}
    lcs = {
        "barrier_threshold": BARRIER,
        "per_seed": per_run,
        "counts": lcs_counts(per_run.values()),
    }
    return counts, lcs
