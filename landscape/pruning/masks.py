"""Pruning masks (docs/science.md).

A mask is ``dict[name, bool tensor]`` over the prunable tensors only; ``True`` keeps
a weight. Masks only shrink: ``prune`` never revives a pruned coordinate.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import torch
from torch import Tensor, nn

from landscape.errors import CheckpointError
from landscape.functional import prunable_names

__all__ = ["Mask", "apply_mask", "check_mask", "density", "layer_report", "ones_mask", "prune"]

Mask = dict[str, Tensor]


def ones_mask(model: nn.Module, scope: str = "conv+linear", ignore: str = "") -> Mask:
    """The all-ones mask m_0 over the prunable tensors of ``model``.

    Args:
        ignore: comma-separated modules (or tensors) left unpruned, e.g. ``"fc"`` for a
            CIFAR ResNet's classifier, as open_lth does [PAUL's base code].

    Raises:
        ValueError: an ignored name matches no prunable tensor (the message lists them).
    """
    state = dict(model.named_parameters())
    names = prunable_names(model, scope)
    skip = {n.strip() for n in ignore.split(",") if n.strip()}
    unknown = sorted(s for s in skip if s not in names and f"{s}.weight" not in names)
    if unknown:
        raise ValueError(
            f"--prune-ignore {', '.join(unknown)}: no prunable tensor of that name; the prunable "
            f"tensors are {', '.join(names)}"
        )
    kept = [n for n in names if n not in skip and n.removesuffix(".weight") not in skip]
    return {n: torch.ones_like(state[n], dtype=torch.bool) for n in kept}


def density(mask: Mapping[str, Tensor]) -> float:
    """Kept fraction of the prunable weights."""
    kept = sum(int(m.sum()) for m in mask.values())
    total = sum(m.numel() for m in mask.values())
    return kept / total


def layer_report(mask: Mapping[str, Tensor]) -> list[dict[str, float | int | str]]:
    """Per-tensor kept counts and densities."""
    return [
        {"name": n, "kept": int(m.sum()), "total": m.numel(), "density": float(m.float().mean())}
        for n, m in mask.items()
    ]


def prune(
    weights: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    fraction: float,
    strategy: str = "global",
    seed: int = 0,
) -> Mask:
    """Remove ``round(fraction · #kept)`` kept coordinates; returns the new mask ``m' ≤ m``.

    Args:
        weights: the network state; only the names in ``mask`` are read.
        mask: the current mask (prunable tensors).
        fraction: share of the *currently kept* weights to remove, ``1 − α``.
        strategy: ``"global"`` — one magnitude threshold over all tensors [docs/science.md];
            ``"layerwise"`` — the same fraction in each tensor; ``"random"`` —
            uniformly random among kept coordinates (seeded) [PAUL §3.3].
        seed: seed of ``"random"``.

    Ties in magnitude are broken by position (a stable sort over the tensors in
    mask order), so the result is deterministic.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"the pruning fraction must lie in [0, 1), got {fraction}")
    names = list(mask)
    if strategy == "layerwise":
        return {n: _prune_flat(weights[n], mask[n], fraction, "magnitude", seed) for n in names}
    if strategy not in ("global", "random"):
        raise ValueError(f"unknown pruning strategy {strategy!r}: use global, layerwise or random")
    flat_w = torch.cat([weights[n].detach().reshape(-1).float().cpu() for n in names])
    flat_m = torch.cat([mask[n].reshape(-1).cpu() for n in names])
    new = _prune_flat(
        flat_w, flat_m, fraction, "magnitude" if strategy == "global" else "random", seed
    )
    out, i = {}, 0
    for n in names:
        k = mask[n].numel()
        out[n] = new[i : i + k].view(mask[n].shape).to(mask[n].device)
        i += k
    return out


def _prune_flat(w: Tensor, m: Tensor, fraction: float, rule: str, seed: int) -> Tensor:
    shape, device = m.shape, m.device
    w, m = w.detach().reshape(-1).float().cpu(), m.reshape(-1).cpu().bool()
    kept = m.nonzero().squeeze(1)
    k = round(fraction * kept.numel())
    if k == 0:
        return m.view(shape).clone().to(device)
    if rule == "magnitude":
        order = torch.argsort(w[kept].abs(), stable=True)  # ties: lower position first
    else:
        order = torch.randperm(kept.numel(), generator=torch.Generator().manual_seed(seed))
    out = m.clone()
    out[kept[order[:k]]] = False
    return out.view(shape).to(device)


def apply_mask(target: nn.Module | MutableMapping[str, Tensor], mask: Mapping[str, Tensor]) -> None:
    """Zero the pruned coordinates, in place, of a module's parameters or of a state dict."""
    state = dict(target.named_parameters()) if isinstance(target, nn.Module) else target
    with torch.no_grad():
        for n, m in mask.items():
            state[n].mul_(m.to(device=state[n].device, dtype=state[n].dtype))


def check_mask(mask: Mapping[str, Tensor], model: nn.Module, path: str = "mask") -> None:
    """Raise :class:`CheckpointError` unless every mask tensor names a parameter of that shape."""
    params = dict(model.named_parameters())
    bad = [n for n in mask if n not in params]
    wrong = [
        f"{n}: mask {tuple(m.shape)} vs weight {tuple(params[n].shape)}"
        for n, m in mask.items() if n in params and m.shape != params[n].shape
    ]  # fmt: skip
    if bad or wrong:
        raise CheckpointError(
            f"{path} does not fit the model: "
            + (f"no parameters named {bad[:5]}; " if bad else "")
            + "; ".join(wrong[:5])
            + ". Was it made for another architecture? Use the run directory it belongs to."
        )
