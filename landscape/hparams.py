"""Typed, frozen hyperparameters, one dataclass per concern; they generate the CLI flags.

After open_lth's ``foundations/hparams.py``: every field carries its help text, the
command line is generated from the fields (``--field-name``), a preset is just a
set of field overrides, and a run directory is named by a hash of the settings
that differ from the defaults (fields marked ``hashed=False`` — device, paths,
execution mode — never change results and are left out of the hash).

A pruning field may name the methods it applies to (``methods=("swamp",)``); a field
without that entry applies to every method. ``landscape prune --method X`` generates
only X's flags, as open_lth generates per-branch hparams (:func:`add_config_args`).

For the methods in :data:`EXTENDABLE_METHODS` (IMP-WR/LRR/FT, SWAMP) a level never
depends on how many levels follow it, so ``levels`` is left out of their hash: the
run directory of 3 levels is the one of 5, and a re-run with a larger ``--levels``
continues it. This renamed the run directories of those methods made before the
change (their names had hashed ``levels``); such directories stay readable and
resumable with ``--out``, because everything reads a run's ``config.json``, never
its name. ``imp`` and ``bimp`` keep ``levels`` in the hash: their per-phase pruning
share ``1 − (1 − S)^(1/J)`` depends on the total J.

(Longer than our ~400-line guide on purpose: the four setting sections, the presets
and the flag generator are one contract with every run directory's ``config.json``,
and are read together.)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from landscape.settings import ENGINE_FIELDS, add_engine_arguments, check_numbers, digest

__all__ = [
    "EXTENDABLE_METHODS",
    "PRESETS",
    "REGROWING_METHODS",
    "SECTIONS",
    "DataHparams",
    "ModelHparams",
    "PruneHparams",
    "RunConfig",
    "TrainHparams",
    "add_config_args",
    "applies_to",
    "check_method_flags",
    "config_from_args",
    "parse_duration",
]

#: Methods whose level L depends only on levels < L, never on ``--levels``: ``levels`` is
#: not hashed for them, so a re-run with a larger ``--levels`` continues the run.
EXTENDABLE_METHODS: tuple[str, ...] = ("imp-wr", "imp-lrr", "imp-ft", "swamp")

_IMP = ("imp-wr", "imp-lrr", "imp-ft")
#: The methods that prune while training with the cubic schedule (runners/gradual.py).
_GRADUAL = ("gmp", "dpf")
#: Methods whose masks may grow back between levels (DPF recomputes each mask from the dense
#: weights): the check that masks only shrink (:meth:`landscape.runs.Run.mask`) skips them.
REGROWING_METHODS: tuple[str, ...] = ("dpf",)
#: The default factor c of ``--prune-ratio adaptive`` (prune c·p*(L) at each level).
ADAPTIVE_FACTOR = 0.8


def _f(
    default: Any,
    help: str,
    *,
    hashed: bool = True,
    choices: tuple[str, ...] | None = None,
    methods: tuple[str, ...] | None = None,
):
    """A field with its help text; ``methods``: the pruning methods it applies to (None: all)."""
    meta = {"help": help, "hashed": hashed, "choices": choices, "methods": methods}
    return field(default=default, metadata=meta)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ep|it)?\s*$")


def parse_duration(text: str | int, steps_per_epoch: int) -> int:
    """Parse ``"30ep"``, ``"1200it"`` or ``"1200"`` (steps) into a number of optimiser steps."""
    if isinstance(text, int):
        return text
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(
            f"cannot read the duration {text!r}: write a number of steps ('1200' or '1200it') "
            "or of epochs ('30ep')"
        )
    value, unit = float(m.group(1)), m.group(2) or "it"
    steps = value * steps_per_epoch if unit == "ep" else value
    if unit == "it" and not value.is_integer():
        raise ValueError(f"a step count must be whole, got {text!r}")
    return round(steps)


def _check_duration(name: str, text: str) -> None:
    if text and not _DURATION.match(str(text)):
        raise ValueError(
            f"--{name.replace('_', '-')} {text!r}: write steps ('200') or epochs ('3ep')"
        )


@dataclass(frozen=True)
class DataHparams:
    """What data to train and evaluate on (docs/architecture.md, ``data/``)."""

    data: str = _f("mnist1d", "data set: mnist1d, cifar10, cifar100, imagenet, synthetic")
    data_root: str = _f(
        "", "where data sets are cached or found (default ~/.cache/landscape)", hashed=False
    )
    download: bool = _f(False, "allow torchvision to download CIFAR into --data-root", hashed=False)
    batch_size: int = _f(100, "training batch size")
    augment: bool = _f(True, "standard augmentation (CIFAR: crop+flip; MNIST-1D has none)")
    data_seed: int = _f(
        0, "seed of the data order and augmentation (SGD noise), separate from --seed"
    )
    train_subset: int = _f(0, "use only the first N training samples (0: all)")
    test_samples: int = _f(
        0,
        "mnist1d: evaluate on N test samples drawn from the same generator, a multiple of 10 "
        "(0: the package's 1,000; the training set is the same either way)",
    )

    def validate(self) -> None:
        if self.batch_size <= 0:
            raise ValueError(f"--batch-size must be positive, got {self.batch_size}")
        if self.train_subset < 0:
            raise ValueError("--train-subset must be 0 (all) or a positive count")
        if self.test_samples < 0 or self.test_samples % 10:
            raise ValueError(
                f"--test-samples {self.test_samples}: give 0 (the data set's own test split) "
                "or a positive multiple of 10"
            )
        if self.test_samples and self.data != "mnist1d":
            raise ValueError(
                f"--test-samples applies to generated data (mnist1d), not --data {self.data}; "
                "leave it at 0"
            )


@dataclass(frozen=True)
class ModelHparams:
    """Which network (``models/`` registry, or ``package.module:factory``)."""

    model: str = _f("mlp", "model name (see `landscape models`) or package.module:factory")

    def validate(self) -> None:
        if not self.model:
            raise ValueError("--model must name a model")


@dataclass(frozen=True)
class TrainHparams:
    """Optimiser and learning-rate schedule of the original training run (docs/science.md)."""

    lr: float = _f(0.1, "peak learning rate")
    momentum: float = _f(0.9, "SGD momentum")
    nesterov: bool = _f(False, "Nesterov momentum")
    weight_decay: float = _f(5e-4, "L2 weight decay")
    schedule: str = _f("step", "LR schedule", choices=("constant", "step", "cosine", "linear"))
    milestones: str = _f(
        "20ep,30ep", "step schedule: comma-separated drops, e.g. '31200,46800' or '80ep,120ep'"
    )
    gamma: float = _f(0.1, "step schedule: LR factor at each milestone")
    warmup: str = _f("0", "linear warm-up length (steps or 'Nep')")
    length: str = _f("36ep", "training length T (steps or 'Nep')")
    eval_every: str = _f("4ep", "evaluate the learning curve every N steps (or 'Nep')")
    seed: int = _f(0, "initialisation seed")
    precision: str = _f("fp32", "fp32, or bf16 autocast (GPU only)", choices=("fp32", "bf16"))
    device: str = _f("auto", "cpu, cuda, cuda:N or auto (CUDA when present)", hashed=False)
    threads: int = _f(
        0, "CPU threads for torch (0: auto, 1 for models under 100k parameters)", hashed=False
    )
    # Speed only: the same updates up to float rounding, so not part of a run's name; both
    # are recorded in config.json with the other settings.
    channels_last: bool = _f(
        False,
        "channels-last memory layout for image models (faster convolutions on GPUs)",
        hashed=False,
    )
    compile: bool = _f(
        False,
        "torch.compile the training step (minutes of compiling, then faster steps)",
        hashed=False,
    )

    def validate(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must lie in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"--weight-decay must be 0 or positive, got {self.weight_decay}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"--gamma must be a positive factor, got {self.gamma}")
        if self.threads < 0:
            raise ValueError(f"--threads must be 0 (auto) or a positive count, got {self.threads}")
        for name in ("warmup", "length", "eval_every"):
            _check_duration(name, getattr(self, name))
        for part in filter(None, self.milestones.split(",")):
            _check_duration("milestones", part)
        if self.schedule == "step" and not self.milestones:
            raise ValueError("--schedule step needs --milestones, e.g. --milestones 80ep,120ep")


@dataclass(frozen=True)
class PruneHparams:
    """The pruning method and its level loop (docs/science.md, pruning and runners)."""

    method: str = _f(
        "imp-wr", "pruning method (see `landscape prune --help`; `--method X --help`: X's flags)"
    )
    levels: int = _f(10, "pruning levels L_max: levels 0..L_max are trained (level 0 is dense)")
    prune_fraction: float = _f(
        0.2, "fraction 1-α of the remaining weights pruned per level", methods=(*_IMP, "swamp")
    )
    prune_ratio: str = _f(
        "fixed", "per-level ratio: fixed (--prune-fraction), or adaptive: c·p*(L) from the "
        "flatness bound at each level's solution (docs/science.md §10-11)",
        choices=("fixed", "adaptive"), methods=_IMP,
    )  # fmt: skip
    adaptive_factor: float = _f(
        ADAPTIVE_FACTOR,
        "--prune-ratio adaptive: the factor c in c·p*(L), 0 < c ≤ 1",
        methods=_IMP,
    )
    adaptive_bound: str = _f(
        "slq",
        "--prune-ratio adaptive: the flatness bound's trace estimator, slq (16 x 80 Gauss "
        "rules, exact below 2000 kept weights: every adaptive run before 2026-12-07) or "
        "averaged (2 x 60 averaged Gauss-anti-Gauss rules, exact below 120: the bound verb's "
        "default, ~10x fewer Hessian-vector products)",
        choices=("slq", "averaged"), methods=_IMP,
    )  # fmt: skip
    prune_strategy: str = _f("global", "mask rule", choices=("global", "layerwise", "random"))
    prune_scope: str = _f("conv+linear", "prunable tensors", choices=("conv+linear", "conv"))
    prune_ignore: str = _f(
        "", "comma-separated modules never pruned, e.g. 'fc' (a CIFAR ResNet's classifier)"
    )
    prune_seed: int = _f(0, "seed of random pruning")
    rewind_step: str = _f(
        "0", "rewind point τ for IMP-WR and SWAMP (steps or 'Nep')", methods=("imp-wr", "swamp")
    )
    # [ZIMMER] retraining schedules and BIMP (which always retrains with ALLR)
    retrain_schedule: str = _f(
        "ft", "retraining schedule", choices=("ft", "lrw", "slr", "clr", "llr", "allr"),
        methods=("imp",),
    )  # fmt: skip
    retrain_epochs: int = _f(
        10, "retraining epochs per phase (imp) / in total (bimp)", methods=("imp", "bimp")
    )
    goal_sparsity: float = _f(
        0.9, "goal sparsity S reached after --levels phases (imp, bimp); the final sparsity s_f "
        "of the cubic schedule (gmp, dpf)", methods=("imp", "bimp", *_GRADUAL),
    )  # fmt: skip
    budget_epochs: int = _f(
        40, "bimp: total epoch budget B (dense training gets B - retrain)", methods=("bimp",)
    )
    from_run: str = _f(
        "", "imp: the dense run directory to prune (default: train one first)", methods=("imp",)
    )
    # Pruning during training [Zhu & Gupta 2017; DPF, Lin et al. 2020]: the cubic schedule
    prune_start: float = _f(
        0.1,
        "gmp, dpf: step t_0 of the first mask update, as a fraction of --length",
        methods=_GRADUAL,
    )
    prune_end: float = _f(
        0.75,
        "gmp, dpf: the cubic schedule reaches --goal-sparsity by this fraction of --length",
        methods=_GRADUAL,
    )
    prune_interval: str = _f(
        "16",
        "gmp, dpf: steps Δt between mask updates (or 'Nep'; DPF's paper: 16 steps)",
        methods=_GRADUAL,
    )
    # [SWAMP] multi-particle averaging
    particles: int = _f(4, "swamp: number of particles N", methods=("swamp",))
    swa_start: float = _f(
        0.75, "swamp: fraction of a level's steps before SWA begins", methods=("swamp",)
    )
    swa_lr: float = _f(
        0.0, "swamp: constant learning rate during SWA (0: the rate the schedule has reached at "
        "SWA start, so SWA never jumps above the annealed rate; [SWAMP] used 0.05)",
        methods=("swamp",),
    )  # fmt: skip
    swamp_plus: int = _f(0, "swamp+: use one particle for the first K levels", methods=("swamp",))
    particle_mode: str = _f(
        "auto", "swamp: how particles train (same algorithm, batches and seeds; not bit-equal "
        "across modes, docs/science.md §5)",
        hashed=False, choices=("auto", "sequential", "vectorized", "distributed"),
        methods=("swamp",),
    )  # fmt: skip

    def validate(self) -> None:
        if self.levels < 0:
            raise ValueError(f"--levels must be >= 0, got {self.levels}")
        if not 0 < self.prune_fraction < 1:
            raise ValueError(f"--prune-fraction must lie in (0, 1), got {self.prune_fraction}")
        if self.prune_ratio not in ("fixed", "adaptive"):
            raise ValueError(f"--prune-ratio must be fixed or adaptive, got {self.prune_ratio!r}")
        if not (math.isfinite(self.adaptive_factor) and 0 < self.adaptive_factor <= 1):
            raise ValueError(
                f"--adaptive-factor c must lie in (0, 1] (c·p* of the bound is pruned), got "
                f"{self.adaptive_factor}"
            )
        if self.adaptive_factor != ADAPTIVE_FACTOR and self.prune_ratio != "adaptive":
            raise ValueError(
                "--adaptive-factor applies with --prune-ratio adaptive only; add "
                "--prune-ratio adaptive, or drop --adaptive-factor"
            )
        if self.adaptive_bound != "slq" and self.prune_ratio != "adaptive":
            raise ValueError(
                "--adaptive-bound applies with --prune-ratio adaptive only; add "
                "--prune-ratio adaptive, or drop --adaptive-bound"
            )
        if not 0 <= self.goal_sparsity < 1:
            raise ValueError(f"--goal-sparsity must lie in [0, 1), got {self.goal_sparsity}")
        if self.particles < 1:
            raise ValueError(f"--particles must be >= 1, got {self.particles}")
        if not 0 <= self.swa_start <= 1:
            raise ValueError(f"--swa-start is a fraction in [0, 1], got {self.swa_start}")
        if not (math.isfinite(self.swa_lr) and self.swa_lr >= 0):
            raise ValueError(
                f"--swa-lr must be 0 (the schedule's rate) or positive, got {self.swa_lr}"
            )
        _check_duration("rewind_step", self.rewind_step)
        _check_duration("prune_interval", self.prune_interval)
        if self.method in _GRADUAL:
            if not 0 < self.goal_sparsity < 1:
                raise ValueError(f"--goal-sparsity must lie in (0, 1), got {self.goal_sparsity}")
            if not 0 <= self.prune_start < self.prune_end < 1:
                raise ValueError(
                    f"--prune-start ({self.prune_start}) and --prune-end ({self.prune_end}) must "
                    "satisfy 0 <= start < end < 1 (fractions of --length; the final mask needs "
                    "steps to train under)"
                )
            if self.levels < 1:
                raise ValueError(
                    f"--method {self.method} needs --levels >= 1 (checkpoints along the schedule)"
                )
        # the runners' own checks of their phases, here so that they fail before any write
        if self.method in ("imp", "bimp"):
            if self.levels < 1:
                raise ValueError(
                    f"--method {self.method} needs --levels >= 1 (the number of prune-retrain "
                    "phases J; 1 is one-shot)"
                )
            if not 0 < self.goal_sparsity < 1:
                raise ValueError(f"--goal-sparsity must lie in (0, 1), got {self.goal_sparsity}")
        if self.method == "bimp" and self.budget_epochs <= self.retrain_epochs:
            raise ValueError(
                f"--budget-epochs ({self.budget_epochs}) must exceed --retrain-epochs "
                f"({self.retrain_epochs}): dense training gets the difference"
            )


SECTIONS: dict[str, type] = {
    "data": DataHparams,
    "model": ModelHparams,
    "train": TrainHparams,
    "prune": PruneHparams,
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; its hash names the run directory."""

    data: DataHparams = field(default_factory=DataHparams)
    model: ModelHparams = field(default_factory=ModelHparams)
    train: TrainHparams = field(default_factory=TrainHparams)
    prune: PruneHparams = field(default_factory=PruneHparams)

    def __post_init__(self) -> None:
        for name in SECTIONS:
            getattr(self, name).validate()
            check_numbers(getattr(self, name))  # every number: finite, ≥ 0, fits int64

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, Any]]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        parts = {}
        for name, klass in SECTIONS.items():
            given = dict(d.get(name, {}))
            known = {f.name for f in fields(klass)}
            unknown = set(given) - known
            if unknown:
                raise ValueError(
                    f"unknown {name} settings {sorted(unknown)}; known: {sorted(known)}"
                )
            parts[name] = klass(**{k: _coerce(klass, k, v) for k, v in given.items()})
        return cls(**parts)

    def replace(self, **flat: Any) -> RunConfig:
        """A copy with fields changed by their (unique) flat names, e.g. ``replace(lr=0.05)``."""
        d = self.to_dict()
        for key, value in flat.items():
            d[_section_of(key)][key] = value
        return RunConfig.from_dict(d)

    def non_default(self) -> dict[str, Any]:
        """The hashed settings that differ from the defaults, as ``{field: value}``."""
        out = {}
        for name, klass in SECTIONS.items():
            section, default = getattr(self, name), klass()
            for f in fields(klass):
                if f.metadata.get("hashed", True) and getattr(section, f.name) != getattr(
                    default, f.name
                ):
                    out[f.name] = getattr(section, f.name)
        return out

    def hashed(self) -> dict[str, Any]:
        """What names the run: :meth:`non_default` without the pruning settings of other
        methods (a SWAMP setting never changes an IMP run, whatever its value or default)
        and without ``levels`` for the :data:`EXTENDABLE_METHODS` (a longer run of theirs
        continues a shorter one)."""
        out = self.non_default()
        for f in fields(PruneHparams):
            if not applies_to(f, self.prune.method):
                out.pop(f.name, None)
        if self.prune.method in EXTENDABLE_METHODS:
            out.pop("levels", None)
        return out

    def hash(self) -> str:
        """Ten hex digits of SHA-256 over the canonical JSON of :meth:`hashed`
        (:func:`landscape.settings.digest`, the one settings digest)."""
        return digest(self.hashed())

    def dense(self) -> RunConfig:
        """The dense run these settings start from: same data, model and training; the pruning
        section at its defaults but for ``prune_scope`` and ``prune_ignore``. ``landscape train`` and ``--method imp``
        (without ``--from``) both make exactly this run, so they share its directory."""
        prune_hp = PruneHparams(method="dense", levels=0, prune_scope=self.prune.prune_scope,
                                prune_ignore=self.prune.prune_ignore)  # fmt: skip
        return RunConfig(data=self.data, model=self.model, train=self.train, prune=prune_hp)

    def run_name(self) -> str:
        """The run directory's name: ``<method>_<model>-<data>_s<seed>_<hash>``, readable in a
        listing; only the hash identifies the run (the other parts are for the eye)."""
        label = _name_part(f"{self.model.model}-{self.data.data}")
        return f"{self.prune.method}_{label}_s{self.train.seed}_{self.hash()}"

    def legacy_run_name(self) -> str:
        """The name runs made before readable names got, ``<method>_<hash>``: such a folder
        is still found and resumed (:func:`landscape.runs.run_dir_of`)."""
        return f"{self.prune.method}_{self.hash()}"


#: Longest model/data label in a run name; a user factory's dotted path can be long.
_LABEL_MAX = 40


def _name_part(text: str) -> str:
    """``text`` as a folder-name part: anything but letters, digits, ``.`` and ``-`` becomes
    ``-`` (``my_pkg.nets:make_net`` → ``my-pkg.nets-make-net``; ``_`` separates the parts of
    a run name), cut to :data:`_LABEL_MAX`."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.")[:_LABEL_MAX] or "model"


_TYPES = {"float": float, "int": int, "bool": bool, "str": str}


def _coerce(klass: type, key: str, value: Any) -> Any:
    """``value`` as field ``key``'s type: ``1000`` and ``1000.0`` are one learning rate (one
    hash); a value of the wrong kind (``"lr": "fast"``) is an error naming the field."""
    kind = _TYPES.get(str(next(f.type for f in fields(klass) if f.name == key)))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is not None and not isinstance(value, kind)) or (
        kind is int and isinstance(value, bool)
    ):
        raise ValueError(
            f"setting {key!r} must be {kind.__name__}, got {value!r} ({type(value).__name__})"
        )
    return value


def _section_of(key: str) -> str:
    for name, klass in SECTIONS.items():
        if key in {f.name for f in fields(klass)}:
            return name
    raise ValueError(f"no setting named {key!r}")


# Presets: field overrides. The CLI applies a preset first, then explicit flags.
_CNN1D: dict[str, Any] = dict(
    data="mnist1d",
    model="cnn1d",
    batch_size=100,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="step",
    milestones="20ep,30ep",
    length="36ep",
    eval_every="4ep",
    rewind_step="200",
)

PRESETS: dict[str, dict[str, Any]] = {
    # The CPU default (the dataclass defaults) plus rewind step 200: a 40-100-100-10 MLP on
    # MNIST-1D, 36 epochs of SGD; about 1 s a level on 2 cores.
    "mlp-mnist1d": dict(data="mnist1d", model="mlp", rewind_step="200"),
    # A 1-D CNN with BatchNorm: shows more of the papers' phenomena than the MLP.
    "cnn1d-mnist1d": dict(_CNN1D),
    # The 1-D CNN at a high learning rate, where [PAUL]'s phenomena appear on MNIST-1D
    # (docs/results.md, "A regime where the phenomena appear"): unstable at initialisation,
    # stable after one epoch (40 steps, the rewind point), 12 levels to 6.9% density.
    # 10,000 test samples from the generator (one sample = 0.0001 error): the 1,000 of the
    # package's split cannot resolve the differences the claims rest on (issue #20).
    "paul-mnist1d": dict(_CNN1D, lr=0.4, rewind_step="40", levels=12, test_samples=10000),
    # The same regime with the package's 1,000 test samples: the form every paul-mnist1d
    # result up to 2026-12-07 was made with (same training, so the same weights).
    "paul-mnist1d-test1k": dict(_CNN1D, lr=0.4, rewind_step="40", levels=12),
    # The ResNet-20/CIFAR-10 recipe of open_lth and [PAUL] (docs/science.md).
    "resnet20-cifar10": dict(
        data="cifar10",
        model="resnet20",
        batch_size=128,
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="step",
        milestones="31200,46800",
        length="62400",
        eval_every="2000",
        rewind_step="2000",
        levels=20,
        prune_ignore="fc",  # open_lth leaves the CIFAR ResNets' classifier unpruned
    ),
    # [ZIMMER]'s CIFAR-10 ResNet-56 setting for the retraining-schedule study (GPU).
    "resnet56-cifar10": dict(
        data="cifar10",
        model="resnet56",
        batch_size=128,
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="step",
        milestones="100ep,150ep",
        length="200ep",
        eval_every="10ep",
    ),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def applies_to(f: dataclasses.Field, method: str) -> bool:
    """Whether the setting ``f`` is one of ``method``'s (fields without ``methods`` apply to all)."""
    methods = f.metadata.get("methods")
    return methods is None or method in methods


def add_config_args(
    parser: argparse.ArgumentParser, skip: tuple[str, ...] = (), method: str | None = None
) -> None:
    """Add one flag per hyperparameter field (default ``None``: presets apply first).

    Args:
        parser: the parser to add the flags to.
        skip: field names that get no flag. ``threads`` and ``device`` come as the verbs'
            one engine group (:func:`landscape.settings.add_engine_arguments`), left out
            only when both are skipped.
        method: add only the pruning flags of this method, in one section; ``None``
            adds every pruning flag, in sections titled by the methods they apply to.
    """
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default=None,
        help="start from a named recipe; explicit flags override it",
    )  # fmt: skip
    for name, klass in SECTIONS.items():
        groups: dict[tuple[str, ...] | None, Any] = {}
        for f in fields(klass):
            if f.name in skip or f.name in ENGINE_FIELDS:
                continue
            methods = f.metadata.get("methods")
            if method is not None and not applies_to(f, method):
                continue
            key = None if method is not None else methods
            if key not in groups:
                groups[key] = parser.add_argument_group(_group_title(name, key, method))
            _add_flag(groups[key], f)
    if not set(ENGINE_FIELDS) <= set(skip):  # --threads/--device: the verbs' one engine group
        add_engine_arguments(parser)


def _group_title(section: str, methods: tuple[str, ...] | None, method: str | None) -> str:
    if method is not None and section == "prune":
        return f"prune settings of --method {method}"
    if methods is None:
        return f"{section} settings"
    listed = ", ".join(methods[:-1]) + " or " + methods[-1] if len(methods) > 1 else methods[0]
    return f"{section} settings of --method {listed}"


def _add_flag(group: Any, f: dataclasses.Field) -> None:
    kw: dict[str, Any] = {"default": None, "dest": f.name}
    # a help text that explains its own default (--data-root) is not followed by a second one
    said = "(default" in f.metadata["help"] or f.default == ""
    help_ = f.metadata["help"] + ("" if said else f" (default: {f.default})")
    if f.type in ("bool", bool):
        kw["action"] = argparse.BooleanOptionalAction
    else:
        kw["type"] = {"int": int, "float": float}.get(str(f.type), str)
        kw["metavar"] = {"int": "N", "float": "X"}.get(str(f.type), "S")
    if f.metadata.get("choices"):
        kw["choices"] = f.metadata["choices"]
        kw.pop("metavar", None)
    names = [_flag(f.name)]
    if f.name == "from_run":
        names.insert(0, "--from")
    group.add_argument(*names, help=help_, **kw)


def check_method_flags(ns: argparse.Namespace, method: str) -> None:
    """Refuse pruning flags given on the command line that do not apply to ``method``.

    Raises:
        ValueError: naming each such flag and the methods it belongs to.
    """
    wrong = []
    for f in fields(PruneHparams):
        if getattr(ns, f.name, None) is not None and not applies_to(f, method):
            wrong.append(
                f"{_flag(f.name)} (a setting of --method {', '.join(f.metadata['methods'])})"
            )
    if wrong:
        raise ValueError(
            f"{'; '.join(wrong)}: not a setting of --method {method}. Drop it, or pass the method "
            f"it belongs to; `landscape prune --method {method} --help` lists {method}'s settings"
        )


def config_from_args(ns: argparse.Namespace, **fixed: Any) -> RunConfig:
    """Build a :class:`RunConfig` from parsed flags: defaults, then preset, then flags, then ``fixed``."""
    values: dict[str, Any] = {}
    preset = getattr(ns, "preset", None)
    if preset:
        values.update(PRESETS[preset])
    for klass in SECTIONS.values():
        for f in fields(klass):
            v = getattr(ns, f.name, None)
            if v is not None:
                values[f.name] = v
    values.update(fixed)
    return RunConfig().replace(**values)
