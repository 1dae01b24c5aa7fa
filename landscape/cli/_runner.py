"""Shared by ``train``, ``prune`` and ``demo``: run a method into its run directory.

Torch and the runners are imported when a run starts, so building the command
line (and ``--help``) stays free of torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.hparams import RunConfig, add_config_args

__all__ = ["add_run_arguments", "execute"]


def add_run_arguments(
    parser: argparse.ArgumentParser, skip: tuple[str, ...] = (), method: str | None = None
) -> None:
    """``--out``, ``--root``, ``--quiet`` and the settings flags (only ``method``'s, if given)."""
    parser.add_argument(
        "--out", default=None,
        help="run directory (default: <root>/<method>_<model>-<data>_s<seed>_<hash>). The IMP methods "
        "(imp-wr, imp-lrr, imp-ft, imp) share the dense network of dense_..._<hash> beside it, in "
        "its parent folder",
    )  # fmt: skip
    parser.add_argument(
        "--root", default=None, help="where run directories go (default: $LANDSCAPE_ROOT or ./runs)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-level lines")
    parser.add_argument(
        "--log", "--log-to", dest="log", default="", metavar="KINDS",
        help="experiment logs in <run>/logs: csv, tensorboard, wandb (offline), comma-separated; "
        "every step's loss and LR, each evaluation, each level's numbers. Not part of the run's "
        "name; tensorboard/wandb need pip install 'landscape[tensorboard]' / '[wandb]'. Under "
        "torchrun write --log-to (torchrun reads --log as its own --log-dir)",
    )  # fmt: skip
    add_config_args(parser, skip=skip, method=method)


def execute(
    cfg: RunConfig,
    out: str | None = None,
    root: str | None = None,
    quiet: bool = False,
    log: str = "",
) -> Path:
    """Run ``cfg.prune.method`` into its run directory: :func:`landscape.jobs.prune`
    (``log``: the ``--log`` kinds)."""
    from landscape.jobs.prune import prune

    return prune(cfg, out=out, root=root, quiet=quiet, log_to=log)
