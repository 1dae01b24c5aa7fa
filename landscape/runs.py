"""Reading run directories: the contract between runners and analyses (docs/architecture.md).

``open_run(path)`` returns a :class:`Run` that rebuilds the model skeleton and the
data from ``config.json`` and loads any level's weights and mask, checked against
the model; the runners' :class:`~landscape.runners.common.RunContext` is a
:class:`Run` being written. Command-line targets (a run, a level, a file in a run,
a bare state dict) are resolved by :func:`landscape.jobs.targets.resolve`.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from landscape import __version__, paths
from landscape.checkpoint import check_state_fits, load_json, load_state, save_json
from landscape.data import DataSet, load_data
from landscape.devices import resolve_device
from landscape.errors import CheckpointError, ConfigMismatchError, LandscapeError
from landscape.hparams import RunConfig
from landscape.models import create_model
from landscape.pruning import Mask, check_mask

__all__ = ["Run", "open_run", "prepare_run_dir"]


def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    import numpy

    out = {"landscape": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version()}  # fmt: skip
    try:
        import torchvision

        out["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    return out


def prepare_run_dir(
    cfg: RunConfig, out: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """Create (or reopen) the run directory of ``cfg`` and write its ``config.json``.

    The directory is ``out``, or ``<root>/<method>_<hash>``. Reopening needs the same
    hash (:meth:`RunConfig.hash`); for the methods whose ``levels`` is not hashed
    (:data:`~landscape.hparams.EXTENDABLE_METHODS`) a larger ``--levels`` extends
    the run and ``config.json`` is rewritten (atomically) with the new count; a
    smaller one leaves it as it is (the levels already trained stay).

    Raises:
        ConfigMismatchError: the directory holds a run made with other settings.
    """
    run_dir = Path(out) if out else Path(root or paths.default_root()) / cfg.run_name()
    cfg_path = paths.config(run_dir)
    if cfg_path.exists():
        meta = load_json(cfg_path)
        existing = RunConfig.from_dict(meta["hparams"])
        if existing.hash() != cfg.hash():
            raise ConfigMismatchError(_mismatch(run_dir, existing, cfg))
        if cfg.prune.levels > existing.prune.levels:
            _record_levels(cfg_path, meta, existing, cfg.prune.levels)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    save_json(cfg_path, {
        "method": cfg.prune.method,
        "hash": cfg.hash(),
        "hparams": cfg.to_dict(),
        "non_default": cfg.non_default(),
        "seeds": {"init": cfg.train.seed, "data": cfg.data.data_seed, "prune": cfg.prune.prune_seed},
        "versions": _versions(),
        "git_sha": _git_sha(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })  # fmt: skip
    return run_dir


def _mismatch(run_dir: Path, existing: RunConfig, cfg: RunConfig) -> str:
    """The refusal to reopen ``run_dir`` with ``cfg``: every differing setting, and what to do."""
    a, b = existing.non_default(), cfg.non_default()
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    detail = ", ".join(
        f"{k}: {a.get(k, 'default')!r} there vs {b.get(k, 'default')!r} now" for k in diff
    )
    why = ""
    if "levels" in diff and cfg.prune.method in ("imp", "bimp"):
        why = (
            f" --method {cfg.prune.method} prunes 1 - (1 - S)^(1/J) of the weights a phase, so "
            "every phase depends on --levels J: other --levels make another run."
        )
    return (
        f"{run_dir} was made with other settings ({detail}).{why} Use another --out, "
        "or repeat the original settings to resume that run."
    )


def _record_levels(cfg_path: Path, meta: dict[str, Any], existing: RunConfig, levels: int) -> None:
    """Rewrite ``config.json`` (atomically) for a run extended to ``levels`` levels."""
    extended = existing.replace(levels=levels)
    meta = {
        **meta,
        "hash": extended.hash(),
        "hparams": extended.to_dict(),
        "non_default": extended.non_default(),
        "extended": [
            *meta.get("extended", []),
            {"from_levels": existing.prune.levels, "to_levels": levels,
             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        ],
    }  # fmt: skip
    save_json(cfg_path, meta)


@dataclass
class Run:
    """A run directory opened for reading."""

    path: Path
    config: RunConfig
    meta: dict[str, Any]
    device: torch.device

    def levels(self) -> list[int]:
        """Levels whose weights are written, in order."""
        return paths.levels(self.path)

    def model(self) -> nn.Module:
        """A fresh skeleton of the run's architecture on the run's device (initial weights)."""
        return create_model(
            self.config.model.model,
            self.data.in_shape,
            self.data.num_classes,
            seed=self.config.train.seed,
        ).to(self.device)

    @cached_property
    def data(self) -> DataSet:
        d = self.config.data
        return load_data(d.data, d.data_root, d.download, d.train_subset, device=str(self.device))

    @cached_property
    def _skeleton(self) -> nn.Module:
        return self.model()

    def load(self, path: Path) -> dict[str, Tensor]:
        """Load a state file of this run, checked against the architecture."""
        state = load_state(path, self.device)
        check_state_fits(state, self._skeleton.state_dict(), path)
        return state

    def load_mask(self, path: Path) -> Mask:
        """Load a mask file, checked against the architecture's parameters."""
        mask = {k: v.bool() for k, v in load_state(path, self.device).items()}
        check_mask(mask, self._skeleton, str(path))
        return mask

    def weights(self, level: int) -> dict[str, Tensor]:
        return self.load(self._need(paths.weights(self.path, level), level))

    def rewind(self) -> dict[str, Tensor]:
        return self.load(self._need(paths.rewind(self.path), None))

    def mask(self, level: int) -> Mask:
        return self.load_mask(self._need(paths.mask(self.path, level), level))

    def metrics(self, level: int) -> dict[str, Any]:
        return load_json(self._need(paths.metrics(self.path, level), level))

    def _need(self, path: Path, level: int | None) -> Path:
        if not path.exists():
            have = self.levels()
            where = f"level {level}" if level is not None else "this run"
            raise CheckpointError(
                f"{path} does not exist: {where} is not trained yet (levels with weights: {have}). "
                "Re-run the runner command to finish it, or pick an existing --level."
            )
        return path


def open_run(path: str | Path, device: str = "auto") -> Run:
    """Open a run directory written by a runner.

    Raises:
        LandscapeError: the directory or its ``config.json`` is missing or unreadable.
    """
    path = Path(path)
    if not path.is_dir():
        raise LandscapeError(
            f"run directory {path} does not exist; pass the directory a runner wrote"
        )
    cfg_path = paths.config(path)
    if not cfg_path.exists():
        raise LandscapeError(
            f"{path} has no config.json, so it is not a run directory (did you pass a level folder? "
            "use its parent)"
        )
    meta = load_json(cfg_path)
    try:
        cfg = RunConfig.from_dict(meta["hparams"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path} is not a landscape config ({exc})") from exc
    return Run(
        path=path,
        config=cfg,
        meta=meta,
        device=resolve_device(device if device != "auto" else cfg.train.device),
    )
