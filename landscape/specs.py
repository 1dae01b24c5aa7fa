"""What each analysis is asked to compute: one frozen, typed spec per analysis.

A spec is the Python twin of an analysis verb's flags: the command line is
generated from its fields (:mod:`landscape.settings`), a job takes it as its one
settings argument (``landscape.jobs``), and the fields marked as changing the
numbers are recorded in every result and hashed into the result folder's name.
The evaluation engine's settings (BatchNorm policy and data, batch and chunk
size, execution mode, device, CPU threads) are one :class:`EngineSpec` inside the
specs of the connectivity analyses; its ``threads`` and ``device`` are the one engine
flag group of every computing verb (:func:`landscape.settings.add_engine_arguments`). The science behind each field is in ``docs/science.md``.

Torch-free, so that ``landscape --help`` starts without importing torch. (Longer
than our ~400-line guide on purpose: one short dataclass per analysis, kept side by
side so that their flags, defaults and hashed fields read as one table.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from landscape.settings import checked, setting

__all__ = [
    "ALIGN_METHODS",
    "BN_POLICIES",
    "BOUND_EXACT_BELOW",
    "BOUND_TRACE_METHODS",
    "BOUND_TRACE_SHAPES",
    "CURVATURES",
    "CURVE_KINDS",
    "EXECUTORS",
    "HVP_METHODS",
    "MASK_POLICIES",
    "MODES",
    "NORMALIZATIONS",
    "TRACE_METHODS",
    "WHICH",
    "AlignSpec",
    "BarrierSpec",
    "BoundSpec",
    "ConnectivitySpec",
    "CurvatureSpec",
    "CurveSpec",
    "DirectionCurvatureSpec",
    "EngineSpec",
    "HessianSpec",
    "InstabilitySpec",
    "ReequilibrationSpec",
    "RobustnessSpec",
    "SharpnessSpec",
    "SliceSpec",
    "SweepSpec",
    "alignment_settings",
]

BN_POLICIES = ("recompute", "interpolate", "none")
MODES = ("auto", "vmap", "loop")
NORMALIZATIONS = ("filter", "layer", "none")
WHICH = ("largest", "smallest", "magnitude")
HVP_METHODS = ("auto", "cached", "double-backward", "forward-over-reverse")
CURVATURES = ("hessian", "ggn", "fisher")
TRACE_METHODS = ("hutchinson", "hutchpp", "exact")
SPLITS = ("test", "train")
#: The flatness bound's trace estimators above --exact-below (landscape.analysis.bound_trace):
#: averaged Gauss–anti-Gauss rules (the default) or Gauss rules (the estimator before 2026-12-07).
BOUND_TRACE_METHODS = ("averaged", "slq")
#: (probes, Lanczos steps) each estimator uses when --probes/--steps are 0.
BOUND_TRACE_SHAPES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {"averaged": (2, 60), "slq": (16, 80)}
)
#: Kept dimension up to which the bound's H_L is eigendecomposed exactly: the default
#: estimator's product count, so no level costs more products (docs/science.md §10).
BOUND_EXACT_BELOW = BOUND_TRACE_SHAPES["averaged"][0] * BOUND_TRACE_SHAPES["averaged"][1]


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"--{name} must be positive, got {value}")


@dataclass(frozen=True)
@checked
class EngineSpec:
    """Evaluation: how the loss and error of each point are measured."""

    bn_policy: str = setting(
        "recompute", "BatchNorm statistics at each point: re-estimate on training batches, "
        "interpolate the buffers, or keep the reference state's (docs/science.md)",
        choices=BN_POLICIES,
    )  # fmt: skip
    bn_samples: int = setting(
        2000, "training samples (no augmentation) for --bn-policy recompute, in batches of the "
        "run's batch size",
    )  # fmt: skip
    eval_samples: int = setting(0, "measure on the first N samples of each split only (0: all)")
    batch_size: int = setting(
        1000, "samples per evaluation batch (speed and memory only)", hashed=False
    )
    chunk_size: int = setting(
        0, "weight vectors evaluated together (speed and memory only; 0: automatic)",
        hashed=False, metavar="K",
    )  # fmt: skip
    mode: str = setting(
        "auto", "vmap: all points of a chunk in one batched call; loop: one at a time; auto: "
        "vmap on CUDA, loop on CPU (same results)", hashed=False, choices=MODES,
    )  # fmt: skip
    device: str = setting(
        "auto", "cpu, cuda, cuda:N or auto: an analysis runs on its run's device, training on "
        "CUDA when present", hashed=False,
    )  # fmt: skip
    threads: int = setting(
        0, "CPU threads for torch; 0: auto (an analysis: its run's --threads if set; else 1 "
        "for models under 100k parameters, else torch's default)", hashed=False,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"--threads must be 0 (auto) or a positive count, got {self.threads}")
        if self.bn_policy not in BN_POLICIES:
            raise ValueError(f"--bn-policy must be one of {', '.join(BN_POLICIES)}")
        if self.mode not in MODES:
            raise ValueError(f"--mode must be one of {', '.join(MODES)}")
        if self.batch_size <= 0:
            raise ValueError(f"--batch-size must be positive, got {self.batch_size}")
        if self.chunk_size < 0:
            raise ValueError(
                f"--chunk-size must be 0 (automatic) or positive, got {self.chunk_size}"
            )
        if self.bn_policy == "recompute" and self.bn_samples <= 0:
            raise ValueError(f"--bn-samples must be positive, got {self.bn_samples}")
        if self.eval_samples < 0:
            raise ValueError(f"--eval-samples must be 0 (all) or positive, got {self.eval_samples}")

    def hashed(self) -> dict[str, Any]:
        """The settings that change the numbers (recorded and hashed into result names)."""
        out: dict[str, Any] = {"bn_policy": self.bn_policy, "eval_samples": self.eval_samples}
        if self.bn_policy == "recompute":
            out["bn_samples"] = self.bn_samples
        return out

    def speed(self) -> dict[str, Any]:
        """Keyword arguments of the engine that change speed only."""
        return {"batch_size": self.batch_size, "chunk_size": self.chunk_size, "mode": self.mode}


def _check_points(points: int) -> None:
    if points < 2:
        raise ValueError(f"--points must be at least 2 (the two ends), got {points}")


def _numbers(flag: str, text: str, ok: Callable[[float], bool], rule: str) -> list[float]:
    """A comma-separated list of numbers, sorted and unique, each checked by ``ok``."""
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ValueError(
            f"{flag} {text!r}: write numbers separated by commas, e.g. 0.2,0.4"
        ) from None
    if not values or not all(ok(v) for v in values):
        raise ValueError(f"{flag} {text!r}: each value must {rule}")
    return values


ALIGN_METHODS = ("none", "weight", "activation")


def _check_alignment(align: str, repair: bool, engine: EngineSpec) -> None:
    if align not in ALIGN_METHODS:
        raise ValueError(f"--align must be one of {', '.join(ALIGN_METHODS)}, got {align!r}")
    if (align == "activation" or repair) and engine.bn_samples <= 0:
        raise ValueError(
            f"--bn-samples must be positive (activation matching and REPAIR measure on that "
            f"many training samples), got {engine.bn_samples}"
        )


def alignment_settings(align: str, repair: bool, engine: EngineSpec) -> dict[str, Any]:
    """Hashed settings of an alignment and a repair (empty for ``none`` without repair).

    Activation matching and REPAIR measure on the fixed training batches of
    ``--bn-samples``, so that count is part of their settings whatever the BN policy.
    """
    out: dict[str, Any] = {}
    if align != "none":
        out["align"] = align
    if repair:
        out["repair"] = True
    if align == "activation" or repair:
        out["align_samples"] = engine.bn_samples
    return out


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"--split must be test or train, got {split!r}")


@dataclass(frozen=True)
@checked
class _PathSpec:
    """What every straight-path measurement shares: its points, its split, the engine."""

    points: int = setting(11, "evenly spaced points on each path, both ends included", metavar="P")
    split: str = setting("test", "data the loss and error are measured on", choices=SPLITS)
    align: str = setting(
        "none", "permute the second network's hidden units onto the first's before measuring: "
        "weight or activation matching [Ainsworth et al. 2023] (docs/science.md)",
        choices=ALIGN_METHODS,
    )  # fmt: skip
    repair: bool = setting(
        False, "REPAIR the interior points [Jordan et al. 2023]: BatchNorm networks by "
        "--bn-policy recompute, others by rescaling each hidden unit to the interpolated "
        "statistics of the ends",
    )  # fmt: skip
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        _check_points(self.points)
        _check_split(self.split)
        _check_alignment(self.align, self.repair, self.engine)

    def alignment(self) -> dict[str, Any]:
        """The alignment settings that change the numbers: empty at the defaults (no
        alignment, no repair), so results made before these options keep their names."""
        return alignment_settings(self.align, self.repair, self.engine)


@dataclass(frozen=True)
@checked
class ConnectivitySpec(_PathSpec):
    """The path through successive level solutions and the barrier matrix [PAUL Fig. 2]."""

    levels: str = setting("all", "levels on the path: 'all', '0,2,4' or '0-5'", metavar="LIST")
    matrix: bool = setting(True, "also the barrier matrix over all pairs of levels")


@dataclass(frozen=True)
@checked
class BarrierSpec(_PathSpec):
    """The error and loss barrier on the straight path between two checkpoints [PAUL Def. 2.1]."""


@dataclass(frozen=True)
@checked
class InstabilitySpec(_PathSpec):
    """The stability test: two copies of a level trained with different SGD noise [PAUL §2]."""

    level: int = setting(0, "the level to test", cli=False)
    seeds: tuple[int, int] | None = setting(
        None, "data-order seeds of the two copies (default: the run's --data-seed + 1 and + 2)",
        cli=False,
    )  # fmt: skip
    rewind_steps: str = setting(
        "", "scan the rewind point: test the level from m_L ⊙ w_τ for each τ in LIST (steps or "
        "durations, e.g. '0,50,100,1ep'), w_τ retraced from the run's initialisation and data "
        "order; reports the onset of linear mode connectivity (IMP-WR levels and level 0)",
        metavar="LIST",
    )  # fmt: skip
    onset: float = setting(
        0.02, "with --rewind-steps: the level counts as stable from the first τ whose error "
        "barrier is at most EPS (as in Frankle et al. 2020)", metavar="EPS",
    )  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seeds is not None and self.seeds[0] == self.seeds[1]:
            raise ValueError(
                "--seeds must differ: two copies with the same SGD noise are identical"
            )
        if self.rewind_steps and not 0 < self.onset < 1:
            raise ValueError(f"--onset is an error barrier in (0, 1), got {self.onset}")


@dataclass(frozen=True)
@checked
class SliceSpec:
    """A 2-D slice of the loss landscape: a level's anchor plane [PAUL Fig. 3], a plane
    through three checkpoints, or random filter-normalised directions [Li et al. 2018]."""

    plane: str = setting("level", "level, checkpoints or random", cli=False,
                         choices=("level", "checkpoints", "random"))  # fmt: skip
    level: int | None = setting(None, "level L of the anchor plane", cli=False)
    normalize: str = setting(
        "filter", "--random: scale each filter, each tensor, or nothing to the weights' norm",
        choices=NORMALIZATIONS,
    )  # fmt: skip
    within_mask: bool = setting(
        False, "--random: keep the directions inside the checkpoint's mask (its level's)"
    )
    seed: int = setting(0, "--random: seed of the directions")
    span: float = setting(1.0, "--random: the grid spans [-span, span]")
    grid: int = setting(25, "points per axis")
    margin: float = setting(
        0.3, "anchor planes: the grid spans [-margin·s, (1+margin)·s], s = max(|u|, |v|)"
    )
    tolerance: float = setting(
        0.01, "matching contour at the reference test error + EPS", metavar="EPS"
    )
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        if self.grid < 2:
            raise ValueError(f"--grid needs at least 2 points per axis, got {self.grid}")
        if self.span <= 0:
            raise ValueError(
                f"--span must be positive (the grid spans [-span, span]), got {self.span}"
            )
        if self.margin < 0:
            raise ValueError(
                f"--margin must be 0 or more (the grid's room around the anchors), got {self.margin}"
            )
        if self.plane == "level" and self.level is None:
            raise ValueError("the level plane needs a level (--level L)")

    def hashed(self) -> dict[str, Any]:
        """The plane's settings that change the numbers (without the anchors' names)."""
        if self.plane == "random":
            return {"seed": self.seed, "normalize": self.normalize,
                    "within_mask": self.within_mask, "span": self.span, "grid": self.grid}  # fmt: skip
        out: dict[str, Any] = {"level": self.level} if self.plane == "level" else {}
        return {**out, "grid": self.grid, "margin": self.margin, "tolerance": self.tolerance}


_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
@checked
class HessianSpec:
    """The Hessian spectrum of the training loss: top eigenvalues, trace, density."""

    top_k: int = setting(5, "top eigenvalues by Lanczos (0: skip)", metavar="K")
    trace: bool = setting(False, "Hutchinson trace ± standard error")
    probes: int = setting(100, "Rademacher probes of the trace")
    density: bool = setting(False, "spectral density by stochastic Lanczos quadrature")
    density_steps: int = setting(100, "Lanczos steps per density probe (as PyHessian)", metavar="M")
    density_probes: int = setting(1, "density probes averaged (as PyHessian)")
    density_bins: int = setting(1000, "grid points of the density", metavar="B")
    sigma_squared: float = setting(
        1e-5, "Gaussian kernel variance relative to the spectrum's width"
    )
    groups: str = setting(
        "", "also the top-k (and trace) of each 'layer' or 'block' (e.g. a ResNet stage) "
        "Hessian block", cli=False,
    )  # fmt: skip
    masked: bool = setting(False, "restrict to the kept weights of the level's mask: m ⊙ H ⊙ m")
    eigenvectors: bool = setting(False, "also save the top-k eigenvectors")
    samples: int = setting(4096, "the first N samples of the split (fixed, unaugmented; 0: all)")
    split: str = setting("train", "whose loss", choices=SPLITS)
    tol: float = setting(1e-3, "relative error bound of the eigenvalues")
    max_steps: int = setting(100, "the most Lanczos steps for the eigenvalues", metavar="M")
    which: str = setting("largest", "which end of the spectrum --top-k means", choices=WHICH)
    seed: int = setting(0, "seed of the random vectors")
    dtype: str = setting("float32", "precision of the products", choices=_DTYPES)
    hvp: str = setting(
        "auto", "Hessian-vector products: cached graph, double backward, forward-over-reverse, "
        "or auto (measure)", hashed=False, choices=HVP_METHODS,
    )  # fmt: skip
    chunk_size: int = setting(0, "samples per pass (0: automatic by device)", hashed=False)
    memory_gb: float = setting(
        0.0, "memory the cached graph may take (0: 40%% of free memory)", hashed=False,
        metavar="GB",
    )  # fmt: skip
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (the run's)", hashed=False)
    threads: int = setting(
        0, "CPU threads for torch (0: auto, 1 for models under 100k parameters)", hashed=False
    )
    curvature: str = setting(
        "hessian", "which curvature matrix: the loss Hessian, the generalised Gauss-Newton "
        "(Martens 2020) or the empirical Fisher (Kunstner et al. 2019)", choices=CURVATURES,
    )  # fmt: skip
    trace_method: str = setting(
        "hutchinson", "trace: Hutchinson or Hutch++ (Meyer et al. 2021) from --probes products, "
        "or exact: the exact diagonal summed (for the Hessian, networks piecewise linear in "
        "each weight, e.g. ReLU MLPs/CNNs/ResNets; any network for --curvature ggn|fisher)",
        choices=TRACE_METHODS,
    )  # fmt: skip
    params: str = setting(
        "", "also the top-k (and trace) of the block of the parameters whose names match this "
        "regular expression (re.search)", metavar="REGEX",
    )  # fmt: skip
    overlap: bool = setting(
        False, "with several levels: the overlap ‖U_iᵀU_j‖²_F/k of their top-k eigenspaces "
        "on the weights both keep (saves the eigenvectors)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("top_k", "samples", "chunk_size", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be ≥ 0, got {getattr(self, name)}"
                )
        for name in ("probes", "density_steps", "density_probes", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(self, name)}"
                )
        if self.density_bins < 2:
            raise ValueError(f"--density-bins must be ≥ 2, got {self.density_bins}")
        if not 0 < self.tol < 1:
            raise ValueError(f"--tol is a relative error bound in (0, 1), got {self.tol}")
        if self.sigma_squared <= 0:
            raise ValueError(f"--sigma-squared must be positive, got {self.sigma_squared}")
        if self.groups not in ("", "layer", "block"):
            raise ValueError(f"groups must be '', 'layer' or 'block', got {self.groups!r}")
        if not (self.top_k or self.trace or self.density):
            raise ValueError("nothing to compute: ask for --top-k K, --trace or --density")
        if self.params:
            try:
                re.compile(self.params)
            except re.error as exc:
                raise ValueError(
                    f"--params {self.params!r} is not a regular expression: {exc}"
                ) from None
        if self.overlap and not self.top_k:
            raise ValueError("--overlap compares top-k eigenspaces: give --top-k K ≥ 1")
        if self.trace and self.trace_method == "hutchpp" and self.probes < 4:
            raise ValueError(f"--trace-method hutchpp needs --probes ≥ 4, got {self.probes}")

    def hashed(self, weights: str) -> dict[str, Any]:
        """Every setting that changes the numbers, for the weights named ``weights``.

        Settings added after the first release enter only when not at their default, so
        the folders of default settings keep their names."""
        extra: dict[str, Any] = {}
        if self.curvature != "hessian":
            extra["curvature"] = self.curvature
        if self.trace and self.trace_method != "hutchinson":
            extra["trace_method"] = self.trace_method
        if self.params:
            extra["params"] = self.params
        return extra | {
            "kind": "hessian", "weights": weights, "split": self.split, "samples": self.samples,
            "masked": self.masked, "top_k": self.top_k, "tol": self.tol,
            "max_steps": self.max_steps, "which": self.which,
            "trace_probes": self.probes if self.trace else 0,
            "density": {"steps": self.density_steps, "probes": self.density_probes,
                        "bins": self.density_bins, "sigma_squared": self.sigma_squared}
            if self.density else None,
            "groups": self.groups or None, "seed": self.seed, "dtype": self.dtype,
            # the overlap is computed from the saved eigenvectors: same folder as --eigenvectors
            "eigenvectors": self.eigenvectors or self.overlap, "loss": "cross_entropy",
            "bn_mode": "eval",
        }  # fmt: skip


# --------------------------------------------------------------------------------------------
# The flatness bound and its companions [PAUL §3.2–3.4, App. F] (docs/science.md).


@dataclass(frozen=True)
@checked
class CurvatureSpec:
    """Hessian settings shared by the curvature-based analyses (bound, curvature)."""

    samples: int = setting(4096, "the first N samples of the split (fixed, unaugmented; 0: all)")
    split: str = setting("train", "whose loss", choices=SPLITS)
    dtype: str = setting("float32", "precision of the products", choices=_DTYPES)
    seed: int = setting(0, "seed of the random vectors and random masks")
    hvp: str = setting(
        "auto", "Hessian-vector products (same numbers): cached, double-backward, "
        "forward-over-reverse or auto (measure)", hashed=False, choices=HVP_METHODS,
    )  # fmt: skip
    hvp_chunk_size: int = setting(
        0, "samples per Hessian-vector pass (0: automatic by device)", hashed=False
    )
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (the run's)", hashed=False)
    threads: int = setting(
        0, "CPU threads for torch (0: auto, 1 for models under 100k parameters)", hashed=False
    )

    def __post_init__(self) -> None:
        if self.samples < 0 or self.hvp_chunk_size < 0 or self.threads < 0:
            raise ValueError("--samples, --hvp-chunk-size and --threads must be 0 or positive")
        _check_split(self.split)

    def hashed(self) -> dict[str, Any]:
        return {"samples": self.samples, "split": self.split, "dtype": self.dtype,
                "seed": self.seed, "loss": "cross_entropy", "bn_mode": "eval"}  # fmt: skip


@dataclass(frozen=True)
@checked
class BoundSpec:
    """The flatness bound on the pruning ratio: predicted p*(L) [PAUL §3.3] and, with
    ``empirical``, the largest one-shot ratio that stays matching."""

    epsilon: float = setting(
        0.0, "loss increase still counted as matching (0: the default rule of docs/science.md)",
        metavar="EPS",
    )  # fmt: skip
    exact_below: int = setting(
        BOUND_EXACT_BELOW, "kept dimension up to which H_L is built densely (D products) and eigendecomposed "
        "exactly, the trace estimator above (default: the averaged estimator's 120 products, "
        "so no level costs more; 2000 before 2026-12-07)", metavar="D",
    )  # fmt: skip
    probes: int = setting(
        0, "Rademacher probes of the trace estimator above --exact-below (0: the method's "
        "default, 2 for averaged, 16 for slq)",
    )  # fmt: skip
    steps: int = setting(
        0, "Lanczos steps per probe (0: the method's default, 60 for averaged, 80 for slq)",
        metavar="M",
    )  # fmt: skip
    trace_method: str = setting(
        "averaged", "trace estimator above --exact-below: averaged Gauss-anti-Gauss "
        "quadrature rules (default, 2 x 60 products) or Gauss rules (slq, 16 x 80, the "
        "estimator before 2026-12-07; its result folders keep their names)",
        choices=BOUND_TRACE_METHODS,
    )  # fmt: skip
    empirical: bool = setting(
        False, "also the empirical one-shot ratio: prune the level's solution by each of "
        "--ratios (magnitude and random masks), retrain from the rewind point, check matching "
        "and linear connectivity to w^(L)",
    )  # fmt: skip
    ratios: str = setting("0.2,0.4,0.6,0.8", "one-shot ratios for --empirical", metavar="LIST")
    tolerance: float = setting(
        0.01, "--empirical: matching means test error at most w^(L)'s + TOL", metavar="TOL"
    )
    workers: int = setting(
        1, "--empirical: retrainings run in this many processes (same numbers)", hashed=False
    )
    curvature: CurvatureSpec = field(default_factory=CurvatureSpec)
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        if not (self.epsilon >= 0 and self.epsilon < float("inf")):
            raise ValueError(f"--epsilon must be 0 (default rule) or positive, got {self.epsilon}")
        if self.trace_method not in BOUND_TRACE_METHODS:
            raise ValueError(
                f"--trace-method must be one of {', '.join(BOUND_TRACE_METHODS)}, "
                f"got {self.trace_method!r}"
            )
        probes, steps = self.trace_shape()
        if probes < 2 or steps < 2 or self.exact_below < 0 or self.workers < 1:
            raise ValueError(
                "--probes ≥ 2 (the standard error needs two), --steps ≥ 2, --exact-below ≥ 0 "
                "and --workers ≥ 1"
            )
        if self.tolerance < 0:
            raise ValueError(f"--tolerance must be 0 or more, got {self.tolerance}")
        self.ratio_list()  # checked here, before any work

    def ratio_list(self) -> list[float]:
        """``ratios`` as sorted floats, each in (0, 1)."""
        return _numbers("--ratios", self.ratios, lambda v: 0 < v < 1, "lie in (0, 1)")

    def trace_shape(self) -> tuple[int, int]:
        """``(probes, steps)`` of the trace estimator: the given ones, or the method's
        defaults (:data:`BOUND_TRACE_SHAPES`) where 0."""
        probes, steps = BOUND_TRACE_SHAPES[self.trace_method]
        return self.probes or probes, self.steps or steps


@dataclass(frozen=True)
@checked
class DirectionCurvatureSpec:
    """The curvature κ = ΔᵀHΔ/‖Δ‖² of the pruning direction Δ = m⊙w − w, for the magnitude
    mask against random masks of the same size [PAUL §3.3]."""

    random_masks: int = setting(8, "random masks of the magnitude mask's size", metavar="N")
    curvature: CurvatureSpec = field(default_factory=CurvatureSpec)

    def __post_init__(self) -> None:
        if self.random_masks < 1:
            raise ValueError(f"--random-masks must be ≥ 1, got {self.random_masks}")


@dataclass(frozen=True)
@checked
class RobustnessSpec:
    """Robustness of the pruned rewind point to perturbations inside the kept subspace
    [PAUL §3.2]: the barrier between the perturbed and the unperturbed point, each trained."""

    radii: str = setting(
        "0,0.25,0.5,1,2,4", "perturbation norms in units of d_L = ‖m_L⊙w_τ − m_{L+1}⊙w_τ‖",
        metavar="LIST",
    )  # fmt: skip
    seeds: int = setting(3, "seeds (perturbation direction and SGD noise) per radius")
    points: int = setting(11, "evenly spaced points on each path, both ends included", metavar="P")
    split: str = setting("test", "data the loss and error are measured on", choices=SPLITS)
    workers: int = setting(1, "trainings run in this many processes (same numbers)", hashed=False)
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        _check_points(self.points)
        _check_split(self.split)
        if self.seeds < 1 or self.workers < 1:
            raise ValueError("--seeds and --workers must be ≥ 1")
        self.radius_list()

    def radius_list(self) -> list[float]:
        """``radii`` as sorted floats ≥ 0."""
        return _numbers("--radii", self.radii, lambda v: v >= 0, "be 0 or more")


@dataclass(frozen=True)
@checked
class ReequilibrationSpec:
    """Re-equilibration after pruning [PAUL §3.4]: kept-weight magnitudes at the projection
    and after retraining, weights falling below the old threshold, projection lengths,
    overlap of successive masks."""

    bins: int = setting(60, "histogram bins of log10|w|")
    # The statistics are computed on the CPU in float64 whatever device the level files are
    # read onto (auto: the run's), so both are speed only: the engine group's flags.
    device: str = setting("auto", "where the level files are read to", hashed=False)
    threads: int = setting(0, "CPU threads for torch (0: auto, as every analysis)", hashed=False)

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"--threads must be 0 (auto) or a positive count, got {self.threads}")
        if self.bins < 2:
            raise ValueError(f"--bins must be ≥ 2, got {self.bins}")


# --------------------------------------------------------------------------------------------
# Sweeps: a grid of runs executed as independent jobs (landscape.jobs.sweep).

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
@checked
class SweepSpec:
    """Execution: how a sweep's jobs run (nothing here changes a run's numbers or names)."""

    executor: str = setting(
        "local", "local: one subprocess per job on this machine; slurm: a SLURM job array "
        "through submitit (pip install submitit)", hashed=False, choices=EXECUTORS,
    )  # fmt: skip
    workers: int = setting(
        1, "jobs running at once (local processes; on SLURM the array's parallelism)", hashed=False
    )
    threads: int = setting(
        0, "CPU threads of each job (0: local, cores // workers, at least 1; slurm, the job's "
        "own choice)", hashed=False,
    )  # fmt: skip
    nproc_per_job: int = setting(
        1, "processes per job: above 1, each job runs under torchrun --standalone "
        "--nproc-per-node N (data-parallel IMP/dense runs; SWAMP's particles one per rank)",
        hashed=False, metavar="N",
    )  # fmt: skip
    gpus: str = setting(
        "", "local: GPUs handed to the running jobs in turn, e.g. '0,1' (CUDA_VISIBLE_DEVICES)",
        hashed=False, metavar="LIST",
    )  # fmt: skip
    slurm_partition: str = setting(
        "", "slurm: the partition (default: the cluster's)", hashed=False, metavar="P"
    )
    slurm_time: int = setting(60, "slurm: time limit of each job, minutes", hashed=False,
                              metavar="MIN")  # fmt: skip
    slurm_gpus_per_job: int = setting(0, "slurm: GPUs of each job", hashed=False, metavar="G")
    device: str = setting("auto", "the device of each job (its --device)", hashed=False)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}")
        if self.workers < 1 or self.nproc_per_job < 1 or self.slurm_time < 1:
            raise ValueError("--workers, --nproc-per-job and --slurm-time must be ≥ 1")
        if self.threads < 0 or self.slurm_gpus_per_job < 0:
            raise ValueError("--threads and --slurm-gpus-per-job must be 0 or positive")
        self.gpu_list()

    def gpu_list(self) -> tuple[str, ...]:
        """``gpus`` as a tuple of device ids (``CUDA_VISIBLE_DEVICES`` values)."""
        ids = tuple(g.strip() for g in self.gpus.split(",") if g.strip())
        if not all(g.isdigit() or g.startswith(("GPU-", "MIG-")) for g in ids):
            raise ValueError(f"--gpus {self.gpus!r}: write device numbers, e.g. 0,1")
        return ids


# --------------------------------------------------------------------------------------------
# Low-loss curves between two checkpoints (Garipov et al. 2018; docs/science.md).

CURVE_KINDS = ("bezier", "polychain")
MASK_POLICIES = ("union", "intersection")


@dataclass(frozen=True)
@checked
class CurveSpec:
    """A trained low-loss curve between two checkpoints, its ends fixed (Garipov et al.
    2018, §3), measured against the straight line."""

    kind: str = setting("bezier", "curve family: Bezier curve or polygonal chain",
                        choices=CURVE_KINDS)  # fmt: skip
    bends: int = setting(1, "trainable bend points of the curve", metavar="N")
    epochs: int = setting(20, "training epochs of the bend points over the run's training data",
                          metavar="E")  # fmt: skip
    lr: float = setting(
        0.0, "peak learning rate of the bends (0: the run's --lr); constant for half the "
        "epochs, then down to 1%% by 90%% (Garipov et al.)",
    )  # fmt: skip
    mask_policy: str = setting(
        "union", "ends with masks: the bends move the weights either end keeps (union) or only "
        "those both keep (intersection)", choices=MASK_POLICIES,
    )  # fmt: skip
    seed: int = setting(0, "seed of the data order and of the t drawn per batch")
    points: int = setting(21, "evenly spaced t in [0, 1] where curve and line are measured",
                          metavar="P")  # fmt: skip
    split: str = setting("test", "data the loss and error are measured on", choices=SPLITS)
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ValueError(f"--kind must be one of {', '.join(CURVE_KINDS)}, got {self.kind!r}")
        if self.mask_policy not in MASK_POLICIES:
            raise ValueError(
                f"--mask-policy must be one of {', '.join(MASK_POLICIES)}, got {self.mask_policy!r}"
            )
        if self.bends < 1 or self.epochs < 0:
            raise ValueError("--bends must be ≥ 1 and --epochs ≥ 0")
        if not (self.lr >= 0 and self.lr < float("inf")):
            raise ValueError(f"--lr must be 0 (the run's) or positive, got {self.lr}")
        _check_points(self.points)
        _check_split(self.split)


MATCH_METHODS = ("weight", "activation")


@dataclass(frozen=True)
@checked
class AlignSpec:
    """Permute network B's hidden units onto network A's [Ainsworth et al. 2023, §3], and
    measure the barrier before and after (docs/science.md, permutation alignment)."""

    method: str = setting(
        "weight", "weight matching (coordinate descent on ‖θ_A − π(θ_B)‖) or activation "
        "matching (correlation of the units on training data)", choices=MATCH_METHODS,
    )  # fmt: skip
    repair: bool = setting(
        False, "REPAIR the aligned path's interior points [Jordan et al. 2023] (BatchNorm "
        "networks: --bn-policy recompute)",
    )  # fmt: skip
    points: int = setting(11, "evenly spaced points on each path, both ends included", metavar="P")
    split: str = setting("test", "data the loss and error are measured on", choices=SPLITS)
    engine: EngineSpec = field(default_factory=EngineSpec)

    def __post_init__(self) -> None:
        if self.method not in MATCH_METHODS:
            raise ValueError(f"--method must be weight or activation, got {self.method!r}")
        _check_points(self.points)
        _check_split(self.split)
        _check_alignment(self.method, self.repair, self.engine)

    def alignment(self) -> dict[str, Any]:
        """The alignment settings that change the numbers."""
        return alignment_settings(self.method, self.repair, self.engine)


# Sharpness: the loss rise in a ball of radius ρ around a solution (docs/science.md).


@dataclass(frozen=True)
@checked
class SharpnessSpec:
    """Average-case, worst-case and adaptive sharpness of the training loss on the kept
    weights (Foret et al. 2021; Kwon et al. 2021; Andriushchenko et al. 2023)."""

    radii: str = setting(
        "0.05,0.1,0.2", "ρ of average- and worst-case sharpness (weight units; '' skips them)",
        metavar="LIST",
    )  # fmt: skip
    adaptive_radii: str = setting(
        "0.5,1,2", "ρ of adaptive sharpness, δ = |w|⊙ε with ‖ε‖ ≤ ρ ('' skips it)",
        metavar="LIST",
    )  # fmt: skip
    pairs: int = setting(8, "antithetic Gaussian pairs ±δ per average-case value")
    steps: int = setting(10, "projected gradient-ascent iterates per worst-case value")
    samples: int = setting(4096, "the first N samples of the split (fixed, unaugmented; 0: all)")
    split: str = setting("train", "whose loss", choices=SPLITS)
    dtype: str = setting("float32", "precision of the loss evaluations", choices=_DTYPES)
    seed: int = setting(0, "seed of the Gaussian perturbations")
    chunk_size: int = setting(1024, "samples per pass (speed and memory only)", hashed=False)
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (the run's)", hashed=False)
    threads: int = setting(
        0, "CPU threads for torch (0: auto, 1 for models under 100k parameters)", hashed=False
    )

    def __post_init__(self) -> None:
        plain, adaptive = self.radius_list(), self.adaptive_radius_list()
        if not plain and not adaptive:
            raise ValueError("nothing to measure: give --radii or --adaptive-radii")
        if self.pairs < 1 or self.steps < 1 or self.chunk_size < 1:
            raise ValueError("--pairs, --steps and --chunk-size must be ≥ 1")
        if self.samples < 0 or self.threads < 0:
            raise ValueError("--samples and --threads must be 0 or positive")
        _check_split(self.split)

    def radius_list(self) -> list[float]:
        """``radii`` as sorted floats (empty: plain sharpness skipped)."""
        if not self.radii.strip():
            return []
        return _numbers("--radii", self.radii, lambda v: 0 < v < float("inf"), "be positive")

    def adaptive_radius_list(self) -> list[float]:
        """``adaptive_radii`` as sorted floats (empty: adaptive sharpness skipped)."""
        if not self.adaptive_radii.strip():
            return []
        return _numbers("--adaptive-radii", self.adaptive_radii,
                        lambda v: 0 < v < float("inf"), "be positive")  # fmt: skip

    def hashed(self, weights: str) -> dict[str, Any]:
        """Every setting that changes the numbers, for the weights named ``weights``."""
        return {
            "kind": "sharpness", "weights": weights, "radii": self.radius_list(),
            "adaptive_radii": self.adaptive_radius_list(), "pairs": self.pairs,
            "steps": self.steps, "samples": self.samples, "split": self.split,
            "dtype": self.dtype, "seed": self.seed, "masked": True, "loss": "cross_entropy",
            "bn_mode": "eval",
        }  # fmt: skip
