"""Curvature beyond the top eigenvalues: per-layer blocks, GGN and empirical Fisher, Hutch++,
and the overlap of top-k eigenspaces across levels, each against an exact reference."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from landscape import paths
from landscape.checkpoint import save_state
from landscape.cli import main
from landscape.data import load_data
from landscape.hessian import (
    HessianOperator,
    eigenspace_overlap,
    hutchinson,
    hutchpp,
    overlap_matrix,
    param_groups,
    spectrum,
)
from landscape.jobs.hessian import hessian_overlap, load_eigenvectors
from landscape.models import create_model
from landscape.settings import digest
from landscape.specs import HessianSpec
from tests._reference import dense_hessian
from tests._runs import untrained_two_level_run

F64 = torch.float64


# ------------------------------------------------------------------------ exact references
def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A float64 network with a BatchNorm in eval mode (non-trivial running statistics)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3)).to(F64)
    net[1].running_mean.normal_()
    net[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(40, 4, dtype=F64)
    y = torch.randint(0, 3, (40,))
    return net.eval(), x, y


def _flat_fn(model: nn.Module, names: list[str]):
    """``w ↦ {name: tensor}`` for flat vectors over ``names``, and the flat point."""
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in names]

    def parts(w: torch.Tensor) -> dict[str, torch.Tensor]:
        out, i = {}, 0
        for n, s in zip(names, shapes):
            k = math.prod(s)
            out[n] = w[i : i + k].view(s)
            i += k
        return out

    rest = {**{n: p.detach() for n, p in params.items() if n not in names},
            **dict(model.named_buffers())}  # fmt: skip
    flat = torch.cat([params[n].detach().reshape(-1) for n in names])
    return (lambda w, x: functional_call(model, {**rest, **parts(w)}, (x,))), flat


def dense_ggn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(1/N) Σ_i J_iᵀ (diag p_i − p_i p_iᵀ) J_i``: the output Jacobian by autograd, the
    softmax cross-entropy's Hessian in the logits written out."""
    names = [n for n, _ in model.named_parameters()]
    f, w = _flat_fn(model, names)
    jac = torch.autograd.functional.jacobian(lambda v: f(v, x), w)  # N × C × P
    p = torch.softmax(f(w, x), dim=1).detach()
    h_out = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)  # N × C × C
    return torch.einsum("ncp,ncd,ndq->pq", jac, h_out, jac) / x.shape[0]


def dense_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(1/N) Σ_i g_i g_iᵀ`` from per-sample gradients (``vmap`` of ``grad``)."""
    names = [n for n, _ in model.named_parameters()]
    f, w = _flat_fn(model, names)

    def loss(v, xi, yi):
        return nn.functional.cross_entropy(f(v, xi.unsqueeze(0)), yi.unsqueeze(0))

    g = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(w, x, y)  # N × P
    return g.T @ g / x.shape[0]


def _dense(model, x, y, curvature: str) -> torch.Tensor:
    if curvature == "hessian":
        return dense_hessian(model, x, y)
    return dense_ggn(model, x, y) if curvature == "ggn" else dense_fisher(model, x, y)


def _kept_index(model: nn.Module, mask: dict[str, torch.Tensor] | None, names=None) -> torch.Tensor:
    params = dict(model.named_parameters())
    names = names or list(params)
    keep = [mask[n].reshape(-1) if mask and n in mask else torch.ones(params[n].numel(), dtype=torch.bool)
            for n in names]  # fmt: skip
    return torch.cat(keep).nonzero().squeeze(1)


def _some_mask(model: nn.Module) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return {n: torch.rand(p.shape, generator=gen) > 0.3 for n, p in model.named_parameters()
            if p.dim() > 1}  # fmt: skip


def _operator_matrix(op: HessianOperator) -> torch.Tensor:
    return torch.stack([op(e) for e in torch.eye(op.dim, dtype=F64)], dim=1)


# ------------------------------------------------------------------------ GGN, Fisher
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher"])
def test_curvature_operator_equals_dense_reference(curvature: str, masked: bool):
    net, x, y = _tiny()
    mask = _some_mask(net) if masked else None
    op = HessianOperator(net, (x, y), mask=mask, chunk_size=16, curvature=curvature)  # 3 chunks
    ref = _dense(net, x, y, curvature)
    idx = _kept_index(net, mask)
    ref = ref[idx][:, idx]
    got = _operator_matrix(op)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    if curvature != "hessian":
        assert op.method == "jvp-vjp"
        assert torch.linalg.eigvalsh(ref).min() > -1e-12  # both are positive semi-definite
    else:
        assert not torch.allclose(ref, dense_ggn(net, x, y)[idx][:, idx])  # a real difference


@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher"])
def test_block_products_multiply_by_the_chosen_curvature(curvature: str):
    # matmat's batched passes (the bound's and SLQ's) must not fall back to the Hessian
    net, x, y = _tiny()
    op = HessianOperator(net, (x, y), chunk_size=16, curvature=curvature, block_size=4)
    eye = torch.eye(op.dim, dtype=F64)
    torch.testing.assert_close(
        op.matmat(eye).T, _dense(net, x, y, curvature), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher"])
def test_every_spectrum_quantity_follows_the_curvature(curvature: str):
    """Top-k, trace (Hutch++ with 3·dim products is exact) and density moments, each
    against the dense float64 matrix."""
    net, x, y = _tiny()
    ref = _dense(net, x, y, curvature)
    dim = ref.shape[0]
    evals = torch.linalg.eigvalsh(ref).flip(0).numpy()
    s = spectrum(net, (x, y), top_k=3, trace_probes=3 * dim, density=True, density_steps=dim,
                 curvature=curvature, trace_method="hutchpp", tol=1e-9, max_steps=dim)  # fmt: skip
    np.testing.assert_allclose(s.eigenvalues, evals[:3], rtol=1e-7)
    assert s.trace == pytest.approx(float(torch.trace(ref)), rel=1e-9)
    assert s.settings["curvature"] == curvature and s.settings["trace_method"] == "hutchpp"
    # SLQ with as many steps as the dimension: its nodes are eigenvalues of the matrix
    q = s.quadrature
    nodes = q.nodes[q.weights > 1e-12]
    gap = np.abs(nodes[:, None] - evals[None, :]).min(axis=1)
    assert nodes.size >= 3 and gap.max() < 1e-8 * abs(evals).max()


def test_ggn_equals_hessian_for_a_linear_model():
    """A network linear in its weights has J's curvature zero: GGN = H exactly."""
    torch.manual_seed(1)
    net = nn.Linear(4, 3).to(F64)
    x, y = torch.randn(30, 4, dtype=F64), torch.randint(0, 3, (30,))
    h = _operator_matrix(HessianOperator(net, (x, y)))
    g = _operator_matrix(HessianOperator(net, (x, y), curvature="ggn"))
    torch.testing.assert_close(g, h, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------ per-layer blocks
@pytest.mark.parametrize("masked", [False, True])
def test_layer_blocks_equal_dense_diagonal_blocks(masked: bool):
    net, x, y = _tiny()
    mask = _some_mask(net) if masked else None
    full = dense_hessian(net, x, y)
    names = [n for n, _ in net.named_parameters()]
    start = {}
    i = 0
    for n, p in net.named_parameters():
        start[n] = (i, i + p.numel())
        i += p.numel()
    for group, members in param_groups(net, "layer").items():
        idx = torch.cat([torch.arange(*start[n]) for n in members])
        keep = _kept_index(net, mask, members)
        block = full[idx][:, idx][keep][:, keep]
        torch.testing.assert_close(block, dense_hessian(net, x, y, members)[keep][:, keep])
        op = HessianOperator(net, (x, y), params=members, mask=mask)
        torch.testing.assert_close(_operator_matrix(op), block, rtol=1e-10, atol=1e-12)
        k = min(2, op.dim)
        s = spectrum(net, (x, y), top_k=k, params=members, mask=mask, tol=1e-9,
                     max_steps=op.dim, trace_probes=3 * op.dim, trace_method="hutchpp")  # fmt: skip
        ref = torch.linalg.eigvalsh(block).flip(0)[:k].numpy()
        np.testing.assert_allclose(s.eigenvalues, ref, rtol=1e-7, err_msg=group)
        assert s.trace == pytest.approx(float(torch.trace(block)), rel=1e-9)
    assert names  # the groups covered the network


# ------------------------------------------------------------------------ Hutch++
def _decaying(dim: int = 120, seed: int = 0) -> torch.Tensor:
    """A symmetric PSD matrix with eigenvalues 1/i², i = 1..dim, in a random basis."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=F64))
    return (q * (1.0 / torch.arange(1, dim + 1, dtype=F64) ** 2)) @ q.T


def test_hutchpp_has_lower_variance_than_hutchinson_at_equal_products():
    a = _decaying()
    exact = float(torch.trace(a))
    products, trials = 30, 200
    plain = np.array([hutchinson(lambda v: a @ v, a.shape[0], products, seed=s, dtype=F64).value
                      for s in range(trials)])  # fmt: skip
    plus = np.array([hutchpp(lambda v: a @ v, a.shape[0], products, seed=s, dtype=F64).value
                     for s in range(trials)])  # fmt: skip
    # both unbiased (within 4 standard errors of the mean over the trials) ...
    for est in (plain, plus):
        assert abs(est.mean() - exact) < 4 * est.std(ddof=1) / math.sqrt(trials)
    # ... and the sketch takes the decaying spectrum's head exactly: far smaller spread
    assert plus.var(ddof=1) < 0.25 * plain.var(ddof=1)


def test_hutchpp_is_exact_on_a_low_rank_matrix():
    gen = torch.Generator().manual_seed(5)
    b = torch.randn(50, 4, generator=gen, dtype=F64)
    a = b @ b.T  # rank 4 ≤ products // 3
    est = hutchpp(lambda v: a @ v, 50, 12, seed=1, dtype=F64)
    assert est.value == pytest.approx(float(torch.trace(a)), rel=1e-10)
    assert est.stderr == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="at least 4"):
        hutchpp(lambda v: a @ v, 50, 3)


# ------------------------------------------------------------------------ overlap
def _vecs(columns: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    return [{"w": c.reshape(2, 3)} for c in columns.T]


def test_overlap_of_planted_subspaces():
    e = torch.eye(6, dtype=F64)
    theta = 0.4
    a = _vecs(torch.stack([e[0], e[1]], 1))
    b = _vecs(torch.stack([math.cos(theta) * e[0] + math.sin(theta) * e[2], e[1]], 1))
    o = eigenspace_overlap(a, b)
    assert o.overlap == pytest.approx((math.cos(theta) ** 2 + 1) / 2)
    assert o.raw == pytest.approx(o.overlap) and o.k == 2 and o.chance == pytest.approx(2 / 6)
    # b's network pruned coordinate 2: on the weights both keep, b spans e0, e1 — a's span
    mask_b = {"w": torch.tensor([1, 1, 0, 1, 1, 1], dtype=torch.bool).reshape(2, 3)}
    o = eigenspace_overlap(a, b, None, mask_b)
    assert o.overlap == pytest.approx(1.0)
    assert o.raw == pytest.approx((math.cos(theta) ** 2 + 1) / 2)
    assert o.retained_b == pytest.approx((math.cos(theta) ** 2 + 1) / 2)
    assert o.common == 5
    # the same subspace in another basis, and an orthogonal one
    rot = torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=F64)
    assert eigenspace_overlap(
        a, _vecs(torch.stack([e[0], e[1]], 1) @ rot)
    ).overlap == pytest.approx(1.0)
    assert eigenspace_overlap(a, _vecs(torch.stack([e[3], e[4]], 1))).overlap == pytest.approx(0.0)
    m = overlap_matrix([a, b, a])
    np.testing.assert_allclose(np.diag(m["overlap"]), 1.0)
    np.testing.assert_allclose(m["overlap"], m["overlap"].T)
    with pytest.raises(ValueError, match="one architecture"):
        eigenspace_overlap(a, [{"v": e[0]}])


# ------------------------------------------------------------------------ settings
def test_default_settings_keep_their_folder_names():
    """Digests of default settings from before --curvature/--trace-method/--params/--overlap."""
    assert digest(HessianSpec().hashed("level_03")) == "b01f078b24"
    spec = HessianSpec(trace=True, masked=True, groups="layer")
    assert digest(spec.hashed("level_03")) == "03f9a31ad0"
    # --overlap keeps the eigenvectors: the level's folder is --eigenvectors' folder
    assert digest(HessianSpec(overlap=True).hashed("level_03")) == "273b899301"
    assert digest(HessianSpec(curvature="ggn").hashed("level_03")) != "b01f078b24"
    assert HessianSpec(trace=True, trace_method="hutchpp").hashed("x")["trace_method"] == "hutchpp"
    with pytest.raises(ValueError, match="regular expression"):
        HessianSpec(params="(")
    with pytest.raises(ValueError, match="probes"):
        HessianSpec(trace=True, trace_method="hutchpp", probes=3)


# ------------------------------------------------------------------------ the verb
@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A two-level run of the MLP on synthetic data, level 1 magnitude-pruned by 30%."""
    return untrained_two_level_run(tmp_path / "run", 0.3)


FAST = ["--top-k", "2", "--samples", "64", "--dtype", "float64", "--quiet"]


def _summary(run: Path) -> tuple[dict, Path]:
    found = sorted((paths.level_dir(run, 0) / "analysis").glob("hessian-levels_*/result.json"))
    assert len(found) == 1
    return json.loads(found[0].read_text()), found[0].parent


def test_all_levels_per_layer_overlap_masked(run_dir: Path, capsys):
    args = ["hessian", str(run_dir), "--all-levels", "--masked", "--per-layer", "--overlap",
            "--params", r"^5\.", "--trace", "--probes", "6", "--trace-method", "hutchpp", *FAST]  # fmt: skip
    assert main(args) == 0
    rec, folder = _summary(run_dir)
    for name in ("levels.png", "layers.png", "overlap.png", "report.md", "result.npz"):
        assert (folder / name).exists(), name
    report = (folder / "report.md").read_text()
    assert "Per layer, against the level" in report and "Overlap of the top-k" in report
    # a row per level and group: the three layers and the regex group
    assert [g["group"] for g in rec["levels"][0]["groups"]] == ["1", "3", "5", r"/^5\./"]
    # the masked per-layer block of the last layer equals the dense Hessian's block
    from landscape.runs import open_run

    run = open_run(run_dir, device="cpu")
    model = create_model("mlp", (40,), 10, seed=0).to(F64)
    model.load_state_dict(run.weights(1))
    x, y = load_data("synthetic").tensors("train", 64)
    members = ["5.weight", "5.bias"]
    mask = run.mask(1)
    keep = _kept_index(model, {n: mask[n].bool() for n in members if n in mask}, members)
    block = dense_hessian(model.eval(), x.to(F64), y, members)[keep][:, keep]
    g5 = next(g for g in rec["levels"][1]["groups"] if g["group"] == "5")
    assert g5["num_kept"] == keep.numel()
    np.testing.assert_allclose(g5["eigenvalues"], torch.linalg.eigvalsh(block).flip(0)[:2].numpy(),
                               rtol=1e-3)  # fmt: skip
    regex = next(g for g in rec["levels"][1]["groups"] if g["group"] == r"/^5\./")
    assert regex["eigenvalues"] == pytest.approx(g5["eigenvalues"], rel=1e-3)
    # the overlap matrix: symmetric, 1 on the diagonal, and what the saved vectors give
    m = np.array(rec["overlap"]["overlap"], dtype=float)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-8)
    np.testing.assert_allclose(m, m.T)
    assert ((m >= -1e-12) & (m <= 1 + 1e-12)).all()
    level_folders = sorted(
        p.parent for lv in (0, 1)
        for p in (paths.level_dir(run_dir, lv) / "analysis").glob("hessian_*/result.json")
    )  # fmt: skip
    again = hessian_overlap(level_folders)
    np.testing.assert_allclose(again["overlap"], m, atol=1e-12)
    vectors, kept = load_eigenvectors(level_folders[1])
    assert len(vectors) == 2 and kept is not None and "5.weight" in kept
    assert rec["overlap"]["successive"] == pytest.approx([m[0, 1]])
    # per-layer trace across levels: Hutch++ recorded
    lv = json.loads((level_folders[0] / "result.json").read_text())
    assert lv["settings"]["trace_method"] == "hutchpp" and lv["trace_probes"] == 6


def test_curvature_flag_and_bad_input(run_dir: Path, capsys):
    assert main(["hessian", str(run_dir), "--level", "0", "--curvature", "ggn", *FAST]) == 0
    found = sorted((paths.level_dir(run_dir, 0) / "analysis").glob("hessian_*/result.json"))
    rec = json.loads(found[0].read_text())
    assert rec["settings"]["curvature"] == "ggn" and rec["hvp_method"] == "jvp-vjp"
    assert "Gauss-Newton" in (found[0].parent / "report.md").read_text()
    assert main(["hessian", str(run_dir), "--level", "0", "--overlap", *FAST]) == 2
    assert "--all-levels" in capsys.readouterr().err
    assert main(["hessian", str(run_dir), "--level", "0", "--params", "nothing", *FAST]) == 2
    assert "matches no parameter" in capsys.readouterr().err


# ------------------------------------------------------------------------ under torchrun
def _sharded_spectrum() -> tuple:
    net, x, y = _tiny()
    s = spectrum(net, (x, y), top_k=2, trace_probes=9, trace_method="hutchpp", curvature="ggn",
                 density=True, density_probes=2, density_steps=6, seed=4)  # fmt: skip
    return s.eigenvalues, s.trace, s.trace_samples, s.quadrature.nodes, s.hvp_count


def _worker(rank: int, world: int, port: int, results) -> None:
    from landscape import distributed
    from tests._ranks import torchrun_env

    torchrun_env(rank, world, port)
    torch.set_num_threads(1)
    assert distributed.init_from_env(torch.device("cpu"))
    try:
        results[rank] = _sharded_spectrum()
    finally:
        distributed.shutdown()


def test_hutchpp_and_ggn_on_two_ranks_give_the_one_process_numbers(monkeypatch):
    from tests._ranks import free_port, spawn

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ranks = spawn(_worker, 2, free_port())
    ref = _sharded_spectrum()
    for got in ranks.values():
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-10)
        assert got[1] == pytest.approx(ref[1], rel=1e-12)
        np.testing.assert_allclose(got[2], ref[2], rtol=1e-12)
        np.testing.assert_allclose(got[3], ref[3], rtol=1e-10)
        assert got[4] == ref[4]  # one process's product counts, the Hutch++ trace's included


def test_eigenvectors_with_the_mask_inline_are_read(tmp_path):
    # results written before mask.safetensors kept the mask as "mask/<name>" keys
    v = torch.arange(6, dtype=F64).reshape(2, 3)
    m = torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=torch.uint8)
    save_state(tmp_path / "eigenvectors.safetensors", {"0/w": v, "1/w": 2 * v, "mask/w": m})
    vectors, mask = load_eigenvectors(tmp_path)
    assert [t["w"].tolist() for t in vectors] == [v.tolist(), (2 * v).tolist()]
    assert mask is not None and torch.equal(mask["w"], m.bool())
