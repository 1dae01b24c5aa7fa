"""``landscape plot KIND``: draw a figure (PNG) from a result file, or from settings for ``schedules``.

Kinds live in :data:`PLOT_KINDS`, a registry of :class:`PlotKind` entries (an
object, or a lazy ``"package.module:NAME"`` string), so a new figure is one
``PLOT_KINDS.add(...)`` line pointing at its own module. Every kind writes the
JSON it drew beside the PNG (or reads it), so the figure can be redrawn
without recomputing (STYLE: plots never compute).

Provided here: ``schedules`` (the six retraining schedules of [ZIMMER] over one
budget, against the original schedule), ``oneshot`` (accuracy vs retraining
budget, from ``analysis_scripts/oneshot_budget.py``) and ``result`` (any analysis
``result.json``, drawn by its ``kind``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError
from landscape.hparams import SECTIONS, add_config_args, config_from_args
from landscape.io import save_json
from landscape.registry import Registry

VERB = "plot"
HELP = "draw a figure: schedules, oneshot (accuracy vs budget), or any analysis result.json"
ORDER = 90

__all__ = ["PLOT_KINDS", "PlotKind", "schedules_result"]


@dataclass(frozen=True)
class PlotKind:
    """A figure kind: its flags and the function that draws it (returns an exit status)."""

    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


PLOT_KINDS: Registry[PlotKind] = Registry("plot kind")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", title="kinds", required=True)
    for name in PLOT_KINDS.names():
        kind = PLOT_KINDS.get(name)
        p = sub.add_parser(
            name, help=PLOT_KINDS.help(name), description=kind.description or PLOT_KINDS.help(name)
        )
        kind.add_arguments(p)
        p.set_defaults(_plot=kind.run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    return int(args._plot(args) or 0)


def _save(fig: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    print(f"wrote {out}")


# ---------------------------------------------------------------- schedules

# The flags that define the original schedule, the steps per epoch and ALLR's phase.
_SCHEDULE_FLAGS = {
    "data", "data_root", "batch_size", "train_subset",
    "lr", "schedule", "milestones", "gamma", "warmup", "length",
    "retrain_epochs", "goal_sparsity", "levels",
}  # fmt: skip
# Per curve in the JSON, LRs to 6 significant digits: enough for the figure, small enough to commit.
_MAX_POINTS = 300


def _schedules_arguments(parser: argparse.ArgumentParser) -> None:
    skip = tuple(
        f.name
        for klass in SECTIONS.values()
        for f in dataclasses.fields(klass)
        if f.name not in _SCHEDULE_FLAGS
    )
    parser.add_argument(
        "--out", default="schedules.png", help="PNG to write; the JSON goes beside it"
    )
    parser.add_argument(
        "--steps-per-epoch", type=int, default=0, metavar="N",
        help="steps per epoch (default: from the data set and --batch-size; needs the data present)",
    )  # fmt: skip
    parser.add_argument(
        "--norm-drop", type=float, default=0.3, metavar="D",
        help="ALLR: the relative norm drop ‖θ − θ_pruned‖/‖θ‖ to illustrate (default 0.3; "
        "real runs record theirs in metrics.json)",
    )  # fmt: skip
    parser.add_argument("--log", action="store_true", help="log-scale learning-rate axis")
    add_config_args(parser, skip=skip)
    # ALLR's s = 1 − (1 − S)^(1/J): one-shot (J = 1) unless --levels says otherwise.
    parser.set_defaults(levels=1)


def schedules_result(
    cfg: Any, steps_per_epoch: int, norm_drop: float, max_points: int = _MAX_POINTS
) -> dict[str, Any]:
    """The ``schedules`` result: the original schedule and the six retraining schedules.

    ``cfg`` is a :class:`~landscape.hparams.RunConfig`: its training section gives
    ``η(t)``, ``retrain_epochs`` the phase length, ``goal_sparsity``/``levels`` the
    share ``s`` pruned per phase for ALLR's ``η_0`` (with ``norm_drop``).
    Curves are subsampled to at most ``max_points`` steps (the last step kept), LRs
    rounded to 6 significant digits.
    """
    from landscape.hparams import parse_duration
    from landscape.training import lr_schedule
    from landscape.training.retrain_schedules import (
        RETRAIN_SCHEDULES,
        allr_initial_lr,
        phase_fraction,
        retrain_lr_curve,
        schedule_bounds,
    )

    total = parse_duration(cfg.train.length, steps_per_epoch)
    warm = parse_duration(cfg.train.warmup, steps_per_epoch)
    eta = lr_schedule(cfg.train, steps_per_epoch)
    original = [eta(t) for t in range(total)]
    n_rt = cfg.prune.retrain_epochs * steps_per_epoch
    if n_rt <= 0:
        raise ValueError("--retrain-epochs must be >= 1 to draw the retraining schedules")
    eta_max, eta_min = schedule_bounds(original, warm)
    frac = phase_fraction(cfg.prune.goal_sparsity, max(cfg.prune.levels, 1))
    allr = allr_initial_lr(norm_drop, frac, eta_max, n_rt, total)

    def sampled(lrs: list[float]) -> dict[str, list]:
        stride = max(1, math.ceil(len(lrs) / max_points))
        steps = list(range(0, len(lrs), stride))
        if steps[-1] != len(lrs) - 1:
            steps.append(len(lrs) - 1)
        return {"step": steps, "lr": [float(f"{lrs[i]:.6g}") for i in steps]}

    curves = {
        name: sampled(retrain_lr_curve(name, n_rt, original, warm, allr.eta0))
        for name in RETRAIN_SCHEDULES
    }
    return {
        "kind": "schedules",
        "steps_per_epoch": steps_per_epoch,
        "train_epochs": total / steps_per_epoch,
        "retrain_epochs": cfg.prune.retrain_epochs,
        "eta_max": eta_max,
        "eta_min": eta_min,
        "allr": allr.to_dict(),
        "train": dataclasses.asdict(cfg.train),
        "original": sampled(original),
        "schedules": curves,
    }


def _steps_per_epoch(args: argparse.Namespace, cfg: Any) -> int:
    if args.steps_per_epoch:
        if args.steps_per_epoch < 0:
            raise ValueError("--steps-per-epoch must be positive")
        return args.steps_per_epoch
    from landscape.data import load_data

    d = cfg.data
    try:
        data = load_data(d.data, d.data_root, False, d.train_subset)
    except (LandscapeError, OSError, RuntimeError) as exc:
        raise LandscapeError(
            f"cannot load {d.data!r} to count its steps per epoch ({exc}); pass --steps-per-epoch "
            "(e.g. 390 for CIFAR-10 at batch 128)"
        ) from exc
    return data.steps_per_epoch(d.batch_size)


def _schedules_run(args: argparse.Namespace) -> int:
    from landscape.plotting.schedules import plot_schedules

    cfg = config_from_args(args)
    result = schedules_result(cfg, _steps_per_epoch(args, cfg), args.norm_drop)
    out = Path(args.out)
    save_json(out.with_suffix(".json"), result)
    fig, _ = plot_schedules(result, log=args.log)
    _save(fig, out)
    a = result["allr"]
    print(
        f"η_max {result['eta_max']:.4g}  η_min {result['eta_min']:.4g}  ALLR η_0 {a['eta0']:.4g} "
        f"(raw {a['raw']:.4g}, clip [{a['lo']:.4g}, {a['hi']:.4g}])"
    )
    return 0


PLOT_KINDS.add(
    "schedules",
    PlotKind(
        _schedules_arguments,
        _schedules_run,
        "Draw FT/LRW/SLR/CLR/LLR/ALLR over --retrain-epochs beside the original schedule given by "
        "the training flags (or --preset); ALLR's pruned share s comes from --goal-sparsity and "
        "--levels (default here: 1, one-shot). Example: landscape plot schedules --preset "
        "resnet56-cifar10 --steps-per-epoch 390 --retrain-epochs 60",
    ),
    "the six retraining schedules over one budget, against the original schedule [ZIMMER]",
)


# ---------------------------------------------------------------- oneshot


def _oneshot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="JSON written by analysis_scripts/oneshot_budget.py")
    parser.add_argument("--out", default=None, help="PNG to write (default: beside the JSON)")


def _oneshot_run(args: argparse.Namespace) -> int:
    from landscape.plotting.oneshot import plot_oneshot

    src = Path(args.result)
    fig, _ = plot_oneshot(src)
    _save(fig, Path(args.out) if args.out else src.with_suffix(".png"))
    return 0


PLOT_KINDS.add(
    "oneshot",
    PlotKind(_oneshot_arguments, _oneshot_run),
    "test accuracy vs retraining budget per schedule, from a oneshot_budget.py JSON [ZIMMER]",
)


# ---------------------------------------------------------------- any analysis result

# Record kind → the function that draws it from the record alone (lazy: "module:function").
_DRAWERS = {
    "connectivity": "landscape.plotting.connectivity:plot_connectivity",
    "barrier": "landscape.plotting.connectivity:plot_barrier",
    "instability": "landscape.plotting.connectivity:plot_barrier",
    "instability-scan": "landscape.plotting.connectivity:plot_instability_scan",
    "anchors": "landscape.plotting.slices:plot_slices",
    "random": "landscape.plotting.slices:plot_slices",
    "hessian": "landscape.plotting.hessian:plot_density",
    "hessian-levels": "landscape.plotting.hessian:plot_levels",
    "oneshot": "landscape.plotting.oneshot:plot_oneshot",
    "schedules": "landscape.plotting.schedules:plot_schedules",
    "robustness": "landscape.plotting.robustness:plot_robustness",
    "curvature": "landscape.plotting.curvature:plot_curvature",
    "curvature-levels": "landscape.plotting.curvature:plot_curvature_levels",
    "reequilibration": "landscape.plotting.reequilibration:plot_reequilibration",
    "bound": "landscape.plotting.bound:plot_bound",
    "bound-levels": "landscape.plotting.bound:plot_bound_levels",
    "bound-empirical": "landscape.plotting.bound:plot_bound_empirical",
}


def _result_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="a result.json (or the analysis folder holding one)")
    parser.add_argument("--out", default=None, help="PNG to write (default: figure.png beside it)")


def _result_run(args: argparse.Namespace) -> int:
    import importlib

    from landscape.plotting._common import load_result

    src = Path(args.result)
    record = load_result(src)
    kind = record.get("kind")
    if kind not in _DRAWERS:
        raise LandscapeError(
            f"{src} is a {kind or 'kind-less'!r} result, which has no figure here; "
            f"landscape plot result draws {', '.join(sorted(_DRAWERS))}"
        )
    module, name = _DRAWERS[kind].split(":")
    fig, _ = getattr(importlib.import_module(module), name)(record)
    folder = src if src.is_dir() else src.parent
    _save(fig, Path(args.out) if args.out else folder / "figure.png")
    return 0


PLOT_KINDS.add(
    "result",
    PlotKind(
        _result_arguments,
        _result_run,
        "Redraw the figure of any analysis result (connectivity, barrier, instability, slice, "
        "hessian, oneshot, schedules) from its JSON alone, e.g. with another matplotlib style.",
    ),
    "redraw any analysis result (result.json) by its kind",
)
