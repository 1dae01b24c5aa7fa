"""The one resolver: what a target argument names, for every analysis alike.

A target is any of

- a run directory (its last trained level, or the level asked for),
- a ``level_NN`` folder of a run,
- a file inside a run directory (``rewind.safetensors``, ``level_03/particles/p0.safetensors``,
  a level's ``weights.safetensors``): its level, if it lies in one, gives its mask,
- a bare state dict anywhere, with ``model=`` and ``data=`` naming the architecture
  and the data (``mask=`` optionally naming a mask file).

:func:`resolve` returns a :class:`Checkpoint`: the weights, the run they belong to
(for a bare state dict, an in-memory run built from ``model``/``data``), the level
folder they lie in, how they are named in hashed settings, and where results
about them go.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from landscape import launch, paths
from landscape.errors import CheckpointError, LandscapeError
from landscape.hparams import DataHparams, ModelHparams, RunConfig
from landscape.io import file_digest
from landscape.pruning import Mask
from landscape.runs import Run, open_run

__all__ = [
    "DTYPES",
    "Checkpoint",
    "analysis_inputs",
    "foreign_ident",
    "level_ident",
    "on_ranks",
    "parse_levels",
    "resolve",
    "resolve_levels",
    "resolve_run",
    "short_label",
    "use_threads",
]


@contextlib.contextmanager
def on_ranks(args: Any) -> Iterator[None]:
    """A verb's whole work under ``torchrun``: join the process group for ``args.device``
    (:func:`landscape.launch.session`: ranks other than 0 quiet, the group left at
    the end) and set ``args.device`` to this rank's device (``cuda`` → ``cuda:LOCAL_RANK``;
    ``auto``, the run's device, stays, with ``cuda:LOCAL_RANK`` made the current GPU)
    before the verb builds its spec from ``args``. On one process nothing changes.
    """
    requested = getattr(args, "device", None) or "auto"  # None: the flag was not given
    with launch.session(requested) as device:
        if device != requested:
            args.device = device
        yield


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """One network named by a target.

    Attributes:
        run: the run it belongs to (for a bare state dict: built from ``model``/``data``).
        state: its tensors, checked against the run's architecture, on the run's device.
        level: the level folder it lies in (``None`` for ``rewind.safetensors``, bare files).
        ident: its name in hashed settings: the path relative to its run, or, for a bare
            file, its name, a hash of its bytes, the model and the data.
        bare: a state dict outside any run directory.
        mask_file: a bare state dict's mask file, if one was given.
    """

    run: Run
    state: dict[str, Tensor] = field(repr=False)
    level: int | None
    ident: str
    bare: bool = False
    mask_file: Path | None = None

    @property
    def label(self) -> str:
        """A short name for titles and legends (:func:`short_label`)."""
        return short_label(self.ident) if not self.bare else self.ident.split("@")[0]

    def mask(self) -> Mask:
        """The mask its level was trained under (or the bare ``mask_file``).

        Raises:
            LandscapeError: it lies in no level and no mask file was given.
        """
        if self.mask_file is not None:
            return self.run.load_mask(self.mask_file)
        if self.level is None:
            what = "a bare checkpoint has no mask: pass --mask FILE" if self.bare else (
                f"{self.ident} is not in a level folder, so it has no mask; drop the mask option"
            )  # fmt: skip
            raise LandscapeError(what)
        return self.run.mask(self.level)

    def result_dir(self, kind: str, digest: str) -> Path:
        """Where a result about this checkpoint goes: its level's ``analysis/``, the run's
        ``analysis/`` for files outside the levels, or ``<stem>_analysis/`` beside a bare file."""
        if self.bare:
            return self.run.path / f"{Path(self.ident.split('@')[0]).stem}_analysis" / (
                f"{kind}_{digest}"
            )  # fmt: skip
        return paths.result_dir(self.run.path, self.level, kind, digest)


def level_ident(level: int) -> str:
    """How a level's weights are named in hashed settings (relative to its run directory)."""
    return f"level_{level:02d}/weights.safetensors"


def resolve_run(target: str | Path | Run, device: str = "auto") -> Run:
    """A run directory (or an open :class:`Run`) as a :class:`Run`."""
    return target if isinstance(target, Run) else open_run(target, device)


def resolve(
    target: str | Path | Run | Checkpoint,
    level: int | None = None,
    *,
    device: str = "auto",
    model: str = "",
    data: str = "",
    data_root: str = "",
    mask: str | Path = "",
) -> Checkpoint:
    """The :class:`Checkpoint` a target names (module docstring).

    Args:
        level: a level of a run directory (default: the last trained one); not allowed
            with a level folder or a file, which name their level already.
        model, data, data_root: the architecture and data of a bare state dict.
        mask: a mask file for a bare state dict.

    Raises:
        LandscapeError: the target does not exist, a file lies outside any run without
            ``model``/``data``, or an option does not fit the kind of target.
        CheckpointError: the weights are corrupt or do not fit the architecture.
    """
    if isinstance(target, Checkpoint):
        return target
    if mask and not model:
        raise ValueError(
            "--mask is for bare checkpoints (with --model); a run's levels have their masks"
        )
    if model:
        return _bare(Path(target), level, device, model, data, data_root, mask)
    if isinstance(target, Run):
        run, p = target, target.path
    else:
        p = Path(target)
        if not p.exists():
            raise LandscapeError(
                f"{p} does not exist; pass a run directory, a level_NN folder, or a checkpoint "
                "file inside a run directory"
            )
        run = None
    is_level_dir = (
        p.is_dir() and paths.level_number(p.name) is not None and not paths.config(p).exists()
    )
    if level is not None and (p.is_file() or is_level_dir):
        raise LandscapeError(
            f"a level option picks a level of a run directory; {p} is a level folder or a file "
            f"already: drop the option, or pass its run directory"
        )
    if p.is_file():
        run_dir = next((q for q in p.parents if paths.config(q).exists()), None)
        if run_dir is None:
            raise LandscapeError(
                f"{p} is not inside a run directory, so its architecture is unknown; pass a "
                "checkpoint that lies in a run directory (its config.json names the model), or "
                "--model and --data for a bare state dict"
            )
        run = open_run(run_dir, device)
        rel = p.resolve().relative_to(run.path.resolve())
        lv = paths.level_of(rel)
        # a level's own weights are checked against its mask, as when named by level
        state = (
            run.weights(lv) if lv is not None and rel.as_posix() == level_ident(lv) else run.load(p)
        )
        return Checkpoint(run, state, lv, rel.as_posix())
    if is_level_dir:
        run = open_run(p.parent, device)
        lv = paths.level_number(p.name)
        return Checkpoint(run, run.weights(lv), lv, level_ident(lv))
    run = run or open_run(p, device)
    have = run.levels()
    if level is None:
        if not have:
            raise CheckpointError(f"{run.path} has no trained level yet; run the runner first")
        level = have[-1]
    elif level not in have:
        raise LandscapeError(
            f"level {level} has no weights in {run.path} (trained levels: {have}); pick one of them"
        )
    return Checkpoint(run, run.weights(level), level, level_ident(level))


def resolve_levels(
    target: Any,
    levels: str | int | Sequence[int] | None = None,
    *,
    device: str = "auto",
    weights_only: bool = False,
    what: str = "this analysis",
) -> list[Checkpoint]:
    """The checkpoints of an analysis of one or several levels (hessian, bound, curvature).

    Args:
        levels: ``None``: the target itself (any target). Otherwise ``target`` must be a run
            directory and ``levels`` names its levels: ``"all"``, ``"0-3"``, ``"0,2"``, a
            level or a list of levels, each checked to be trained.
        weights_only: the target must be a level's weights (not a rewind point, a particle
            or a bare file): analyses that need the level's mask and its neighbours.
        what: the analysis, as named in errors.
    """
    if levels is None:
        t = resolve(target, device=device)
        if weights_only and (t.bare or t.level is None or t.ident != level_ident(t.level)):
            raise LandscapeError(
                f"{what} needs a level's solution w^(L) and its masks; {t.ident} is not a level's "
                "weights: pass the run directory (with --level L) or a level_NN folder"
            )
        return [t]
    if not (isinstance(target, Run) or paths.config(Path(target)).exists()):
        raise ValueError(
            f"--level/--all-levels select levels of a run directory; {target} is none: pass the "
            "run directory"
        )
    run = resolve_run(target, device)
    have = run.levels()
    if not have:
        raise CheckpointError(f"{run.path} has no trained level yet; run the runner first")
    chosen = (parse_levels(levels, have) if isinstance(levels, str)
              else [levels] if isinstance(levels, int) else list(levels))  # fmt: skip
    return [resolve(run, lv) for lv in chosen]  # each checked to be trained


#: The ``--dtype`` choices of the curvature analyses (``landscape.specs``) as torch dtypes.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def analysis_inputs(run: Run, *, threads: int, split: str, samples: int) -> tuple[nn.Module, Any]:
    """The model skeleton and the fixed data an analysis of ``run``'s levels evaluates on,
    with the thread rule of :func:`use_threads`."""
    model = run.model()
    use_threads(run, threads, model)
    return model, run.data.tensors(split, samples)


def use_threads(run: Run, threads: int, model: nn.Module | None = None) -> int:
    """Set torch's CPU threads for work on ``run`` by the rule every analysis uses (the
    engine group's ``--threads``): ``threads``, else the run's own ``--threads``, else auto
    (:func:`landscape.devices.configure_threads`); returns the count in force."""
    from landscape.devices import configure_threads

    model = run.model() if model is None else model
    return configure_threads(run.device, sum(p.numel() for p in model.parameters()),
                             threads or run.config.train.threads)  # fmt: skip


def _bare(
    p: Path, level: int | None, device: str, model: str, data: str, data_root: str, mask: str | Path
) -> Checkpoint:
    if not data:
        raise LandscapeError(
            "--model needs --data too: the data set gives the model its input shape and classes "
            "and the loss its samples (e.g. --data mnist1d)"
        )
    if not p.is_file():
        raise CheckpointError(f"{p} is not a file; pass a state-dict checkpoint with --model")
    if level is not None:
        raise ValueError("a level option needs a run directory, not a bare checkpoint")
    cfg = RunConfig(
        data=DataHparams(data=data, data_root=data_root), model=ModelHparams(model=model)
    )
    from landscape.devices import resolve_device

    run = Run(path=p.parent, config=cfg, meta={"bare": True}, device=resolve_device(device),
              trusted=True)  # fmt: skip
    state = run.load(p)  # checked against the model, and for NaN/inf
    ident = f"{p.name}@{file_digest(p)}|model={model}|data={data}"
    mask_file = Path(mask) if mask else None
    if mask_file is not None:
        ident += f"|mask={file_digest(mask_file)}"
    return Checkpoint(run, state, None, ident, bare=True, mask_file=mask_file)


def foreign_ident(ckpt: Checkpoint) -> str:
    """How a checkpoint of *another* run is named in hashed settings: its absolute path
    and a hash of its bytes, so a result goes stale when that file is rewritten (the
    result lives in the first run; the other may be retrained in place)."""
    if ckpt.bare:
        return ckpt.ident
    path = (ckpt.run.path / ckpt.ident).resolve()
    return f"{path}@sha256:{file_digest(path)}"


def short_label(ident: str) -> str:
    """A checkpoint's name for titles and legends: ``level_01``, ``rewind``, ``level_03/p0``,
    or ``<run>/level_02`` for another run's (:func:`foreign_ident`)."""
    p = Path(ident.split("@sha256:")[0])
    parts = [q for q in p.with_suffix("").parts if q not in ("weights", "particles")]
    if p.is_absolute():
        i = next((k for k, q in enumerate(parts) if q.startswith("level_")), len(parts) - 1)
        parts = parts[max(1, i - 1) :]
    return "/".join(parts)


def parse_levels(text: str, available: Sequence[int]) -> list[int]:
    """``"all"``, ``"0,2,5"`` or ``"0-4"`` → the listed levels, each checked to exist."""
    if text in ("", "all"):
        return list(available)
    wanted: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            lo, hi = (int(v) for v in part.split("-", 1)) if "-" in part else (int(part),) * 2
        except ValueError:
            raise ValueError(
                f"--levels {text!r}: write 'all', a list '0,2,5' or a range '0-4'"
            ) from None
        if hi < lo:
            raise ValueError(f"--levels {text!r}: the range {part} runs backwards; write {hi}-{lo}")
        wanted += range(lo, hi + 1)
    missing = [v for v in wanted if v not in available]
    if missing:
        raise LandscapeError(
            f"levels {missing} have no weights in this run (trained levels: {list(available)}); "
            "finish the run or pick other --levels"
        )
    return sorted(set(wanted))
