"""How much two networks' top-k curvature eigenspaces agree (docs/science.md, "Eigenspace overlap").

The sharp subspace of the loss at a level's solution is spanned by its top-k Hessian
eigenvectors ``U`` (``P × k``, orthonormal). Whether it survives pruning is a question
about two such bases ``U_a`` and ``U_b`` (successive levels, or any two checkpoints of one
architecture, e.g. SWAMP's and IMP-WR's solutions at the same sparsity). Both are
compared on the coordinates *both* networks keep (the intersection of their masks ``K``):

- ``overlap = ‖Q_aᵀ Q_b‖²_F / k`` with ``Q_a``, ``Q_b`` orthonormal bases of the restricted
  spans ``span(U_a|_K)`` and ``span(U_b|_K)`` and ``k`` the smaller of their ranks: the
  mean squared cosine of the principal angles between the two subspaces (Golub & Van
  Loan, "Matrix computations", §6.4.3). 1: the same subspace; ``k/|K|``: what two random
  ``k``-dimensional subspaces of ``R^|K|`` give on average;
- ``raw = ‖U_aᵀ U_b‖²_F / k`` of the vectors as they are (inner products on ``K`` only, no
  re-normalisation), which also falls when an eigenvector's mass sits on pruned weights;
- ``retained_a = ‖U_a|_K‖²_F / k``: the share of ``U_a``'s mass on the kept coordinates.

Pure functions on ``{name: tensor}`` vectors (as :func:`~landscape.analysis.hessian.spectrum`
returns with ``eigenvectors=True``), computed in float64 on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Overlap", "eigenspace_overlap", "overlap_matrix"]

Vectors = Sequence[Mapping[str, Tensor]]


@dataclass(frozen=True)
class Overlap:
    """The agreement of two top-k eigenspaces on the coordinates both keep (module docstring).

    Attributes:
        overlap: mean squared cosine of the principal angles, in [0, 1].
        raw: ``‖U_aᵀU_b‖²_F / k`` of the vectors as given, in [0, 1].
        retained_a, retained_b: each basis's share of mass on the common coordinates.
        k: the dimension compared (the smaller rank); common: the common coordinates.
        chance: ``k / common``, the expected overlap of two random subspaces.
    """

    overlap: float
    raw: float
    retained_a: float
    retained_b: float
    k: int
    common: int
    chance: float


def _matrix(vectors: Vectors, names: Sequence[str], keep: Mapping[str, Tensor]) -> Tensor:
    """``P_K × k`` matrix of the vectors restricted to the kept coordinates, float64, CPU."""
    cols = []
    for vec in vectors:
        parts = [vec[n].detach().reshape(-1).double().cpu()[keep[n]] for n in names]
        cols.append(torch.cat(parts))
    return torch.stack(cols, dim=1)


def _basis(m: Tensor, rtol: float = 1e-8) -> Tensor:
    """An orthonormal basis of the columns' span (rank-revealing, by SVD)."""
    u, s, _ = torch.linalg.svd(m, full_matrices=False)
    if s.numel() == 0 or s[0] == 0:
        return u[:, :0]
    return u[:, s > rtol * s[0]]


def _common_keep(
    a: Vectors, b: Vectors, mask_a: Mapping[str, Tensor] | None, mask_b: Mapping[str, Tensor] | None
) -> tuple[list[str], dict[str, Tensor]]:
    names = [n for n in a[0] if n in b[0]]
    if not names:
        raise ValueError(
            "the two sets of eigenvectors share no parameter name: compare checkpoints of one "
            "architecture"
        )
    keep = {}
    for n in names:
        if a[0][n].shape != b[0][n].shape:
            raise ValueError(
                f"parameter {n} has shape {tuple(a[0][n].shape)} in one network and "
                f"{tuple(b[0][n].shape)} in the other: compare checkpoints of one architecture"
            )
        k = torch.ones(a[0][n].numel(), dtype=torch.bool)
        for m in (mask_a, mask_b):
            if m is not None and n in m:
                k &= m[n].detach().reshape(-1).bool().cpu()
        keep[n] = k
    return names, keep


def eigenspace_overlap(
    a: Vectors,
    b: Vectors,
    mask_a: Mapping[str, Tensor] | None = None,
    mask_b: Mapping[str, Tensor] | None = None,
) -> Overlap:
    """The overlap of the spans of ``a`` and ``b`` on the coordinates both masks keep.

    Args:
        a, b: eigenvectors, each ``{name: full-shaped tensor}`` (zero at pruned weights
            for a masked spectrum); parameters not in both are left out.
        mask_a, mask_b: ``{name: bool tensor}`` of the weights each network keeps (``None``
            or a missing name: all kept).

    Returns:
        :class:`Overlap`.

    Example:
        >>> e = torch.eye(4)
        >>> a = [{"w": e[0]}, {"w": e[1]}]
        >>> b = [{"w": e[1]}, {"w": e[2]}]
        >>> eigenspace_overlap(a, b).overlap
        0.5
    """
    if not a or not b:
        raise ValueError("eigenspace_overlap needs at least one eigenvector on each side")
    names, keep = _common_keep(a, b, mask_a, mask_b)
    ua, ub = _matrix(a, names, keep), _matrix(b, names, keep)
    k = min(len(a), len(b))
    qa, qb = _basis(ua), _basis(ub)
    rank = min(qa.shape[1], qb.shape[1])
    overlap = float((qa.T @ qb).square().sum()) / rank if rank else 0.0
    common = int(ua.shape[0])
    return Overlap(
        overlap=overlap,
        raw=float((ua.T @ ub).square().sum()) / k,
        retained_a=float(ua.square().sum()) / len(a),
        retained_b=float(ub.square().sum()) / len(b),
        k=rank,
        common=common,
        chance=rank / common if common else float("nan"),
    )


def overlap_matrix(
    vectors: Sequence[Vectors], masks: Sequence[Mapping[str, Tensor] | None] | None = None
) -> dict[str, np.ndarray]:
    """:func:`eigenspace_overlap` of every pair of networks (e.g. every pair of levels).

    Returns:
        ``{"overlap", "raw", "chance": n × n arrays}`` (symmetric, diagonal: 1 where the
        vectors are orthonormal).
    """
    n = len(vectors)
    masks = list(masks) if masks is not None else [None] * n
    if len(masks) != n:
        raise ValueError(f"{n} sets of eigenvectors but {len(masks)} masks")
    out = {key: np.full((n, n), np.nan) for key in ("overlap", "raw", "chance")}
    for i in range(n):
        for j in range(i, n):
            o = eigenspace_overlap(vectors[i], vectors[j], masks[i], masks[j])
            for key in out:
                out[key][i, j] = out[key][j, i] = getattr(o, key)
    return out
