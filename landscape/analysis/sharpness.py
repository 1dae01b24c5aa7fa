"""Sharpness: how much the loss rises within a ball of radius ρ around a solution.

Three measures on the *kept* coordinates of a pruned network (pruned weights stay 0;
parameters without a mask, biases and BatchNorm, all move), each for several ρ:

- **average-case** ``S_avg(ρ) = E_δ[ℓ(w + δ)] − ℓ(w)`` with ``δ ~ N(0, ρ²/d · I_d)`` on
  the ``d`` kept coordinates, so ``E‖δ‖² = ρ²`` (the expected sharpness of Keskar et al.
  2017 and Jiang et al. 2020). Draws come in antithetic pairs ``±δ``: the linear term
  ``∇ℓᵀδ`` cancels in each pair, the expectation is unchanged and its variance falls.
- **worst-case** ``S_max(ρ) = max_{‖δ‖₂ ≤ ρ} ℓ(w + δ) − ℓ(w)`` (the SAM objective, Foret et
  al. 2021, §2), the maximiser found by projected gradient ascent: the first step is SAM's
  ``δ = ρ ∇ℓ/‖∇ℓ‖`` (a random point of the sphere where the gradient vanishes), each
  later step ``δ ← Π_ρ(δ + ρ g/‖g‖)`` with ``g`` the gradient at ``w + δ`` and ``Π_ρ`` the
  projection onto the ball; the largest loss of the iterates is returned, so the value is
  a lower bound of the true maximum that tightens with ``steps``.
- **adaptive** (Kwon et al. 2021, ASAM §3; Andriushchenko et al. 2023): the same two
  measures in the coordinates ``δ = |w| ⊙ ε``, with ``ε`` in the ball (or the Gaussian) of
  radius ρ; ``ρ`` is then dimensionless and the measure is invariant to rescaling the
  weights, e.g. a layer in front of BatchNorm, where plain sharpness is not.

On a quadratic ``ℓ(w + δ) = ℓ(w) + gᵀδ + ½ δᵀAδ`` (the second-order model at a solution)
the answers are exact: ``S_avg = ρ² tr(A_m) / (2d)`` (half the mean kept-diagonal curvature
times ρ²), ``S_max = ½ λ_max(A_m) ρ²`` at ``g = 0`` and ``ρ‖g‖`` at ``A = 0``; adaptive
replaces ``A`` by ``TAT``, ``T = diag|w|``. ``tests/test_sharpness.py`` checks them.

Pure functions: tensors in, a frozen :class:`SharpnessResult` out, no files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from landscape.errors import LandscapeError
from landscape.functional import as_batches

__all__ = [
    "LossTerm",
    "SharpnessResult",
    "average_sharpness",
    "model_loss_terms",
    "sharpness",
    "worst_sharpness",
]

#: One term of the loss: ``term(params) -> scalar``; the loss is the sum of the terms
#: (e.g. one per data chunk, weighted by its share of the samples), so gradients are taken
#: term by term and no more than one chunk's graph is held at once.
LossTerm = Callable[[Mapping[str, Tensor]], Tensor]


def model_loss_terms(
    model: nn.Module, data: tuple[Tensor, Tensor], *, chunk_size: int = 1024
) -> tuple[dict[str, Tensor], list[LossTerm]]:
    """The mean cross-entropy of ``model`` over ``data`` as terms of :func:`sharpness`.

    BatchNorm runs in eval mode (its running statistics, fixed: the loss is a deterministic
    function of the parameters); the buffers are held fixed; nothing is modified.

    Returns:
        ``(params, terms)``: the trainable parameters (detached) and one term per chunk of
        ``chunk_size`` samples, each the chunk's mean loss times its share of the samples.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise LandscapeError("the model has no trainable parameters, so it has no sharpness")
    first = next(iter(params.values()))
    fixed = {n: p.detach() for n, p in model.named_parameters() if n not in params}
    fixed.update({n: b for n, b in model.named_buffers()})
    chunks = as_batches(data, chunk_size)
    total = sum(int(x.shape[0]) for x, _ in chunks)
    was_training = model.training

    def term(x: Tensor, y: Tensor) -> LossTerm:
        x = x.to(first.device, first.dtype if x.is_floating_point() else x.dtype)
        y, share = y.to(first.device), x.shape[0] / total

        def value(state: Mapping[str, Tensor]) -> Tensor:
            model.eval()
            try:
                out = functional_call(model, {**fixed, **state}, (x,))
            finally:
                model.train(was_training)
            return F.cross_entropy(out, y) * share

        return value

    return params, [term(x, y) for x, y in chunks]


class _Space:
    """The kept coordinates as one flat vector ``δ`` of length ``d`` and back."""

    def __init__(self, params: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None) -> None:
        self.names = list(params)
        self.base = {n: params[n].detach() for n in self.names}
        first = self.base[self.names[0]]
        self.device, self.dtype = first.device, first.dtype
        self.kept: list[Tensor | None] = []
        for n in self.names:
            m = None if mask is None else mask.get(n)
            if m is None:
                self.kept.append(None)
                continue
            if m.shape != self.base[n].shape:
                raise LandscapeError(
                    f"mask {n} has shape {tuple(m.shape)} but the weight has "
                    f"{tuple(self.base[n].shape)}; use the mask saved with these weights"
                )
            self.kept.append(m.reshape(-1).to(self.device).bool().nonzero().squeeze(1))
        self.sizes = [
            self.base[n].numel() if k is None else int(k.numel())
            for n, k in zip(self.names, self.kept)
        ]
        self.dim = sum(self.sizes)
        if self.dim == 0:
            raise LandscapeError("the mask keeps no coordinate of the parameters")
        self.w = self.gather(self.base)

    def gather(self, state: Mapping[str, Tensor]) -> Tensor:
        """The kept coordinates of ``state`` as one flat vector."""
        parts = []
        for n, k in zip(self.names, self.kept):
            flat = state[n].reshape(-1)
            parts.append(flat if k is None else flat[k])
        return torch.cat(parts)

    def state(self, delta: Tensor) -> dict[str, Tensor]:
        """The parameters moved by ``δ`` on the kept coordinates (differentiable in ``δ``)."""
        out, i = {}, 0
        for n, k, s in zip(self.names, self.kept, self.sizes):
            part, i = delta[i : i + s], i + s
            flat = self.base[n].reshape(-1)
            flat = flat + part if k is None else flat.index_add(0, k, part)
            out[n] = flat.view_as(self.base[n])
        return out


class _Objective:
    """``ℓ(w + s ⊙ ε)`` as a function of the flat ``ε`` (``s`` = 1, or ``|w|``: adaptive)."""

    def __init__(self, space: _Space, terms: Sequence[LossTerm], scale: Tensor | None) -> None:
        self.space, self.terms, self.scale = space, terms, scale
        self.values = 0  # loss evaluations
        self.grads = 0  # gradient evaluations

    def _delta(self, eps: Tensor) -> Tensor:
        return eps if self.scale is None else self.scale * eps

    @torch.no_grad()
    def value(self, eps: Tensor) -> float:
        self.values += 1
        state = self.space.state(self._delta(eps))
        return float(sum(t(state) for t in self.terms))  # one host sync, not one per term

    def _at(self, term: LossTerm) -> Callable[[Tensor], Tensor]:
        return lambda eps: term(self.space.state(self._delta(eps)))

    def value_and_grad(self, eps: Tensor) -> tuple[float, Tensor]:
        """The loss and its gradient in ``ε``, one term at a time (``torch.func``)."""
        self.grads += 1
        total, grad = torch.zeros((), dtype=eps.dtype, device=eps.device), torch.zeros_like(eps)
        for term in self.terms:
            g, v = torch.func.grad_and_value(self._at(term))(eps)
            grad += g.detach()
            total += v.detach()
        return float(total), grad  # one host sync per evaluation


def _gaussian(dim: int, generator: torch.Generator, like: Tensor) -> Tensor:
    """A standard Gaussian vector drawn on the CPU (device-independent), moved to ``like``."""
    z = torch.randn(dim, generator=generator, dtype=torch.float64)
    return z.to(like.device, like.dtype)


def average_sharpness(
    objective: _Objective, radius: float, pairs: int, generator: torch.Generator, base: float
) -> tuple[float, float]:
    """``E[ℓ(w+δ)] − ℓ(w)`` over ``pairs`` antithetic pairs ``±δ``, ``δ ~ N(0, ρ²/d I)``
    (module docstring), and the standard error of that mean (0 for one pair)."""
    d = objective.space.dim
    rises = []
    for _ in range(pairs):
        eps = _gaussian(d, generator, objective.space.w) * (radius / math.sqrt(d))
        rises.append(0.5 * (objective.value(eps) + objective.value(-eps)) - base)
    mean = sum(rises) / len(rises)
    if len(rises) < 2:
        return mean, 0.0
    var = sum((r - mean) ** 2 for r in rises) / (len(rises) - 1)
    return mean, math.sqrt(var / len(rises))


def worst_sharpness(
    objective: _Objective, radius: float, steps: int, generator: torch.Generator, base: float
) -> tuple[float, float]:
    """``max_{‖ε‖ ≤ ρ} ℓ(w + s⊙ε) − ℓ(w)`` by projected gradient ascent (module docstring).

    Returns:
        the largest loss rise among the ``steps`` iterates, and ``‖ε‖`` of that iterate.
    """
    d = objective.space.dim
    _, g0 = objective.value_and_grad(torch.zeros(d, device=objective.space.device,
                                                 dtype=objective.space.dtype))  # fmt: skip
    norm = float(g0.norm())
    start = g0 if norm > 0 and math.isfinite(norm) else _gaussian(d, generator, objective.space.w)
    eps = start * (radius / float(start.norm()))
    best, best_norm = -math.inf, 0.0
    for step in range(steps):
        last = step == steps - 1  # the last iterate needs its loss only
        value, g = (objective.value(eps), None) if last else objective.value_and_grad(eps)
        if value - base > best:
            best, best_norm = value - base, float(eps.norm())
        if g is None:
            break
        gn = float(g.norm())
        if not gn > 0:
            break  # a stationary point of the ball's interior: nothing to climb
        eps = eps + g * (radius / gn)
        n = float(eps.norm())
        if n > radius:
            eps = eps * (radius / n)
    return best, best_norm


@dataclass(frozen=True)
class SharpnessResult:
    """Sharpness at one point for several radii (module docstring).

    Attributes:
        radii, adaptive_radii: ρ of the plain measures (weight units) and of the adaptive
            ones (dimensionless, in units of ``|w|``).
        loss: ``ℓ(w)``, the mean loss at the point.
        average, average_stderr: ``S_avg(ρ)`` per radius and its Monte-Carlo standard error.
        worst: ``S_max(ρ)`` per radius (a lower bound: the best of ``steps`` ascent iterates).
        adaptive_average, adaptive_average_stderr, adaptive_worst: the same with ``δ = |w|⊙ε``.
        num_kept: ``d``, the coordinates perturbed.
        kept_norm: ``‖w‖`` over those coordinates.
        pairs, steps: antithetic pairs per average, ascent steps per worst case.
        loss_evaluations, gradient_evaluations: passes over the data.
        seconds: wall time.
    """

    radii: tuple[float, ...]
    adaptive_radii: tuple[float, ...]
    loss: float
    average: tuple[float, ...]
    average_stderr: tuple[float, ...]
    worst: tuple[float, ...]
    adaptive_average: tuple[float, ...]
    adaptive_average_stderr: tuple[float, ...]
    adaptive_worst: tuple[float, ...]
    num_kept: int
    kept_norm: float
    pairs: int
    steps: int
    loss_evaluations: int
    gradient_evaluations: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def sharpness(
    params: Mapping[str, Tensor],
    terms: LossTerm | Iterable[LossTerm],
    *,
    mask: Mapping[str, Tensor] | None = None,
    radii: Sequence[float] = (0.05, 0.1, 0.2),
    adaptive_radii: Sequence[float] = (),
    pairs: int = 8,
    steps: int = 10,
    seed: int = 0,
    progress: Callable[[], object] | None = None,
) -> SharpnessResult:
    """Average-case, worst-case and adaptive sharpness at ``params`` (module docstring).

    Args:
        params: the point ``w`` (e.g. :func:`model_loss_terms`' parameters).
        terms: the loss as a callable ``loss(params) -> scalar`` or a list of terms to sum.
        mask: ``{name: 0/1 tensor}``; only kept coordinates move (others of a masked tensor
            stay as they are, 0 for a pruned level); tensors without a mask move entirely.
        radii: ρ of the plain measures (an empty list skips them).
        adaptive_radii: ρ of the adaptive measures (an empty list skips them).
        pairs: antithetic pairs per average-case value.
        steps: ascent iterates per worst-case value (``steps`` gradients and one loss).
        seed: seeds the Gaussian draws (one CPU generator, so the numbers do not depend on
            the device) and the random start where the gradient vanishes.
        progress: called after every radius and measure.

    Returns:
        a :class:`SharpnessResult`.
    """
    if pairs < 1 or steps < 1:
        raise ValueError(f"pairs and steps must be ≥ 1, got {pairs} and {steps}")
    for name, values in (("radii", radii), ("adaptive_radii", adaptive_radii)):
        if not all(math.isfinite(r) and r > 0 for r in values):
            raise ValueError(f"{name} must be positive numbers, got {list(values)}")
    if not radii and not adaptive_radii:
        raise ValueError("nothing to measure: give radii or adaptive_radii")
    t0 = time.perf_counter()
    term_list = [terms] if callable(terms) else list(terms)
    space = _Space(params, mask)
    plain = _Objective(space, term_list, None)
    adaptive = _Objective(space, term_list, space.w.abs())
    base = plain.value(torch.zeros_like(space.w))
    if not math.isfinite(base):
        raise LandscapeError(f"the loss at the point is {base}; sharpness needs a finite loss")
    out: dict[str, list[float]] = {k: [] for k in (
        "average", "average_stderr", "worst", "adaptive_average", "adaptive_average_stderr",
        "adaptive_worst")}  # fmt: skip
    for objective, rs, prefix in ((plain, radii, ""), (adaptive, adaptive_radii, "adaptive_")):
        for r in rs:
            # one generator per (measure, ρ): each number is reproducible on its own
            g = torch.Generator().manual_seed(seed * 1_000_003 + round(r * 1e6))
            mean, se = average_sharpness(objective, r, pairs, g, base)
            out[prefix + "average"].append(mean)
            out[prefix + "average_stderr"].append(se)
            if progress:
                progress()
            out[prefix + "worst"].append(worst_sharpness(objective, r, steps, g, base)[0])
            if progress:
                progress()
    bad = [k for k, v in out.items() if not all(math.isfinite(x) for x in v)]
    if bad:
        raise LandscapeError(
            f"the loss became non-finite inside the ball ({', '.join(bad)}); use smaller radii"
        )
    return SharpnessResult(
        radii=tuple(float(r) for r in radii),
        adaptive_radii=tuple(float(r) for r in adaptive_radii),
        loss=base,
        **{k: tuple(v) for k, v in out.items()},
        num_kept=space.dim,
        kept_norm=float(space.w.double().norm()),
        pairs=pairs,
        steps=steps,
        loss_evaluations=plain.values + adaptive.values,
        gradient_evaluations=plain.grads + adaptive.grads,
        seconds=time.perf_counter() - t0,
    )
