"""Helpers for tests that need small run directories (imported by test modules, not a conftest)."""

from __future__ import annotations

from pathlib import Path

import torch

from landscape.hparams import RunConfig
from landscape.runners import METHODS
from landscape.runners.common import RunContext
from landscape.runs import prepare_run_dir

# A quick MNIST-1D MLP recipe: 8 epochs of 40 steps a level.
QUICK = dict(data="mnist1d", model="mlp", length="8ep", milestones="4ep,6ep", eval_every="4ep")


def run_method(out: Path, **settings) -> tuple[RunConfig, Path]:
    cfg = RunConfig().replace(**{**QUICK, **settings})
    run_dir = prepare_run_dir(cfg, out=out)
    METHODS.get(cfg.prune.method)(
        RunContext(cfg, run_dir, torch.device("cpu"), show_progress=False, log=lambda m: None)
    )
    return cfg, run_dir
