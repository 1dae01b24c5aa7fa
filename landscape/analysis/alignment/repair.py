"""REPAIR: the interpolated network's statistics restored [Jordan et al. 2023, §4].

Averaging two aligned networks shrinks the variance of their hidden units ("variance
collapse", Jordan et al. §3), and the collapse compounds with depth. REPAIR rescales
every hidden unit of the interpolated network ``θ_α = (1 − α) θ_A + α θ_B`` so that its
mean and standard deviation over training data are the interpolation of the ends':
``μ_α* = (1 − α) μ_A + α μ_B`` and ``σ_α* = (1 − α) σ_A + α σ_B`` (§4, Eq. 2).

- A network with BatchNorm gets this by re-estimating its BatchNorm statistics at the
  point (``bn_policy="recompute"``, the engine's default; Jordan et al. §4 call this the
  "reset"); :func:`repaired_state` refuses such a network.
- A network without BatchNorm: every Linear/Conv layer writing a permutation group's units
  is rescaled, layer after layer in module order (a later layer's statistics are measured
  with the earlier ones repaired, as REPAIR's reset layers do in one pass), and the
  correction ``y ← (y − μ) σ*/σ + μ*`` is folded into its weight and bias, so the
  repaired point is an ordinary state dict of the same architecture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.analysis.alignment.permutation_spec import PermutationSpec
from landscape.analysis.connectivity import BarrierResult, path_alphas
from landscape.analysis.engine import DataLike, Points, batchnorm_modules, evaluate_points

__all__ = ["repair_layers", "repaired_barrier", "repaired_state"]

State = Mapping[str, Tensor]
_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TINY = 1e-8  # a unit whose std is below this is constant on the data: shifted, not scaled


def repair_layers(model: nn.Module, spec: PermutationSpec) -> list[str]:
    """The Linear/Conv layers whose outputs REPAIR rescales: those writing the units of a
    permutation group (the hidden units), in module order.

    Raises:
        ValueError: the model has BatchNorm (repair it with ``bn_policy="recompute"``), or a
            layer to repair has no bias to fold the mean shift into.
    """
    if batchnorm_modules(model):
        raise ValueError(
            "this network has BatchNorm: REPAIR is the re-estimation of its statistics at each "
            "point (bn_policy='recompute'), not a rescaling of its layers"
        )
    writers = {ax.name[: -len(".weight")] for g in spec.groups for ax in g.axes
               if ax.axis == 0 and ax.name.endswith(".weight")}  # fmt: skip
    out = []
    for name, m in model.named_modules():
        if name in writers and isinstance(m, _LAYERS):
            if m.bias is None:
                raise ValueError(
                    f"REPAIR folds its mean shift into layer {name!r}'s bias, and it has none"
                )
            out.append(name)
    return out


def _channel_stats(y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel sums over batch and positions: (count, Σy, Σy²) in float64."""
    dim = 1 if y.dim() > 2 else y.dim() - 1
    x = y.detach().double().movedim(dim, -1).reshape(-1, y.shape[dim])
    return torch.stack([x.sum(0), (x * x).sum(0)]), torch.tensor(float(x.shape[0]))


def _layer_stats(
    model: nn.Module, state: State, layers: Sequence[str], batches: Sequence[tuple[Tensor, ...]]
) -> dict[str, tuple[Tensor, Tensor]]:
    """Mean and (population) std of every channel of ``layers``' outputs over ``batches``."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, Tensor] = {}
    mods = dict(model.named_modules())

    def hook(name: str):
        def record(_m, _inp, out):
            s, c = _channel_stats(out)
            sums[name] = sums.get(name, 0) + s
            counts[name] = counts.get(name, 0) + c

        return record

    handles = [mods[n].register_forward_hook(hook(n)) for n in layers]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, *_ in batches:
                functional_call(model, dict(state), (x,))
    finally:
        for h in handles:
            h.remove()
        model.train(training)
    out = {}
    for n in layers:
        mean = sums[n][0] / counts[n]
        var = (sums[n][1] / counts[n] - mean**2).clamp_min(0.0)
        out[n] = (mean, var.sqrt())
    return out


def repaired_state(
    model: nn.Module,
    spec: PermutationSpec,
    state: State,
    target: Mapping[str, tuple[Tensor, Tensor]],
    batches: Sequence[tuple[Tensor, ...]],
) -> dict[str, Tensor]:
    """``state`` with each layer of :func:`repair_layers` rescaled to ``target[layer] =
    (mean, std)`` per channel (Jordan et al. §4), folded into its weight and bias."""
    layers = repair_layers(model, spec)
    out = {k: v.clone() for k, v in state.items()}
    for name in layers:
        mean, std = _layer_stats(model, out, [name], batches)[name]
        t_mean, t_std = target[name]
        scale = torch.where(std > _TINY, t_std / std.clamp_min(_TINY), torch.ones_like(std))
        w, b = out[f"{name}.weight"], out[f"{name}.bias"]
        shape = (-1,) + (1,) * (w.dim() - 1)
        out[f"{name}.weight"] = (w.double() * scale.view(shape).to(w.device)).to(w.dtype)
        new_b = (b.double() - mean.to(b.device)) * scale.to(b.device) + t_mean.to(b.device)
        out[f"{name}.bias"] = new_b.to(b.dtype)
    return out


def repaired_barrier(
    model: nn.Module,
    spec: PermutationSpec,
    state_a: State,
    state_b: State,
    data: DataLike,
    repair_batches: Sequence[tuple[Tensor, ...]],
    points: int = 11,
    *,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
) -> BarrierResult:
    """The barrier on the line from ``state_a`` to ``state_b`` with every interior point
    REPAIRed (:func:`repaired_state`, statistics over ``repair_batches``); the ends are the
    networks themselves. Its ``bn_policy`` reads ``"repair"``."""
    alphas = path_alphas(points)
    layers = repair_layers(model, spec)
    sa = _layer_stats(model, state_a, layers, repair_batches)
    sb = _layer_stats(model, state_b, layers, repair_batches)
    states: list[State] = []
    for a in alphas:
        if a in (0.0, 1.0):
            states.append(state_a if a == 0.0 else state_b)
            continue
        mid = {k: (1 - a) * state_a[k] + a * state_b[k] if state_a[k].is_floating_point()
               else state_a[k] for k in state_a}  # fmt: skip
        target = {n: ((1 - a) * sa[n][0] + a * sb[n][0], (1 - a) * sa[n][1] + a * sb[n][1])
                  for n in layers}  # fmt: skip
        states.append(repaired_state(model, spec, mid, target, repair_batches))
    ev = evaluate_points(model, Points.states(states), data, bn_policy="none",
                         batch_size=batch_size, chunk_size=chunk_size, mode=mode)  # fmt: skip
    return BarrierResult.from_curve(np.asarray(alphas), ev.losses, ev.errors, "repair", False)
