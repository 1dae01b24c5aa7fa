"""Curvature of the pruning direction [PAUL §3.3]: κ against the dense float64 Hessian, the random
masks' size and support, and ``landscape curvature`` end to end on a tiny run (reuse included)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscape import paths
from landscape.analysis.curvature import curvature, pruning_direction, random_masks
from landscape.cli import main
from landscape.errors import LandscapeError
from landscape.jobs.curvature import curvature as curvature_job
from landscape.pruning import prune
from landscape.specs import CurvatureSpec, DirectionCurvatureSpec
from tests._reference import dense_hessian
from tests._runs import run_method

F64 = torch.float64


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 4)).to(F64)  # 160 parameters


def _bn_net() -> nn.Module:
    """Conv + BatchNorm with non-trivial running statistics (the Hessian must use eval mode)."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv1d(1, 3, 3, padding=1), nn.BatchNorm1d(3), nn.Tanh(), nn.Flatten(),
                        nn.Linear(24, 4)).to(F64)  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2, 0.1]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.7, 2.0]))
    return net


def _level(model: nn.Module, seed: int = 3) -> dict[str, torch.Tensor]:
    """A level-like state: a random mask m_L on the weight tensors, weights zeroed off it."""
    g = torch.Generator().manual_seed(seed)
    mask = {n: torch.rand(p.shape, generator=g) < 0.7 for n, p in model.named_parameters()
            if n.endswith("weight") and p.dim() > 1}  # fmt: skip
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in mask:
                p.mul_(mask[n])
    return mask


def _full(model: nn.Module, direction: dict[str, torch.Tensor]) -> torch.Tensor:
    zero = {n: torch.zeros(p.shape, dtype=F64) for n, p in model.named_parameters()}
    return torch.cat([{**zero, **direction}[n].reshape(-1) for n in zero])


@pytest.mark.parametrize(("make", "method"), [(_mlp, "cached"), (_bn_net, "double-backward")])
def test_kappa_equals_the_dense_hessians_rayleigh_quotient(make, method):
    model = make()
    g = torch.Generator().manual_seed(0)
    shape = (40, 8) if isinstance(model[0], nn.Linear) else (40, 1, 8)
    x, y = torch.randn(*shape, generator=g, dtype=F64), torch.randint(0, 4, (40,), generator=g)
    mask = _level(model)
    weights = {n: p.detach() for n, p in model.named_parameters()}
    magnitude = prune(weights, mask, 0.3)
    res = curvature(model, (x, y), mask, magnitude, random=3, seed=5, method=method)
    H = dense_hessian(model, x, y)
    for kappa, m in zip((res.kappa_magnitude, *res.kappa_random), (magnitude, *res.masks)):
        d = _full(model, pruning_direction(weights, mask, m))
        assert kappa == pytest.approx(float(d @ H @ d / (d @ d)), rel=1e-10, abs=1e-13)
    d = _full(model, pruning_direction(weights, mask, magnitude))
    assert res.norm_magnitude == pytest.approx(float(d.norm()), rel=1e-12)
    assert res.quad_magnitude == pytest.approx(float(d @ H @ d), rel=1e-10, abs=1e-13)
    assert res.hvp_count == 4 and res.num_params == H.shape[0]
    rec = res.to_dict()
    assert rec["kappa_random_mean"] == pytest.approx(np.mean(rec["kappa_random"]))
    assert rec["kappa_random_std"] == pytest.approx(np.std(rec["kappa_random"], ddof=1))
    assert rec["kappa_ratio"] == pytest.approx(res.kappa_magnitude / rec["kappa_random_mean"])
    assert rec["random_flatter"] == sum(k < res.kappa_magnitude for k in res.kappa_random)


def test_the_direction_is_minus_w_on_the_removed_weights_only():
    w = {"a": torch.tensor([1.0, -2.0, 0.0, 4.0])}
    m = {"a": torch.tensor([True, True, False, True])}
    nxt = {"a": torch.tensor([False, True, False, True])}
    assert pruning_direction(w, m, nxt)["a"].tolist() == [-1.0, 0.0, 0.0, 0.0]


def test_random_masks_remove_exactly_the_magnitude_count_inside_m_L():
    model = _mlp()
    mask = _level(model)
    weights = {n: p.detach() for n, p in model.named_parameters()}
    magnitude = prune(weights, mask, 0.2)
    kept = sum(int(m.sum()) for m in mask.values())
    removed = kept - sum(int(m.sum()) for m in magnitude.values())
    draws = random_masks(mask, removed, 6, seed=11)
    for r in draws:
        assert sum(int(v.sum()) for v in r.values()) == kept - removed
        assert all(not bool((r[n] & ~mask[n]).any()) for n in mask)  # inside m_L
        assert {n: v.shape for n, v in r.items()} == {n: v.shape for n, v in mask.items()}
    flat = [torch.cat([r[n].reshape(-1) for n in mask]) for r in draws]
    assert len({tuple(f.tolist()) for f in flat}) == 6  # six different masks
    again = random_masks(mask, removed, 6, seed=11)
    assert all(torch.equal(a[n], b[n]) for a, b in zip(draws, again) for n in mask)
    with pytest.raises(ValueError, match="remove between"):
        random_masks(mask, kept, 1, seed=0)


def test_masks_that_do_not_nest_or_remove_nothing_are_refused():
    model = _mlp()
    mask = _level(model)
    x, y = torch.randn(4, 8, dtype=F64), torch.tensor([0, 1, 2, 3])
    with pytest.raises(LandscapeError, match="removes no weight"):
        curvature(model, (x, y), mask, mask)
    grown = {n: torch.ones_like(m) for n, m in mask.items()}
    with pytest.raises(ValueError, match="masks only"):
        curvature(model, (x, y), mask, grown)
    with pytest.raises(ValueError, match="--random-masks"):
        DirectionCurvatureSpec(random_masks=0)


# ------------------------------------------------------------------ the job and the verb


FAST = DirectionCurvatureSpec(random_masks=3, curvature=CurvatureSpec(samples=128, dtype="float64"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curv") / "wr"
    run_method(out, data="synthetic", method="imp-wr", levels=2, length="2ep", milestones="1ep",
               eval_every="2ep", rewind_step="5")  # fmt: skip
    return out


def test_verb_all_levels_then_reuse(run_dir: Path, capsys):
    args = ["curvature", str(run_dir), "--all-levels", "--random-masks", "3", "--samples", "128",
            "--dtype", "float64", "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "κ magnitude" in out and "across levels" in out
    recs = []
    for level in (0, 1):  # level 2 is the last: no next mask
        (res,) = sorted(
            (paths.level_dir(run_dir, level) / "analysis").glob("curvature_*/result.json")
        )
        for name in ("result.npz", "curvature.png", "report.md"):
            assert (res.parent / name).exists()
        rec = json.loads(res.read_text())
        recs.append(rec)
        assert rec["next_mask"] == f"level_{level + 1:02d}/mask.safetensors"
        assert len(rec["kappa_random"]) == 3 and rec["hvp_count"] == 4
        assert rec["num_samples"] == 128 and rec["num_removed"] == round(0.2 * rec["num_kept"])
        assert rec["next_remaining"] == pytest.approx(0.8 ** (level + 1), abs=1e-3)
    (summary,) = (paths.level_dir(run_dir, 0) / "analysis").glob("curvature-levels_*")
    assert (summary / "levels.png").exists()
    srec = json.loads((summary / "result.json").read_text())
    assert [r["kappa_magnitude"] for r in srec["levels"]] == [r["kappa_magnitude"] for r in recs]
    # the same settings again: every result reused, nothing recomputed
    res = curvature_job(run_dir, FAST, levels="all", quiet=True, log=lambda _: None)
    assert res.reused and all(c.reused for c in res.children)
    assert res.folder == summary


def test_the_last_level_is_pruned_by_magnitude_here(run_dir: Path):
    res = curvature_job(run_dir, FAST, quiet=True, log=lambda _: None)  # the last level
    assert res["level"] == 2 and res["next_mask"] == "global magnitude, fraction 0.2"
    assert res["num_removed"] == round(0.2 * res["num_kept"]) and res["kappa_magnitude"] > 0
    assert res.folder.parent == paths.level_dir(run_dir, 2) / "analysis"


def test_all_levels_without_a_next_mask_says_what_to_do(tmp_path: Path):
    out = tmp_path / "dense"
    run_method(out, data="synthetic", method="dense", levels=0, length="1ep", eval_every="1ep",
               milestones="1ep")  # fmt: skip
    with pytest.raises(LandscapeError, match="--level 0"):
        curvature_job(out, FAST, levels="all", quiet=True, log=lambda _: None)
    with pytest.raises(LandscapeError, match="not a level's weights"):
        curvature_job(out / "rewind.safetensors", FAST, quiet=True, log=lambda _: None)
