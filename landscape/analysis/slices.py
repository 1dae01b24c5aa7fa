"""Two-dimensional slices of the loss landscape (docs/science.md).

Two kinds of plane, both evaluated by the batched engine:

- **Anchor planes** [PAUL Fig. 3]: the plane through three states, by default the
  level-``L`` solution ``w^(L)`` (origin), its projection ``m_{L+1} ⊙ w^(L)`` and the
  next solution ``w^(L+1)``. Orthonormal basis by Gram–Schmidt over the parameters:
  ``e1 = u/‖u‖`` with ``u = p − o``, ``e2`` the normalised part of ``v = n − o``
  orthogonal to ``e1``. Grid ``a, b ∈ [−0.3 s, 1.3 s]``, ``s = max(‖u‖, ‖v‖)``.
  Every grid point is an affine combination of the three anchors, so BatchNorm
  buffers can follow the ``interpolate`` policy too.
- **Random planes** [Li et al. 2018, "Visualizing the loss landscape of neural
  nets"]: ``w + a d1 + b d2`` with Gaussian directions, filter-normalised (each
  filter of ``d`` rescaled to the norm of the same filter of ``w``), biases and
  BatchNorm parameters excluded (their direction entries are 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.analysis.engine import (
    DataLike,
    Points,
    State,
    batchnorm_modules,
    check_states,
    evaluate_points_multi,
)
from landscape.specs import NORMALIZATIONS

__all__ = [
    "NORMALIZATIONS",
    "Plane",
    "SliceResult",
    "anchor_plane",
    "filter_normalize",
    "plane_slice",
    "random_directions",
    "random_slice",
]


def _flat(state: State, names: Sequence[str]) -> Tensor:
    return torch.cat([state[n].detach().reshape(-1).to("cpu", torch.float64) for n in names])


@dataclass(frozen=True, eq=False)
class Plane:
    """The orthonormal frame of the plane through ``origin``, ``p`` and ``n`` (docs/science.md).

    Coordinates are lengths in parameter space: ``w(a, b) = o + a·e1 + b·e2``.

    Attributes:
        names: the parameters the geometry runs over (all floating parameters).
        u_norm: ``‖p − o‖``; ``v_norm``: ``‖n − o‖``; ``v_perp``: ``‖n − o‖``'s part
            orthogonal to ``e1``; ``v_along``: its part along ``e1``.
        anchors: in-plane coordinates ``(a, b)`` of ``o``, ``p``, ``n``:
            ``(0, 0)``, ``(‖u‖, 0)``, ``(v·e1, ‖v⊥‖)`` — exact by construction.
    """

    names: tuple[str, ...]
    u_norm: float
    v_norm: float
    v_along: float
    v_perp: float
    _o: Tensor
    _e1: Tensor
    _e2: Tensor

    @property
    def anchors(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        return (0.0, 0.0), (self.u_norm, 0.0), (self.v_along, self.v_perp)

    @property
    def scale(self) -> float:
        """``s = max(‖u‖, ‖v‖)``, the unit of the default grid."""
        return max(self.u_norm, self.v_norm)

    def coefficients(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Affine weights ``(c_o, c_p, c_n)`` of the points ``(a, b)``: ``w = c_o o + c_p p + c_n n``.

        From ``e1 = (p − o)/‖u‖`` and ``e2 = ((n − o) − (v·e1/‖u‖)(p − o))/‖v⊥‖``.
        """
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        c_n = b / self.v_perp
        c_p = a / self.u_norm - b * self.v_along / (self.u_norm * self.v_perp)
        return np.stack([1.0 - c_p - c_n, c_p, c_n], axis=-1)

    def coords(self, state: State) -> tuple[float, float]:
        """Projection ``((w − o)·e1, (w − o)·e2)`` of a state onto the plane (float64)."""
        d = _flat(state, self.names) - self._o
        return float(d @ self._e1), float(d @ self._e2)

    def distance(self, state: State) -> float:
        """Distance of a state from the plane (0 for the anchors, up to rounding)."""
        d = _flat(state, self.names) - self._o
        a, b = float(d @ self._e1), float(d @ self._e2)
        return float(torch.linalg.vector_norm(d - a * self._e1 - b * self._e2))


def anchor_plane(origin: State, p: State, n: State, names: Sequence[str]) -> Plane:
    """Gram–Schmidt frame of the plane through three states [PAUL Fig. 3; docs/science.md].

    Args:
        origin, p, n: the anchors (``w^(L)``, ``m_{L+1} ⊙ w^(L)``, ``w^(L+1)`` in Paul's figure).
        names: the parameter names the geometry runs over (buffers are left out).

    Raises:
        ValueError: ``p`` equals ``origin`` or the three anchors are collinear.
    """
    names = tuple(names)
    o = _flat(origin, names)
    u = _flat(p, names) - o
    v = _flat(n, names) - o
    u_norm = float(torch.linalg.vector_norm(u))
    if u_norm == 0.0:
        raise ValueError(
            "the first two anchors coincide, so they span no direction (did the mask prune "
            "nothing?); pick three distinct states"
        )
    e1 = u / u_norm
    along = float(v @ e1)
    perp = v - along * e1
    perp_norm = float(torch.linalg.vector_norm(perp))
    v_norm = float(torch.linalg.vector_norm(v))
    if perp_norm <= 1e-12 * max(v_norm, u_norm):
        raise ValueError("the three anchors are collinear and span no plane; pick another third")
    return Plane(names, u_norm, v_norm, along, perp_norm, o, e1, perp / perp_norm)


def filter_normalize(direction: Tensor, weight: Tensor) -> Tensor:
    """Rescale each filter ``d[i]`` (slice along dim 0) to ``‖w[i]‖`` [Li et al. 2018, §4].

    A filter is an output channel of a convolution or an output neuron (row) of a
    linear layer. Zero filters of ``w`` (pruned) give zero filters of ``d``.
    """
    d = direction.reshape(direction.shape[0], -1)
    w = weight.reshape(weight.shape[0], -1).to(d.dtype)
    dn = torch.linalg.vector_norm(d, dim=1, keepdim=True)
    wn = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    scale = torch.where(dn > 0, wn / dn.clamp_min(torch.finfo(d.dtype).tiny), torch.zeros_like(dn))
    return (d * scale).reshape(direction.shape)


def random_directions(
    model: nn.Module,
    state: State,
    *,
    seed: int = 0,
    normalize: str = "filter",
    mask: Mapping[str, Tensor] | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Two random Gaussian directions for a Li et al. plot around ``state``.

    Args:
        model: the architecture (to tell parameters from buffers).
        state: the centre ``w``.
        seed: seed of the directions (a CPU generator: the same on every device).
        normalize: ``filter`` (each filter's norm equals the weights' filter norm,
            [Li et al. 2018]), ``layer`` (each tensor's norm equals the weights'),
            or ``none`` (raw standard normal entries).
        mask: if given, directions are zero on pruned coordinates, so the plane
            stays in the kept subspace (normalisation uses the masked weights).

    Returns:
        ``(d1, d2)``: state dicts with every key of ``state``; biases, BatchNorm
        parameters (every parameter of dimension ≤ 1) and all buffers are 0.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {normalize!r}: use {', '.join(NORMALIZATIONS)}")
    params = {n for n, _ in model.named_parameters()}
    if mask is not None and (stray := sorted(set(mask) - set(state))):
        raise ValueError(
            f"mask names {stray[:3]} are not in the state: pass the mask of this architecture"
        )
    gen = torch.Generator().manual_seed(seed)
    dirs: tuple[dict[str, Tensor], dict[str, Tensor]] = ({}, {})
    for d in dirs:
        for name, w in state.items():
            if name not in params or w.dim() <= 1 or not w.is_floating_point():
                d[name] = torch.zeros_like(w)
                continue
            r = torch.randn(w.shape, generator=gen, dtype=torch.float64)
            w64 = w.detach().to("cpu", torch.float64)
            if mask is not None and name in mask:
                m = mask[name].to("cpu", torch.float64)
                r, w64 = r * m, w64 * m  # normalised against the weights the mask keeps
            if normalize == "filter":
                r = filter_normalize(r, w64)
            elif normalize == "layer":
                rn = torch.linalg.vector_norm(r)
                r = r * (torch.linalg.vector_norm(w64) / rn) if rn > 0 else r
            d[name] = r.to(device=w.device, dtype=w.dtype)
    return dirs


@dataclass(frozen=True)
class SliceResult:
    """Values on a 2-D grid and at the plane's marked points (docs/science.md).

    Attributes:
        kind: ``"anchors"`` (plane through three states) or ``"random"`` (Li et al.).
        a, b: grid coordinates along ``e1`` / ``d1`` and ``e2`` / ``d2``, ``[Ga]``, ``[Gb]``.
        values: ``{"<split>_loss" | "<split>_error": array [Gb, Ga]}`` (row ``i`` is ``b[i]``).
        marks: the marked points: ``{"name", "a", "b", "<split>_loss", ...}`` each;
            anchors evaluated as themselves (their coordinates are exact).
        geometry: plane lengths (``u_norm``, ``v_norm``, ``v_along``, ``v_perp``,
            ``scale``) or the direction settings (``normalize``, ``seed``, ``span``).
        bn_policy, has_batchnorm: how BatchNorm statistics were set (docs/science.md).
    """

    kind: str
    a: np.ndarray
    b: np.ndarray
    values: dict[str, np.ndarray]
    marks: list[dict[str, Any]]
    geometry: dict[str, Any]
    bn_policy: str
    has_batchnorm: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "a": self.a.tolist(), "b": self.b.tolist(),
            "values": {k: v.tolist() for k, v in self.values.items()},
            "marks": self.marks, "geometry": self.geometry,
            "bn_policy": self.bn_policy, "has_batchnorm": self.has_batchnorm,
        }  # fmt: skip


def _evaluate_grid(
    model: nn.Module,
    basis: Sequence[State],
    grid_coeffs: np.ndarray,
    mark_rows: np.ndarray,
    datasets: Mapping[str, DataLike],
    shape: tuple[int, int],
    engine: Mapping[str, Any],
) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    """Evaluate grid rows then mark rows in one engine call; split the results.

    Grid points keep the origin (basis 0) as reference; a mark that is one basis state
    is its own reference, so under the ``none`` policy it keeps its own statistics.
    """
    one_hot = (mark_rows != 0).sum(1) == 1
    reference = [0] * grid_coeffs.shape[0] + [
        int(np.flatnonzero(row)[0]) if single else 0 for row, single in zip(mark_rows, one_hot)
    ]
    pts = Points.combine(basis, np.concatenate([grid_coeffs, mark_rows]), reference)
    evs = evaluate_points_multi(model, pts, datasets, **engine)
    g = grid_coeffs.shape[0]
    values, marks = {}, [{} for _ in range(mark_rows.shape[0])]
    for split, ev in evs.items():
        for metric, arr in (("loss", ev.losses), ("error", ev.errors)):
            values[f"{split}_{metric}"] = arr[:g].reshape(shape)
            for i in range(len(marks)):
                marks[i][f"{split}_{metric}"] = float(arr[g + i])
    return values, marks


def plane_slice(
    model: nn.Module,
    origin: State,
    p: State,
    n: State,
    datasets: Mapping[str, DataLike],
    *,
    grid: int = 25,
    margin: float = 0.3,
    names: Sequence[str] = ("origin", "projection", "next"),
    extra: Mapping[str, State] | None = None,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
    progress: Callable[[int], object] | None = None,
) -> SliceResult:
    """Loss and error on the plane through three states [PAUL Fig. 3; docs/science.md].

    Args:
        origin, p, n: the anchors; Paul's plane is ``w^(L)``, ``m_{L+1} ⊙ w^(L)``, ``w^(L+1)``.
        datasets: ``{split: data}``, e.g. ``{"test": (x, y), "train": (x, y)}``.
        grid: points per axis (docs/science.md: 25).
        margin: the grid spans ``[−margin·s, (1 + margin)·s]`` on both axes.
        names: labels of the three anchors in the result.
        extra: more states to evaluate and mark (projected onto the plane), e.g. the
            dense network as the matching reference.
        Other arguments: engine settings (:func:`~landscape.analysis.engine.evaluate_points`).

    Returns:
        A :class:`SliceResult` of kind ``"anchors"``; marks hold the three anchors
        (exact coordinates) and then ``extra`` (with their distance from the plane).
    """
    if grid < 2:
        raise ValueError(f"--grid needs at least 2 points per axis, got {grid}")
    extra = dict(extra or {})
    check_states(model, {names[0]: origin, names[1]: p, names[2]: n, **extra})
    pnames = [k for k, t in model.named_parameters() if t.is_floating_point()]
    plane = anchor_plane(origin, p, n, pnames)
    s = plane.scale
    a = np.linspace(-margin * s, (1 + margin) * s, grid)
    b = np.linspace(-margin * s, (1 + margin) * s, grid)
    bb, aa = np.meshgrid(b, a, indexing="ij")  # row i holds b[i]
    coeffs = plane.coefficients(aa.reshape(-1), bb.reshape(-1))
    basis = [origin, p, n, *extra.values()]
    width = len(basis)
    grid_rows = np.zeros((coeffs.shape[0], width))
    grid_rows[:, :3] = coeffs
    mark_rows = np.eye(width)
    engine = dict(bn_policy=bn_policy, bn_data=bn_data, batch_size=batch_size,
                  chunk_size=chunk_size, mode=mode, progress=progress)  # fmt: skip
    values, marks = _evaluate_grid(
        model, basis, grid_rows, mark_rows, datasets, (grid, grid), engine
    )
    labels = [*names, *extra]
    for i, (mark, label) in enumerate(zip(marks, labels)):
        if i < 3:
            ca, cb = plane.anchors[i]
            mark.update(name=label, a=ca, b=cb, distance=0.0)
        else:
            ca, cb = plane.coords(basis[i])
            mark.update(name=label, a=ca, b=cb, distance=plane.distance(basis[i]))
    geometry = {"u_norm": plane.u_norm, "v_norm": plane.v_norm, "v_along": plane.v_along,
                "v_perp": plane.v_perp, "scale": s, "margin": margin, "grid": grid}  # fmt: skip
    return SliceResult("anchors", a, b, values, marks, geometry, bn_policy,
                       bool(batchnorm_modules(model)))  # fmt: skip


def random_slice(
    model: nn.Module,
    state: State,
    datasets: Mapping[str, DataLike],
    *,
    directions: tuple[State, State] | None = None,
    seed: int = 0,
    normalize: str = "filter",
    mask: Mapping[str, Tensor] | None = None,
    grid: int = 25,
    span: float = 1.0,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
    progress: Callable[[int], object] | None = None,
) -> SliceResult:
    """Loss and error on ``w + a·d1 + b·d2``, ``a, b ∈ [−span, span]`` [Li et al. 2018].

    Args:
        state: the centre ``w``.
        directions: ``(d1, d2)``; default :func:`random_directions` with ``seed``,
            ``normalize`` and ``mask``.
        grid: points per axis; span: half-width of the grid in units of the directions.
        Other arguments: as in :func:`plane_slice`.

    Returns:
        A :class:`SliceResult` of kind ``"random"`` with the centre marked at ``(0, 0)``.
    """
    if grid < 2:
        raise ValueError(f"--grid needs at least 2 points per axis, got {grid}")
    if not span > 0 or not math.isfinite(span):
        raise ValueError(f"--span must be a positive number, got {span}")
    if directions is None:
        directions = random_directions(model, state, seed=seed, normalize=normalize, mask=mask)
    check_states(
        model, {"state": state, "direction 1": directions[0], "direction 2": directions[1]}
    )
    a = np.linspace(-span, span, grid)
    b = np.linspace(-span, span, grid)
    bb, aa = np.meshgrid(b, a, indexing="ij")
    grid_rows = np.stack([np.ones(aa.size), aa.reshape(-1), bb.reshape(-1)], axis=1)
    engine = dict(bn_policy=bn_policy, bn_data=bn_data, batch_size=batch_size,
                  chunk_size=chunk_size, mode=mode, progress=progress)  # fmt: skip
    values, marks = _evaluate_grid(
        model, [state, *directions], grid_rows, np.array([[1.0, 0.0, 0.0]]), datasets,
        (grid, grid), engine,
    )  # fmt: skip
    marks[0].update(name="center", a=0.0, b=0.0, distance=0.0)
    geometry = {"normalize": normalize, "seed": seed, "span": span, "grid": grid,
                "within_mask": mask is not None}  # fmt: skip
    return SliceResult("random", a, b, values, marks, geometry, bn_policy,
                       bool(batchnorm_modules(model)))  # fmt: skip
