"""Shared by ``train``, ``prune`` and ``demo``: run a method into its run directory.

Torch and the runners are imported when a run starts, so building the command
line (and ``--help``) stays free of torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from landscape.hparams import RunConfig, add_config_args
from landscape.runners import METHODS

__all__ = ["add_run_arguments", "execute"]


def add_run_arguments(
    parser: argparse.ArgumentParser, skip: tuple[str, ...] = (), method: str | None = None
) -> None:
    """``--out``, ``--root``, ``--quiet`` and the settings flags (only ``method``'s, if given)."""
    parser.add_argument(
        "--out", default=None,
        help="run directory (default: <root>/<method>_<hash>). The IMP methods (imp-wr, imp-lrr, "
        "imp-ft, imp) share the dense network of dense_<hash> beside it, in its parent folder",
    )  # fmt: skip
    parser.add_argument(
        "--root", default=None, help="where run directories go (default: $LANDSCAPE_ROOT or ./runs)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-level lines")
    add_config_args(parser, skip=skip, method=method)


def execute(
    cfg: RunConfig, out: str | None = None, root: str | None = None, quiet: bool = False
) -> Path:
    """Run ``cfg.prune.method`` into its run directory (resuming finished work) and return the directory."""
    from landscape.devices import configure_threads, resolve_device
    from landscape.distributed import env_rank
    from landscape.runners.common import RunContext
    from landscape.runs import prepare_run_dir

    runner = METHODS.get(cfg.prune.method)
    device = resolve_device(cfg.train.device)
    run_dir = prepare_run_dir(cfg, out=out, root=root)
    quiet = quiet or env_rank() != 0  # under torchrun only rank 0 reports
    log = (lambda *a, **k: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    log(f"{cfg.prune.method}: {run_dir}  (device {device})")
    t0 = time.perf_counter()
    ctx = RunContext(cfg, run_dir, device, show_progress=not quiet, log=log)
    num_params = sum(p.numel() for p in ctx.model().parameters())
    threads = configure_threads(device, num_params, cfg.train.threads)
    if device.type == "cpu":
        log(f"{num_params:,} parameters, {threads} CPU thread(s) (--threads to change)")
    runner(ctx)
    log(f"finished in {time.perf_counter() - t0:.1f}s")
    return run_dir
