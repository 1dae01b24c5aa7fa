"""What every runner shares: the run context, the rewind point, and writing a level.

A level directory is complete once its ``metrics.json`` exists; it is written
last, after the weights, so a run killed at any moment resumes at the first
level without metrics and recomputes it from the same inputs (bit-for-bit on CPU).

Under ``torchrun`` a data-parallel run (``RunContext(data_parallel=True)``) is one
run trained by every rank: all ranks follow the same level loop and train
together, rank 0 alone writes, and every write is followed by a synchronisation
(:func:`primary_first`), so what a rank reads next is what rank 0 wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from landscape import distributed, paths
from landscape.checkpoint import atomic_write_bytes, load_json, save_json, save_state
from landscape.errors import CheckpointError
from landscape.experiment_log import ExperimentLog, ScalarLog
from landscape.functional import state_of
from landscape.hparams import RunConfig, parse_duration
from landscape.io import file_digest
from landscape.pruning import Mask, density, layer_report, ones_mask
from landscape.runs import Run
from landscape.training import TrainResult, evaluate, train

__all__ = [
    "RunContext",
    "check_level_files",
    "level_digests",
    "level_done",
    "level_series",
    "log_level",
    "primary_first",
    "write_level",
]

_T = TypeVar("_T")


def primary_first(work: Callable[[], _T], active: bool = True) -> _T:
    """Run ``work`` on rank 0 only; every rank returns its result (or raises its error).

    Every rank arrives before rank 0 starts (so whatever a rank looked at before, e.g.
    whether a file exists, it saw before the write) and none goes on before rank 0
    has finished ``work`` (:func:`landscape.distributed.on_primary` broadcasts its
    outcome); an error on rank 0 stops every rank with its message
    (:class:`~landscape.distributed.PeerError`) instead of leaving the others waiting.
    On one process (or ``active=False``) it is ``work()``.
    """
    if not (active and distributed.collective()):
        return work()
    distributed.barrier()
    return distributed.on_primary(work)


class RunContext(Run):
    """A run being written: the :class:`~landscape.runs.Run` reader (model, data, checked
    loading) plus how the runners train, report and write it."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        device: torch.device,
        show_progress: bool = True,
        log: Any = print,
        data_parallel: bool = False,
        experiment: ExperimentLog | None = None,
    ) -> None:
        super().__init__(path=Path(run_dir), config=cfg, meta={}, device=device, trusted=True)
        self.show_progress = show_progress
        self.log = log
        self.data_parallel = data_parallel
        #: the ``--log`` writers (rank 0 only), :mod:`landscape.experiment_log`; None: no logging
        self.experiment = experiment

    def on_log(self, series: str | None) -> ScalarLog | None:
        """The experiment-log callback of ``series`` (e.g. ``"level_03"``), or ``None``."""
        return None if self.experiment is None or series is None else self.experiment.series(series)

    def written(self, work: Callable[[], _T]) -> _T:
        """``work()`` (a write) on rank 0 of a data-parallel run, the others waiting for it."""
        return primary_first(work, active=self.data_parallel)

    def save_state(self, path: Path, state: Mapping[str, Tensor], **kw: Any) -> None:
        """:func:`landscape.checkpoint.save_state`, by rank 0 alone in a data-parallel run."""
        self.written(lambda: save_state(path, state, **kw))

    def save_json(self, path: Path, obj: Any) -> None:
        """:func:`landscape.checkpoint.save_json`, by rank 0 alone in a data-parallel run."""
        self.written(lambda: save_json(path, obj))

    def copy_file(self, source: Path, path: Path) -> None:
        """Copy ``source`` to ``path`` byte for byte (atomically), by rank 0 alone."""
        self.written(lambda: atomic_write_bytes(path, source.read_bytes()))

    @property
    def cfg(self) -> RunConfig:
        return self.config

    @property
    def run_dir(self) -> Path:
        return self.path

    @property
    def steps_per_epoch(self) -> int:
        return self.data.steps_per_epoch(self.cfg.data.batch_size)

    def steps(self, duration: str) -> int:
        return parse_duration(duration, self.steps_per_epoch)

    @property
    def total_steps(self) -> int:
        """T, the length of the original training run."""
        return self.steps(self.cfg.train.length)

    @property
    def eval_every(self) -> int:
        return self.steps(self.cfg.train.eval_every)

    def train(
        self,
        model: nn.Module,
        *,
        start: int,
        stop: int,
        mask: Mask | None,
        desc: str,
        log_as: str | None = None,
        **kw: Any,
    ) -> TrainResult:
        """:func:`landscape.training.train` with this run's settings; ``log_as``: the
        experiment-log series of the steps (:func:`level_series`; ``None``: not logged)."""
        kw.setdefault("on_log", self.on_log(log_as))
        kw.setdefault("data_seed", self.cfg.data.data_seed)
        kw.setdefault("augment", self.cfg.data.augment)
        kw.setdefault("eval_every", self.eval_every)
        kw.setdefault("data_parallel", self.data_parallel)
        return train(
            model, self.data, self.cfg.train, self.cfg.data.batch_size, start=start, stop=stop, mask=mask,
            desc=desc, show_progress=self.show_progress, context=f"{self.run_dir}, {desc}", **kw,
        )  # fmt: skip

    def rewind_state(self, rewind_step: int) -> dict[str, Tensor]:
        """``w_τ = A_0(w_0, τ)``, trained once and saved as ``rewind.safetensors`` (docs/science.md)."""
        path = paths.rewind(self.run_dir)
        model = self.model()
        if path.exists():
            return self.load(path)
        if rewind_step > 0:
            self.train(
                model,
                start=0,
                stop=rewind_step,
                mask=None,
                desc=f"pretrain to step {rewind_step}",
                eval_every=0,
                log_as="rewind",
            )
        state = state_of(model)
        self.save_state(path, state, metadata={"step": str(rewind_step)})
        return state

    def prepare_mask(self, level: int, model: nn.Module, compute: Any) -> Mask:
        """The mask of ``level``: read if written, else ``compute()`` and write it."""
        path = paths.mask(self.run_dir, level)
        if path.exists():
            return self.mask(level)  # checked to nest with the neighbouring levels' masks
        mask = (ones_mask(model, self.cfg.prune.prune_scope, self.cfg.prune.prune_ignore)
                if level == 0 else compute())  # fmt: skip
        self.save_state(path, {k: v.to(torch.uint8) for k, v in mask.items()})
        return mask

    def previous(self, level: int, model: nn.Module) -> tuple[dict[str, Tensor], Mask]:
        """Weights and mask of the finished ``level``."""
        if not level_done(self.run_dir, level):
            raise CheckpointError(
                f"level {level} of {self.run_dir} is not finished; re-run to complete it first"
            )
        return self.load(paths.weights(self.run_dir, level)), self.mask(level)


def level_done(run_dir: Path, level: int) -> bool:
    """A level is finished when its weights and metrics are both written."""
    return paths.metrics(run_dir, level).exists() and paths.weights(run_dir, level).exists()


def write_level(
    ctx: RunContext,
    level: int,
    model: nn.Module,
    mask: Mapping[str, Tensor],
    result: TrainResult,
    extra: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Evaluate the trained level, then write its weights and (last) its ``metrics.json``."""
    _check_pruned_zero(model, mask, level)
    train_m = evaluate(model, ctx.data, "train", shard=ctx.data_parallel)
    test_m = evaluate(model, ctx.data, "test", shard=ctx.data_parallel)
    metrics: dict[str, Any] = {
        "level": level,
        "method": ctx.cfg.prune.method,
        "density": density(mask),
        "sparsity": 1.0 - density(mask),
        "kept": sum(int(m.sum()) for m in mask.values()),
        "prunable": sum(m.numel() for m in mask.values()),
        "train_loss": train_m["loss"],
        "train_error": train_m["error"],
        "test_loss": test_m["loss"],
        "test_error": test_m["error"],
        "test_accuracy": 1.0 - test_m["error"],
        # The evaluation set's size: the resolution of every error above (1 / test_samples).
        "test_samples": int(ctx.data.num_test),
        # generated data: the arrays' digest and the generator's versions (docs/results.md)
        **({"data": ctx.data.provenance} if getattr(ctx.data, "provenance", None) else {}),
        "steps": result.steps,
        "train_seconds": result.seconds,
        "seconds": (time.perf_counter() - started) if started is not None else result.seconds,
        "world_size": distributed.world_size() if ctx.data_parallel else 1,
        **(extra or {}),
        "layers": layer_report(mask),
        "curve": result.curve,
    }
    # A network at chance (e.g. --lr too high for the model) is finished but useless: say so.
    chance = 1.0 - 1.0 / ctx.data.num_classes
    metrics["collapsed"] = bool(train_m["error"] >= chance - 0.5 / ctx.data.num_classes)
    if metrics["collapsed"]:
        ctx.log(f"warning: level {level} is at chance (train error {train_m['error']:.3f}, "
                f"chance {chance:.3f}): training collapsed; lower --lr or add --warmup")  # fmt: skip
    ctx.save_state(paths.weights(ctx.run_dir, level), state_of(model))
    metrics["files"] = level_digests(ctx.run_dir, level)
    ctx.save_json(paths.metrics(ctx.run_dir, level), metrics)
    log_level(ctx, level, metrics)
    return metrics


def level_series(level: int) -> str:
    """The experiment-log series of level ``level``'s training steps: ``level_03``."""
    return paths.level_dir(Path(), level).name


def log_level(ctx: RunContext, level: int, metrics: Mapping[str, Any]) -> None:
    """Write a finished level's numbers to the experiment log, series ``levels``, step = level:
    every number of its ``metrics.json`` (density, errors, losses, seconds, and the method's
    own, e.g. SWAMP's ``average_test_error``), and each SWAMP particle's test error as
    ``particle_<n>/test_error``."""
    if ctx.experiment is None or ctx.experiment.folder.parent != ctx.run_dir:
        return  # a dense run trained for this run: its level 0 is logged when copied here
    scalars = {k: v for k, v in metrics.items() if k != "level" and isinstance(v, (int, float))
               and not isinstance(v, bool)}  # fmt: skip
    for i, err in enumerate(metrics.get("particle_test_errors") or []):
        scalars[f"particle_{i}/test_error"] = err
    ctx.experiment.log(scalars, level, series="levels")


def _check_pruned_zero(model: nn.Module, mask: Mapping[str, Tensor], level: int) -> None:
    """Masked training must leave pruned weights exactly 0; anything else is a bug, not data."""
    params = dict(model.named_parameters())
    for n, m in mask.items():
        if bool((params[n].detach()[~m.to(params[n].device)] != 0).any()):
            raise RuntimeError(
                f"level {level}: pruned weights of {n} are not zero after training (a masking bug)"
            )


_LEVEL_FILES = ("weights.safetensors", "mask.safetensors")


def level_digests(run_dir: Path, level: int) -> dict[str, str]:
    """SHA-256 of a level's weights and mask, recorded in its ``metrics.json`` when written."""
    folder = paths.level_dir(run_dir, level)
    return {name: file_digest(folder / name) for name in _LEVEL_FILES if (folder / name).exists()}


def check_level_files(run_dir: Path, level: int) -> None:
    """Check a finished level's files against the digests its ``metrics.json`` recorded
    (levels written before digests were recorded are not checked).

    Raises:
        CheckpointError: a file was changed or damaged after its level finished.
    """
    recorded = load_json(paths.metrics(run_dir, level)).get("files") or {}
    for name, digest in recorded.items():
        path = paths.level_dir(run_dir, level) / name
        if not path.exists() or file_digest(path) != digest:
            raise CheckpointError(
                f"{path} is {'missing' if not path.exists() else 'damaged'}: it does not match "
                f"the digest level {level}'s metrics.json recorded when it was written. Move "
                f"level_{level:02d} and the later levels away and re-run to retrain them"
            )
