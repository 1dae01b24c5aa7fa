"""``prune(cfg)``: run a pruning method (or dense training) into its run directory.

The runners are idempotent level loops: a finished level is skipped, so calling
``prune`` again with the same settings resumes a killed run, and (for IMP-WR/LRR/FT
and SWAMP) a larger ``levels`` extends a finished one. Returns the run directory,
which every analysis job takes as its target::

    from landscape import jobs
    from landscape.hparams import PRESETS, RunConfig

    run_dir = jobs.prune(RunConfig().replace(**PRESETS["mlp-mnist1d"], method="imp-wr", levels=5))
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from landscape.devices import configure_threads, resolve_device
from landscape.distributed import env_rank
from landscape.hparams import RunConfig
from landscape.runners import METHODS
from landscape.runners.common import RunContext
from landscape.runs import prepare_run_dir

__all__ = ["prune"]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prune(
    cfg: RunConfig,
    *,
    out: str | Path | None = None,
    root: str | Path | None = None,
    quiet: bool = False,
    log: Callable[[str], object] = _stderr,
) -> Path:
    """Run ``cfg.prune.method`` into its run directory (resuming finished work); the directory.

    Args:
        out: the run directory (default: ``<root>/<method>_<hash>``).
        root: where run directories go (default: ``$LANDSCAPE_ROOT`` or ``./runs``).
        quiet: no progress bars or per-level lines (always so on ranks other than 0).
    """
    runner = METHODS.get(cfg.prune.method)
    device = resolve_device(cfg.train.device)
    run_dir = prepare_run_dir(cfg, out=out, root=root)
    quiet = quiet or env_rank() != 0  # under torchrun only rank 0 reports
    say = (lambda *a, **k: None) if quiet else log
    say(f"{cfg.prune.method}: {run_dir}  (device {device})")
    t0 = time.perf_counter()
    ctx = RunContext(cfg, run_dir, device, show_progress=not quiet, log=say)
    num_params = sum(p.numel() for p in ctx.model().parameters())
    threads = configure_threads(device, num_params, cfg.train.threads)
    if device.type == "cpu":
        say(f"{num_params:,} parameters, {threads} CPU thread(s) (--threads to change)")
    runner(ctx)
    say(f"finished in {time.perf_counter() - t0:.1f}s")
    return run_dir
