"""One evaluation engine for paths, barrier matrices and slice grids (docs/science.md).

(Longer than our ~400-line guide on purpose: the two execution modes and the three
BatchNorm policies share the chunking, the scoring and the state materialisation,
and are kept side by side so that they stay equal; see ``tests/test_engine.py``.)

Every point an analysis needs is a linear combination of a few *basis* states:
a path point is ``(1 − γ) w_a + γ w_b``, a slice point ``c_o w_o + c_p w_p + c_n w_n``,
a barrier matrix uses all level solutions as its basis. :class:`Points` holds the
basis and the ``K × J`` coefficient matrix; :func:`evaluate_points` returns the
loss and error of all ``K`` points, materialising them chunk by chunk so memory
stays bounded, and handles BatchNorm by one of three policies (docs/science.md):

- ``recompute`` [ours, default]: reset the running statistics and re-estimate
  them, for every point, as the cumulative mean over fixed training batches
  (``bn_data``, no augmentation) — the same statistics as
  :func:`landscape.training.recompute_bn`.
- ``interpolate``: combine the buffers with the same coefficients as the weights
  (Paul's notebook, [code]); running variances are clamped at 0 where a slice
  extrapolates past its anchors.
- ``none``: every point keeps the statistics of its reference state (the start
  of its path, the origin of its plane) unchanged.

Two execution modes give the same numbers (to float rounding):

- ``vmap``: ``torch.func.vmap`` over the stacked states of a chunk, so one call
  evaluates all of them (batched matmuls, grouped convolutions). BatchNorm
  re-estimation works under ``vmap`` because the buffers are stacked too and the
  momentum is a float ``1/(j+1)`` (cumulative mean over ``j`` batches), see
  measurements on a 2-core CPU.
- ``loop``: one point at a time in a private copy of the model whose tensors are
  overwritten with each point's (a plain module call, no reparametrisation).

``auto`` picks ``vmap`` on CUDA and ``loop`` on CPU, where batching measured
slower (``bench/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape import distributed
from landscape.errors import CheckpointError
from landscape.functional import Batch, DataLike, as_batches, batchnorm_layers
from landscape.specs import BN_POLICIES, MODES

__all__ = [
    "BN_POLICIES",
    "MODES",
    "Evaluation",
    "Points",
    "as_batches",
    "batchnorm_buffers",
    "batchnorm_modules",
    "check_states",
    "evaluate_points",
    "evaluate_points_multi",
    "resolve_mode",
]


State = Mapping[str, Tensor]

# Rows (points × samples) per vmap call. On the 2-core CPU, 8 points × 1000 MNIST-1D
# samples beat 21 × 1000 (bigger batched matmuls spill the cache). A GPU wants large
# calls to fill its cores; 16 points × 1000 CIFAR images keep one ResNet-20
# activation near 1 GB (a guess until the GPU bench runs).
_ROWS_CPU = 8192
_ROWS_CUDA = 16384
# Bytes of materialised states per chunk (the float64 combination doubles it briefly).
_STATE_BYTES_CPU = 512 * 2**20
_STATE_BYTES_CUDA = 2 * 2**30


@dataclass(frozen=True, eq=False)
class Points:
    """``K`` weight vectors as linear combinations of ``J`` basis states.

    Point ``k`` is ``Σ_j coeffs[k, j] · basis[j]`` for parameters (and non-BatchNorm
    floating buffers). ``reference[k]`` names the basis state whose integer buffers
    (and, under the ``none`` policy, BatchNorm statistics) point ``k`` keeps.

    Attributes:
        basis: ``J`` state dicts of one architecture (parameters and buffers).
        coeffs: ``float64`` tensor ``[K, J]`` on the CPU.
        reference: ``int64`` tensor ``[K]`` of basis indices.
    """

    basis: tuple[State, ...]
    coeffs: Tensor
    reference: Tensor

    def __post_init__(self) -> None:
        if not self.basis:
            raise ValueError("Points needs at least one basis state")
        if self.coeffs.dim() != 2 or self.coeffs.shape[1] != len(self.basis):
            raise ValueError(
                f"coeffs must be [K, {len(self.basis)}] (one column per basis state), "
                f"got {tuple(self.coeffs.shape)}"
            )
        if self.reference.shape != (self.coeffs.shape[0],):
            raise ValueError("reference must hold one basis index per point")

    @classmethod
    def combine(
        cls,
        basis: Sequence[State],
        coeffs: Tensor | np.ndarray,
        reference: Sequence[int] | None = None,
    ) -> Points:
        """Points from a basis and a ``[K, J]`` coefficient matrix (reference: basis 0)."""
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64))
        ref = (
            torch.zeros(c.shape[0], dtype=torch.long)
            if reference is None
            else torch.as_tensor(list(reference), dtype=torch.long)
        )
        return cls(tuple(basis), c, ref)

    @classmethod
    def states(cls, states: Sequence[State]) -> Points:
        """Each state as it is (identity coefficients); each is its own reference."""
        n = len(states)
        return cls.combine(states, np.eye(n), range(n))

    @classmethod
    def line(cls, state_a: State, state_b: State, alphas: Sequence[float] | np.ndarray) -> Points:
        """``(1 − α) w_a + α w_b`` for each ``α`` [PAUL Def. 2.1].

        The reference is ``w_a``, except at ``α = 1``, which is ``w_b`` itself: under the
        ``none`` policy both ends keep their own BatchNorm statistics (as in
        :func:`~landscape.analysis.connectivity.connectivity`), so the barrier's end
        values are the networks' own.
        """
        a = np.asarray(alphas, dtype=np.float64)
        reference = [1 if v == 1.0 else 0 for v in a]
        return cls.combine((state_a, state_b), np.stack([1.0 - a, a], axis=1), reference)

    def __len__(self) -> int:
        return int(self.coeffs.shape[0])

    def subset(self, indices: Sequence[int]) -> Points:
        """The points ``indices`` (in that order) over the same basis."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return Points(self.basis, self.coeffs[idx], self.reference[idx])

    def materialize(
        self,
        start: int,
        stop: int,
        *,
        bn_policy: str = "interpolate",
        bn_buffers: Mapping[str, str] | None = None,
        device: torch.device | None = None,
    ) -> dict[str, Tensor]:
        """States of points ``start .. stop-1`` stacked along a new leading dimension.

        The combination runs in float64 and is cast back, so a coefficient row that
        selects one basis state reproduces it bit for bit.

        Args:
            bn_policy: one of :data:`BN_POLICIES` (how BatchNorm statistics are set).
            bn_buffers: ``{name: "mean" | "var" | "count"}`` for BatchNorm buffers
                (see :func:`batchnorm_buffers`); other buffers combine like weights.
            device: where the stacked tensors go (default: the basis' device).
        """
        bn_buffers = bn_buffers or {}
        coeffs = self.coeffs[start:stop]
        ref = self.reference[start:stop]
        k = coeffs.shape[0]
        used = [j for j in range(coeffs.shape[1]) if bool(coeffs[:, j].ne(0).any())]
        out: dict[str, Tensor] = {}
        for name, like in self.basis[0].items():
            dev = device or like.device
            role = bn_buffers.get(name)
            if not like.is_floating_point() or (role is not None and bn_policy == "none"):
                out[name] = torch.stack([self.basis[int(j)][name].to(dev) for j in ref])
            elif role is not None and bn_policy == "recompute":
                # Re-estimated from scratch below; start from reset values, like
                # ``reset_running_stats`` (mean 0, var 1).
                fill = 1.0 if role == "var" else 0.0
                out[name] = torch.full((k, *like.shape), fill, dtype=like.dtype, device=dev)
            else:
                c = coeffs[:, used].to(device=dev)
                stack = torch.stack([self.basis[j][name].to(dev, torch.float64) for j in used])
                value = torch.einsum("kj,j...->k...", c, stack).to(like.dtype)
                if role == "var":
                    value.clamp_(min=0.0)  # an extrapolated variance must stay a variance
                out[name] = value
        return out


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy loss and error (1 − accuracy) of each point, in point order.

    Attributes:
        losses: ``float64 [K]``, mean over samples.
        errors: ``float64 [K]``, fraction misclassified.
        samples: number of samples averaged over.
    """

    losses: np.ndarray
    errors: np.ndarray
    samples: int


def batchnorm_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """BatchNorm layers that keep running statistics (the ones a policy applies to)."""
    return [m for _, m in batchnorm_layers(model, tracking=True)]


def batchnorm_buffers(model: nn.Module) -> dict[str, str]:
    """``{state name: "mean" | "var" | "count"}`` of every BatchNorm running statistic."""
    roles = {"running_mean": "mean", "running_var": "var", "num_batches_tracked": "count"}
    out = {}
    for prefix, _ in batchnorm_layers(model, tracking=True):
        for buf, role in roles.items():
            out[f"{prefix}.{buf}" if prefix else buf] = role
    return out


def check_states(model: nn.Module, states: Mapping[str, State]) -> None:
    """Raise :class:`CheckpointError` unless every state has ``model``'s names and shapes.

    Args:
        states: ``{label: state}``; the label names the state in the message.
    """
    ref = model.state_dict()
    for label, state in states.items():
        missing = [k for k in ref if k not in state]
        extra = [k for k in state if k not in ref]
        wrong = [
            f"{k} {tuple(state[k].shape)} vs {tuple(ref[k].shape)}"
            for k in ref
            if k in state and state[k].shape != ref[k].shape
        ]
        if missing or extra or wrong:
            detail = "; ".join(
                part
                for part in (
                    f"missing {missing[:3]}" if missing else "",
                    f"unexpected {extra[:3]}" if extra else "",
                    f"shape mismatch {', '.join(wrong[:3])}" if wrong else "",
                )
                if part
            )
            raise CheckpointError(
                f"{label} does not fit the model ({detail}). Paths and planes join states of one "
                "architecture: pass checkpoints written for the same model (and the model they "
                "were trained as)."
            )


def resolve_mode(mode: str, model: nn.Module, device: torch.device) -> str:
    """``auto`` → ``vmap`` on CUDA, ``loop`` on CPU (measured: ``bench/RESULTS.md``).

    On the 2-core CPU a batched matmul over K points ran at about half the speed
    per point of K separate ones (the stacked activations leave the cache), for the
    MLP as for convolutions, so batching is a GPU optimisation (measured on a 2-core CPU).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    return "vmap" if device.type == "cuda" else "loop"


def _chunk_size(requested: int, mode: str, points: Points, batch_rows: int, device) -> int:
    if requested > 0:
        return requested
    state_bytes = sum(t.numel() * t.element_size() for t in points.basis[0].values())
    cuda = torch.device(device).type == "cuda"
    by_memory = (_STATE_BYTES_CUDA if cuda else _STATE_BYTES_CPU) // max(1, 2 * state_bytes)
    by_rows = (_ROWS_CUDA if cuda else _ROWS_CPU) // max(1, batch_rows) if mode == "vmap" else 64
    return max(1, min(len(points), by_memory, by_rows))


@contextlib.contextmanager
def _modes(model: nn.Module, bns: Sequence[nn.Module]) -> Iterator[None]:
    """Restore every module's train/eval flag and every BatchNorm momentum afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    momenta = [(m, m.momentum) for m in bns]
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag
        for m, mom in momenta:
            m.momentum = mom


def _set_bn_for_estimation(model: nn.Module, bns: Sequence[nn.Module]) -> None:
    model.eval()
    for m in bns:  # only BatchNorm in train mode: dropout etc. stay deterministic
        m.train()


def _score(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Summed cross-entropy and misclassification count per point; logits ``[k, B, C]``.

    Each point's batch sum is taken in float32 (as in :func:`_score_one`) and returned
    as float64, the type the engine accumulates over batches in.
    """
    logits = logits.float()
    k, b = logits.shape[:2]
    ce = F.cross_entropy(logits.reshape(k * b, -1), y.repeat(k), reduction="none").view(k, b)
    return ce.sum(1).double(), (logits.argmax(-1) != y).sum(1).double()


def _score_one(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`_score` of one point, logits ``[B, C]``, in fewer small ops: 67–75 µs
    against 112–119 µs for ``_score(logits[None], y)`` on 1000 × 10 logits, one CPU
    thread — ~6% of an MNIST-1D MLP point in the ``loop`` mode."""
    logits = logits.float()
    return F.cross_entropy(logits, y, reduction="sum").double(), (logits.argmax(1) != y).sum()


class _Vmapped:
    """All points of a chunk in one call: ``vmap`` over the stacked states."""

    def __init__(self, model: nn.Module, bns: Sequence[nn.Module], device: torch.device) -> None:
        self.model, self.bns, self.device = model, bns, device
        self.forward = vmap(lambda s, x: functional_call(model, s, (x,)), in_dims=(0, None))

    def run(self, stacked, bn_batches, sets, loss, wrong, rows: slice) -> None:
        device = self.device
        if bn_batches:
            _set_bn_for_estimation(self.model, self.bns)
            for j, (x, _) in enumerate(bn_batches):
                for m in self.bns:
                    m.momentum = 1.0 / (j + 1)  # cumulative mean over the batches so far
                # The stacked buffers are updated in place, one slice per point.
                self.forward(stacked, x.to(device, non_blocking=True))
        self.model.eval()
        for name, batches in sets.items():
            for x, y in batches:
                y = y.to(device, non_blocking=True)
                ls, wr = _score(self.forward(stacked, x.to(device, non_blocking=True)), y)
                loss[name][rows] += ls
                wrong[name][rows] += wr


class _Looped:
    """``loop`` mode: one point at a time in a private copy of the model, whose tensors
    are overwritten with each point's, so every forward is a plain module call (no
    reparametrisation)."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model = copy.deepcopy(model).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.bns = batchnorm_modules(self.model)
        self.slots = self.model.state_dict(keep_vars=True)
        self.device = device

    def run(self, stacked, bn_batches, sets, loss, wrong, rows: slice) -> None:
        results = self._evaluate(stacked, rows.stop - rows.start, bn_batches, sets)
        index = torch.arange(rows.start, rows.stop, device=self.device)
        for name in sets:
            loss[name].index_add_(0, index, torch.stack([s[name][0] for s in results]).double())
            wrong[name].index_add_(0, index, torch.stack([s[name][1] for s in results]).double())

    def _evaluate(
        self, stacked, k: int, bn_batches, sets
    ) -> list[dict[str, tuple[Tensor, Tensor]]]:
        """``{set: (summed loss, errors)}`` of each point of a chunk, in order.

        Everything per chunk is resolved before the point loop: on tiny models the
        loop's Python work is a large share of a point's cost (``bench/RESULTS.md``).
        """
        dev = self.device
        slots = [(self.slots[name], t) for name, t in stacked.items()]
        bn = [x.to(dev, non_blocking=True) for x, _ in bn_batches]
        evals = {
            name: [(x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)) for x, y in batches]
            for name, batches in sets.items()
        }
        out = []
        for i in range(k):
            for slot, t in slots:
                slot.copy_(t[i])
            if bn:
                _set_bn_for_estimation(self.model, self.bns)
                for j, x in enumerate(bn):
                    for m in self.bns:
                        m.momentum = 1.0 / (j + 1)
                    self.model(x)
                self.model.eval()
            scores = {}
            for name, batches in evals.items():
                total = wrong = 0
                for x, y in batches:
                    ls, wr = _score_one(self.model(x), y)
                    total, wrong = total + ls, wrong + wr
                scores[name] = (total, wrong)
            out.append(scores)
        return out


@torch.no_grad()
def evaluate_points_multi(
    model: nn.Module,
    points: Points,
    datasets: Mapping[str, DataLike],
    *,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
    progress: Callable[[int], object] | None = None,
) -> dict[str, Evaluation]:
    """Loss and error of every point on each data set, in one pass over the data per chunk.

    Args:
        model: the architecture (a skeleton: its own weights are never used or changed;
            its train/eval flags and BatchNorm momenta are restored afterwards).
        points: the weight vectors (:class:`Points`).
        datasets: ``{name: data}``; each a tensor pair or an iterable of pairs.
        bn_policy: ``recompute`` (default), ``interpolate`` or ``none`` (docs/science.md).
        bn_data: training batches for ``recompute`` (no augmentation); needed only
            when the model has BatchNorm.
        batch_size: samples per batch when a data set is given as one tensor pair.
        chunk_size: points materialised together (0: chosen from the device, the
            mode and the state size); ``vmap`` evaluates a chunk in one call.
        mode: ``auto``, ``vmap`` or ``loop`` (same results; speed differs).
        progress: called with the number of points finished after each chunk.

    Under ``torchrun`` (:mod:`landscape.distributed`) rank ``r`` of ``R`` evaluates
    points ``r, r + R, …`` and every rank returns all ``K`` results, equal to one
    process's (bit for bit in the ``loop`` mode; ``vmap`` chunks differ, so to float
    rounding). Every rank must call with the same points.

    Returns:
        ``{name: Evaluation}`` with ``K`` losses and errors each.

    Raises:
        ValueError: unknown policy or mode, ``recompute`` without ``bn_data``, empty data.
        CheckpointError: a basis state does not fit ``model``.
    """
    if bn_policy not in BN_POLICIES:
        raise ValueError(f"unknown bn_policy {bn_policy!r}: use one of {', '.join(BN_POLICIES)}")
    check_states(model, {f"basis state {j}": s for j, s in enumerate(points.basis)})
    device = next(iter(points.basis[0].values())).device
    mode = resolve_mode(mode, model, device)
    bns = batchnorm_modules(model)
    recompute = bn_policy == "recompute" and bool(bns)
    bn_batches: list[Batch] = []
    if recompute:
        if bn_data is None:
            raise ValueError(
                "bn_policy='recompute' re-estimates BatchNorm statistics and needs bn_data: pass "
                "a few training batches (no augmentation), or choose bn_policy='interpolate'"
            )
        bn_batches = as_batches(bn_data, batch_size)
    sets = {name: as_batches(d, batch_size) for name, d in datasets.items()}
    if not sets:
        raise ValueError("no data set to evaluate on")
    max_rows = max(len(x) for batches in (*sets.values(), bn_batches) for x, _ in batches)
    # Under torchrun each rank evaluates points r, r + R, … (identical work per point).
    mine = distributed.my_indices(len(points))
    sharded = distributed.shard_world()[1] > 1
    local = points.subset(mine) if sharded else points
    report = _share_progress(progress, len(points), len(local)) if sharded else progress
    chunk = _chunk_size(chunk_size, mode, local, max_rows, device)
    loss, wrong = _sums(model, local, bns, bn_batches, sets, bn_policy, mode, chunk, device, report)
    if sharded:
        loss, wrong = _assemble_sums(len(points), loss), _assemble_sums(len(points), wrong)
    out = {}
    for name, batches in sets.items():
        total = sum(len(y) for _, y in batches)
        out[name] = Evaluation(
            losses=(loss[name] / total).cpu().numpy(),
            errors=(wrong[name] / total).cpu().numpy(),
            samples=total,
        )
    return out


def _sums(
    model: nn.Module,
    points: Points,
    bns: Sequence[nn.Module],
    bn_batches: list[Batch],
    sets: Mapping[str, list[Batch]],
    bn_policy: str,
    mode: str,
    chunk: int,
    device: torch.device,
    progress: Callable[[int], object] | None,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Summed loss and misclassifications of every point on each set (float64 on ``device``)."""
    bn_roles = batchnorm_buffers(model)
    n = len(points)
    loss = {name: torch.zeros(n, dtype=torch.float64, device=device) for name in sets}
    wrong = {name: torch.zeros(n, dtype=torch.float64, device=device) for name in sets}
    if n == 0:  # a rank with no share (fewer points than ranks)
        return loss, wrong
    with _modes(model, bns):
        if mode == "vmap":
            runner: _Vmapped | _Looped = _Vmapped(model, bns, device)
        else:
            runner = _Looped(model, device)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            stacked = points.materialize(
                start, stop, bn_policy=bn_policy, bn_buffers=bn_roles, device=device
            )
            runner.run(stacked, bn_batches, sets, loss, wrong, slice(start, stop))
            if progress is not None:
                progress(stop - start)
    return loss, wrong


def _assemble_sums(n: int, local: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every rank's per-point sums put back in point order (on the CPU, on every rank)."""
    names = list(local)
    rows = torch.stack([local[k].cpu() for k in names], 1) if names else torch.zeros(0, 0)
    full = torch.stack(distributed.assemble(n, list(rows.unbind(0))))
    return {k: full[:, i] for i, k in enumerate(names)}


def _share_progress(
    progress: Callable[[int], object] | None, n: int, mine: int
) -> Callable[[int], object] | None:
    """``progress`` counting all ``n`` points while this rank evaluates ``mine`` of them."""
    if progress is None:
        return None
    done = [0, 0]  # this rank's points finished, points reported

    def report(k: int) -> None:
        done[0] += k
        shown = n if done[0] >= mine else done[0] * n // max(1, mine)
        progress(shown - done[1])
        done[1] = shown

    return report


def evaluate_points(
    model: nn.Module,
    points: Points,
    data: DataLike,
    *,
    bn_policy: str = "recompute",
    bn_data: DataLike | None = None,
    batch_size: int = 1000,
    chunk_size: int = 0,
    mode: str = "auto",
    progress: Callable[[int], object] | None = None,
) -> Evaluation:
    """Loss and error of every point on one data set; see :func:`evaluate_points_multi`."""
    return evaluate_points_multi(
        model, points, {"data": data}, bn_policy=bn_policy, bn_data=bn_data,
        batch_size=batch_size, chunk_size=chunk_size, mode=mode, progress=progress,
    )["data"]  # fmt: skip
