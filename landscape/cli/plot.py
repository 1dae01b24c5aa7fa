"""``landscape plot KIND``: draw a figure (PNG) from a result file, or from settings for ``schedules``.

Kinds live in :data:`PLOT_KINDS`, a registry of :class:`PlotKind` entries (an
object, or a lazy ``"package.module:NAME"`` string), so a new figure is one
``PLOT_KINDS.add(...)`` line pointing at its own module. Every kind writes the
JSON it drew beside the PNG (or reads it), so the figure can be redrawn
without recomputing (STYLE: plots never compute).

Provided here: ``schedules`` (the six retraining schedules of [ZIMMER] over one
budget, against the original schedule; its data from
:func:`landscape.jobs.schedules.schedules`), ``oneshot`` (accuracy vs retraining
budget, from ``analysis_scripts/oneshot_budget.py``) and ``result`` (any analysis
``result.json``, drawn by its ``kind`` through :data:`landscape.plotting.DRAWERS`).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError
from landscape.hparams import SECTIONS, add_config_args, config_from_args
from landscape.io import save_json
from landscape.plotting import DRAWERS
from landscape.registry import Registry

VERB = "plot"
HELP = "draw a figure: schedules, oneshot (accuracy vs budget), or any analysis result.json"
ORDER = 90
COMPUTES = False  # reads files only: no engine group

__all__ = ["PLOT_KINDS", "PlotKind"]


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


def _schedules_run(args: argparse.Namespace) -> int:
    from landscape.jobs.schedules import schedules  # here: `landscape --help` stays torch-free
    from landscape.plotting.schedules import plot_schedules

    result = schedules(config_from_args(args), steps_per_epoch=args.steps_per_epoch,
                       norm_drop=args.norm_drop)  # fmt: skip
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


def _result_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="a result.json (or the analysis folder holding one)")
    parser.add_argument("--out", default=None, help="PNG to write (default: figure.png beside it)")


def _result_run(args: argparse.Namespace) -> int:
    import importlib

    from landscape.plotting._common import load_result

    src = Path(args.result)
    record = load_result(src)
    kind = record.get("kind")
    if kind not in DRAWERS:
        raise LandscapeError(
            f"{src} is a {kind or 'kind-less'!r} result, which has no figure here; "
            f"landscape plot result draws {', '.join(sorted(DRAWERS))}"
        )
    module, name = DRAWERS[kind].split(":")
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
