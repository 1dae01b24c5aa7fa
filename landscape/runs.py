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
from dataclasses import dataclass, field
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
from landscape.hparams import REGROWING_METHODS, RunConfig
from landscape.models import create_model
from landscape.pruning import Mask, check_mask

__all__ = ["Run", "check_path", "check_shrinks", "open_run", "prepare_run_dir", "run_dir_of"]


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


def run_dir_of(
    cfg: RunConfig, out: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """The run directory of ``cfg``: ``out``, or ``<root>/<method>_<model>-<data>_s<seed>_<hash>``
    (:meth:`RunConfig.run_name`); a run made before readable names, ``<root>/<method>_<hash>``,
    is that run's directory while no folder of the new name exists (so it still resumes)."""
    if out:
        return Path(out)
    return paths.run_dir(root or paths.default_root(), cfg.run_name(), cfg.legacy_run_name())


_NAME_MAX = 255  # bytes in one path component on common file systems


def check_path(path: Path) -> None:
    """Refuse, before anything is written, a path the toolkit could not write or read back.

    Raises:
        LandscapeError: a component is not UTF-8 or too long, or the path is a file.
    """
    for part in Path(path).parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise LandscapeError(
                f"{part!r} in {path!r} is not valid UTF-8 (results record paths as text); "
                "rename the folder or choose another --out/--root"
            ) from None
        if size > _NAME_MAX:
            raise LandscapeError(
                f"a component of {path} is {size} bytes long, over the {_NAME_MAX} the file "
                "system allows; choose a shorter --out/--root"
            )
    if Path(path).exists() and not Path(path).is_dir():
        raise LandscapeError(f"{path} is a file, not a directory; choose another --out")


def _has_artefacts(run_dir: Path) -> bool:
    """Whether a runner has written anything but ``config.json`` (levels, the rewind point)."""
    return paths.rewind(run_dir).exists() or any(
        paths.level_number(d.name) is not None and any(d.iterdir())
        for d in run_dir.glob("level_*") if d.is_dir()
    )  # fmt: skip


def prepare_run_dir(
    cfg: RunConfig, out: str | Path | None = None, root: str | Path | None = None
) -> Path:
    """Create (or reopen) the run directory of ``cfg`` and write its ``config.json``.

    The directory is ``out``, or :func:`run_dir_of` under ``root``. Reopening needs the same
    hash (:meth:`RunConfig.hash`); for the methods whose ``levels`` is not hashed
    (:data:`~landscape.hparams.EXTENDABLE_METHODS`) a larger ``--levels`` extends
    the run and ``config.json`` is rewritten (atomically) with the new count; a
    smaller one leaves it as it is (the levels already trained stay).

    A directory whose ``config.json`` names other settings but that holds nothing
    else yet (a command that failed before its first level) is taken over by ``cfg``.

    Raises:
        ConfigMismatchError: the directory holds a run made with other settings, or
            levels without a ``config.json``.
    """
    run_dir = run_dir_of(cfg, out, root)
    cfg_path = paths.config(run_dir)
    if not cfg_path.exists() and run_dir.is_dir() and _has_artefacts(run_dir):
        raise ConfigMismatchError(
            f"{run_dir} holds levels but no config.json, so the settings they were trained with "
            "are unknown; move it away, or pass another --out"
        )
    if cfg_path.exists():
        meta = load_json(cfg_path)
        existing = _read_config(cfg_path, meta)
        if existing.hash() != cfg.hash() and not _has_artefacts(run_dir):
            cfg_path.unlink()  # nothing was trained under the old settings
            return prepare_run_dir(cfg, out=run_dir)
        if existing.hash() != cfg.hash():
            raise ConfigMismatchError(_mismatch(run_dir, existing, cfg))
        if cfg.prune.levels > existing.prune.levels:
            _record_levels(cfg_path, meta, existing, cfg.prune.levels)
        return run_dir
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


def _read_config(cfg_path: Path, meta: Any) -> RunConfig:
    """The settings a ``config.json`` records; a clear error if they are not settings."""
    try:
        return RunConfig.from_dict(meta["hparams"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{cfg_path} is not a landscape config ({type(exc).__name__}: {exc}); restore it, or "
            "move the run directory away"
        ) from exc


def _mismatch(run_dir: Path, existing: RunConfig, cfg: RunConfig) -> str:
    """The refusal to reopen ``run_dir`` with ``cfg``: every differing setting, and what to do."""
    a, b = existing.hashed(), cfg.hashed()
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
    #: the model was named by the user (a runner's settings, a bare checkpoint's --model),
    #: not read from config.json: a user factory needs no further consent (models.trust)
    trusted: bool = False
    #: masks read so far, by path, with the file's (inode, size, mtime) when read: each level's
    #: mask is read once even though its neighbours' checks read it again
    _masks: dict[Path, tuple[tuple[int, int, int], Mask]] = field(
        default_factory=dict, repr=False, compare=False
    )

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
            source="" if self.trusted else str(paths.config(self.path)),
        ).to(self.device)

    @cached_property
    def data(self) -> DataSet:
        d = self.config.data
        return load_data(
            d.data, d.data_root, d.download, d.train_subset, str(self.device), d.test_samples
        )

    @cached_property
    def _skeleton(self) -> nn.Module:
        return self.model()

    def load(self, path: Path) -> dict[str, Tensor]:
        """Load a state file of this run, checked against the architecture and for NaN/inf.

        Raises:
            CheckpointError: the file is corrupt, does not fit, or holds non-finite values.
        """
        state = load_state(path, self.device)
        reference = self._skeleton.state_dict()
        check_state_fits(state, reference, path)
        whole = [f"{k} ({str(v.dtype).removeprefix('torch.')})" for k, v in state.items()
                 if reference[k].is_floating_point() and not v.is_floating_point()]  # fmt: skip
        if whole:
            raise CheckpointError(
                f"{path} holds whole numbers where the model has floating-point weights (in "
                f"{', '.join(whole[:3])}); it is no checkpoint of this network: restore the file, "
                "or delete it and re-run its runner"
            )
        bad = [
            k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())
        ]
        if bad:
            raise CheckpointError(
                f"{path} holds NaN or infinite values (in {', '.join(bad[:3])}); the network it "
                "stores diverged or the file was damaged: retrain it (delete the file and re-run "
                "its runner)"
            )
        return state

    def load_mask(self, path: Path) -> Mask:
        """Load a mask file, checked against the architecture's parameters and to hold 0/1 only."""
        raw = load_state(path, self.device)
        bad = [k for k, v in raw.items() if bool(((v != 0) & (v != 1)).any())]
        if bad:
            raise CheckpointError(
                f"{path} is not a mask: {', '.join(bad[:3])} hold values other than 0 and 1; "
                "restore the file, or delete it and re-run the runner to recompute it"
            )
        mask = {k: v.bool() for k, v in raw.items()}
        check_mask(mask, self._skeleton, str(path))
        return mask

    def weights(self, level: int) -> dict[str, Tensor]:
        """Level ``level``'s weights ``w^(L)``, checked to be 0 wherever its mask (itself
        checked against its neighbours, :meth:`mask`) is 0, as every runner writes them."""
        path = self._need(paths.weights(self.path, level), level)
        state = self.load(path)
        if paths.mask(self.path, level).exists():
            mask = self.mask(level)
            alive = [
                n for n, m in mask.items() if bool((state[n][~m.to(state[n].device)] != 0).any())
            ]
            if alive:
                raise CheckpointError(
                    f"{path} has non-zero weights where {paths.mask(self.path, level)} prunes "
                    f"them (in {', '.join(alive[:3])}): the level's weights and mask do not "
                    "belong together (swapped or replaced files). Restore them, or delete the "
                    "level and re-run the runner to recompute it"
                )
        return state

    def rewind(self) -> dict[str, Tensor]:
        return self.load(self._need(paths.rewind(self.path), None))

    def mask(self, level: int) -> Mask:
        """Level ``level``'s mask, checked to nest with its neighbours' (masks only shrink:
        ``m_{L+1} ⊆ m_L ⊆ m_{L−1}``, docs/science.md), so that swapped or stale mask files
        are refused wherever a run's masks are read, not only when a runner resumes."""
        path = self._need(paths.mask(self.path, level), level)
        mask = self._cached_mask(path)
        if self.config.prune.method in REGROWING_METHODS:
            return mask  # DPF's masks are chosen afresh from the dense weights: they may regrow
        before, after = paths.mask(self.path, level - 1), paths.mask(self.path, level + 1)
        if level > 0 and before.exists():
            check_shrinks(mask, self._cached_mask(before), path, before)
        if after.exists() and paths.metrics(self.path, level + 1).exists():
            # (an unfinished level's mask is the runner's to check when it resumes)
            check_shrinks(self._cached_mask(after), mask, after, path)
        return mask

    def _cached_mask(self, path: Path) -> Mask:
        st = path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._masks.get(path)
        if hit is None or hit[0] != key:
            hit = (key, self.load_mask(path))
            self._masks[path] = hit
        return hit[1]

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


def check_shrinks(mask: Mask, before: Mask, path: Path, before_path: Path | str = "") -> None:
    """Masks only shrink: ``mask`` (in file ``path``) may not keep a weight that ``before``,
    the previous level's mask, pruned.

    Raises:
        CheckpointError: naming both files and the tensors where ``mask`` revives weights.
    """
    revived = [k for k, m in mask.items() if k in before and bool((m & ~before[k]).any())]
    if revived:
        prev = f"{before_path}, " if before_path else ""
        raise CheckpointError(
            f"{path} keeps weights that the previous level pruned ({prev}in "
            f"{', '.join(revived[:3])}); masks only shrink, so the files were swapped or "
            "damaged. Restore them, or delete the levels and re-run the runner to recompute them"
        )


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
    cfg = _read_config(cfg_path, meta)
    return Run(
        path=path,
        config=cfg,
        meta=meta,
        device=resolve_device(device if device != "auto" else cfg.train.device),
    )
