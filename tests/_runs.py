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


def untrained_two_level_run(out: Path, fraction: float) -> Path:
    """A two-level run of the MLP on synthetic data without training: level 0 the
    initialisation, level 1 the same weights magnitude-pruned by ``fraction``."""
    from landscape import paths
    from landscape.checkpoint import save_json, save_state
    from landscape.data import load_data
    from landscape.models import create_model
    from landscape.pruning import ones_mask, prune

    cfg = RunConfig().replace(data="synthetic", model="mlp", levels=1)
    out = prepare_run_dir(cfg, out=out)
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    mask = ones_mask(model)
    for level in (0, 1):
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for n, m in mask.items():
            state[n] = state[n] * m
        save_state(paths.weights(out, level), state)
        save_state(paths.mask(out, level), {n: m.to(torch.uint8) for n, m in mask.items()})
        save_json(paths.metrics(out, level), {"level": level, "density": (1 - fraction) ** level})
        mask = prune(state, mask, fraction)
    return out
