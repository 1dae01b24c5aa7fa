"""Matching the hidden units of network B to those of network A [Ainsworth et al. 2023, §3].

Two ways to choose, for every permutation group, which unit of B plays the part of
each unit of A:

- **weight matching** (Git Re-Basin §3.2, Alg. 1): maximise ``Σ ⟨W_A, π(W_B)⟩`` over
  the permutations ``π`` of all groups — equivalently minimise the L2 distance
  ``‖θ_A − π(θ_B)‖`` — by coordinate descent: one group at a time, the others held
  fixed, the group's permutation is a linear assignment problem solved exactly
  (``scipy.optimize.linear_sum_assignment``). A step is taken only if it raises the
  objective, so the distance never grows and the descent stops.
- **activation matching** (Git Re-Basin §3.1): for every group, the correlation
  between A's and B's units over training inputs, one linear assignment per group.

Both return a permutation for :func:`~landscape.analysis.alignment.apply_permutation`
to apply to B (and to B's mask).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, fx, nn
from torch.func import functional_call

from landscape.analysis.alignment.permutation_spec import (
    PermutationSpec,
    _Tracer,
    apply_permutation,
    identity_permutation,
)

__all__ = [
    "MATCHING_METHODS",
    "Matching",
    "activation_matching",
    "match",
    "weight_distance",
    "weight_matching",
]

MATCHING_METHODS = ("weight", "activation")
Permutation = dict[str, Tensor]


@dataclass(frozen=True)
class Matching:
    """A permutation of B's units and what it achieved.

    Attributes:
        perm: per group, new unit ``i`` of B is old unit ``perm[g][i]``.
        method: ``weight`` or ``activation``.
        sweeps: coordinate-descent sweeps over all groups (weight matching; 1 otherwise).
        objective_before, objective_after: the matched objective at the identity and at
            ``perm`` (``Σ ⟨W_A, π(W_B)⟩`` for weights, the summed correlation of matched
            units for activations).
    """

    perm: Permutation
    method: str
    sweeps: int
    objective_before: float
    objective_after: float


def weight_distance(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], names: Sequence[str]
) -> float:
    """``‖a − b‖₂`` over the tensors ``names`` (float64)."""
    return float(
        torch.sqrt(sum(((a[n].double() - b[n].double()) ** 2).sum() for n in names))  # type: ignore[arg-type]
    )


def _rows(t: Tensor, axis: int, size: int) -> Tensor:
    """``t`` with ``axis`` first, as ``[size, everything else]`` (a unit's block stays one row)."""
    return t.movedim(axis, 0).reshape(size, -1)


def _cost(spec_group, a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Tensor:
    """``C[i, j] = Σ_tensors ⟨A's unit i, B's unit j⟩`` over a group's axes (float64)."""
    n = spec_group.size
    c = torch.zeros(n, n, dtype=torch.float64)
    for ax in spec_group.axes:
        if ax.name not in a:
            continue
        ra = _rows(a[ax.name].double().cpu(), ax.axis, n)
        rb = _rows(b[ax.name].double().cpu(), ax.axis, n)
        c += ra @ rb.T
    return c


def weight_matching(
    spec: PermutationSpec,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    names: Sequence[str] | None = None,
    *,
    max_sweeps: int = 100,
    seed: int = 0,
) -> Matching:
    """Git Re-Basin's weight matching [Ainsworth et al. 2023, §3.2, Alg. 1].

    Args:
        spec: the permutation groups (:func:`permutation_spec`).
        a, b: the two state dicts; ``b`` is the one permuted.
        names: the tensors matched on (default: every tensor a group acts on whose name
            is in ``a``). Running statistics are permuted with their layer but, being no
            weights, are better left out (the jobs pass the parameters).
        max_sweeps: at most this many sweeps over all groups.
        seed: order in which groups are visited in each sweep (as Alg. 1's random order).

    Returns:
        a :class:`Matching`; ``objective_after ≥ objective_before`` always, i.e. the L2
        distance over ``names`` never grows.
    """
    keep = set(a) if names is None else set(names)
    sub_a = {k: v for k, v in a.items() if k in keep}
    sub_b = {k: v for k, v in b.items() if k in keep}
    perm = identity_permutation(spec)
    rng = np.random.default_rng(seed)
    groups = list(spec.groups)

    def objective(p: Permutation) -> float:
        pb = apply_permutation(spec, p, sub_b)
        return float(sum((sub_a[k].double() * pb[k].double()).sum() for k in sub_a))

    before = objective(perm)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):  # noqa: B007 - the count is reported
        changed = False
        for gi in rng.permutation(len(groups)):
            g = groups[gi]
            # B with every other group's current permutation applied, this group's axes
            # left in B's own order: the cost of assigning B's unit j to A's unit i.
            others = {**perm, g.name: torch.arange(g.size)}
            pb = apply_permutation(spec, others, sub_b)
            c = _cost(g, sub_a, pb)
            rows, cols = linear_sum_assignment(c.numpy(), maximize=True)
            new = torch.as_tensor(cols[np.argsort(rows)], dtype=torch.long)
            old_value = float(c[torch.arange(g.size), perm[g.name]].sum())
            new_value = float(c[torch.arange(g.size), new].sum())
            # Accept only a strict improvement (beyond rounding): monotone, and it terminates.
            if new_value > old_value + 1e-12 * max(1.0, abs(old_value)):
                perm[g.name] = new
                changed = True
        if not changed:
            break
    return Matching(perm, "weight", sweeps, before, objective(perm))


def _record_nodes(model: nn.Module, wanted: set[str]) -> fx.GraphModule:
    """The traced model returning, besides its output, the outputs of nodes ``wanted``."""
    graph = _Tracer().trace(model)
    gm = fx.GraphModule(model, graph)
    out = next(n for n in gm.graph.nodes if n.op == "output")
    found = {n.name: n for n in gm.graph.nodes if n.name in wanted}
    with gm.graph.inserting_before(out):
        out.args = ((out.args[0], {k: found[k] for k in sorted(found)}),)
    gm.recompile()
    return gm


def _unit_columns(act: Tensor, dim: int, size: int) -> Tensor:
    """An activation as ``[samples, units]``: every other axis (batch, positions, a flattened
    block) counts as samples."""
    x = act.movedim(dim, -1)
    block = x.shape[-1] // size
    x = x.reshape(*x.shape[:-1], size, block).movedim(-1, 0)
    return x.reshape(-1, size).double()


def _activations(
    model: nn.Module, state: Mapping[str, Tensor], spec: PermutationSpec, batches: Sequence
) -> dict[str, Tensor]:
    """Per group: the units' activations ``[samples, units]`` (all batches)."""
    wanted = {n for g in spec.groups for n, _ in g.nodes}
    gm = _record_nodes(model, wanted)  # shares the model's submodules: called functionally
    training = model.training
    gm.eval()
    acts: dict[str, list[Tensor]] = {g.name: [] for g in spec.groups}
    try:
        with torch.no_grad():
            for x, *_ in batches:
                _, rec = functional_call(gm, dict(state), (x,))
                for g in spec.groups:
                    cols = [_unit_columns(rec[n], dim, g.size) for n, dim in g.nodes]
                    acts[g.name].append(torch.cat(cols, 0))
    finally:
        model.train(training)
    return {k: torch.cat(v, 0) for k, v in acts.items()}


def _standardise(x: Tensor) -> Tensor:
    x = x - x.mean(0)
    # A unit constant on the data has no correlation with anything (std floored, not 0/0).
    return x / x.std(0).clamp_min(1e-12)


def activation_matching(
    model: nn.Module,
    spec: PermutationSpec,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    batches: Sequence[tuple[Tensor, ...]],
) -> Matching:
    """Git Re-Basin's activation matching [Ainsworth et al. 2023, §3.1].

    For each group, the Pearson correlation ``C[i, j]`` between A's unit ``i`` and B's
    unit ``j`` over the inputs of ``batches`` (every sample and every spatial position
    counted as one observation), and the assignment maximising ``Σ_i C[i, π(i)]``.
    The units are observed at the outputs of every Linear/Conv/normalisation layer that
    writes them (pre-activation, [ours]: a dead ReLU unit still has a distinct signal, so
    a planted permutation is recovered exactly), summed over those layers; the model is
    in eval mode (BatchNorm by its running statistics).

    Returns:
        a :class:`Matching` whose objectives are the summed correlation of matched units
        at the identity and at ``perm``.
    """
    sa = _activations(model, a, spec, batches)
    sb = _activations(model, b, spec, batches)
    perm: Permutation = {}
    before = after = 0.0
    for g in spec.groups:
        za, zb = _standardise(sa[g.name]), _standardise(sb[g.name])
        corr = (za.T @ zb) / za.shape[0]
        rows, cols = linear_sum_assignment(corr.numpy(), maximize=True)
        perm[g.name] = torch.as_tensor(cols[np.argsort(rows)], dtype=torch.long)
        before += float(corr.diagonal().sum())
        after += float(corr[torch.arange(g.size), perm[g.name]].sum())
    return Matching(perm, "activation", 1, before, after)


def match(
    method: str,
    model: nn.Module,
    spec: PermutationSpec,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    *,
    names: Sequence[str] | None = None,
    batches: Sequence[tuple[Tensor, ...]] | None = None,
) -> Matching:
    """:func:`weight_matching` or :func:`activation_matching` by name."""
    if method == "weight":
        return weight_matching(spec, a, b, names)
    if method == "activation":
        if batches is None:
            raise ValueError("activation matching needs training batches (batches=...)")
        return activation_matching(model, spec, a, b, batches)
    raise ValueError(
        f"unknown matching method {method!r}: use one of {', '.join(MATCHING_METHODS)}"
    )
