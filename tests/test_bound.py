"""The flatness bound on the pruning ratio [PAUL §3.3] against exact references (docs/science.md §10).

References: the dense float64 Hessian of ``torch.autograd.functional.hessian`` over the
kept prunable weights of a tiny MLP trained under its mask (its eigenvalues give
``tr[(I + cH)^{-1}]`` exactly), ``landscape.pruning.prune`` for the projection lengths, an
average over random masks for random pruning's expectation, and diagonal operators
(where Rademacher probes are exact) for the non-positive eigenvalues. Then the adaptive
runner, the command and its empirical check on tiny runs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis.bound import (
    InverseTrace,
    bound_from_trace,
    flatness_bound,
    inverse_trace,
    kept_hessian,
    max_ratio,
    squared_projection,
)
from landscape.analysis.hessian import HessianOperator, quadrature_trace, slq
from landscape.pruning import prune
from landscape.specs import BoundSpec, CurvatureSpec
from tests._reference import dense_hessian
from tests._runs import run_method

F64 = torch.float64


def _tiny(train_steps: int = 300):
    """A 24-12-4 tanh MLP (336 prunable weights, 352 parameters), float64, trained under a 90%
    mask on 16 random samples; its kept Hessian (D = 308) has a few negative eigenvalues."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 12), nn.Tanh(), nn.Linear(12, 4)).to(F64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 24, generator=g, dtype=F64)
    y = torch.randint(0, 4, (16,), generator=g)
    params = dict(model.named_parameters())
    mask = {n: torch.rand(params[n].shape, generator=g) < 0.9 for n in ("0.weight", "2.weight")}
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=1e-3)
    for _ in range(train_steps):
        with torch.no_grad():
            for n, m in mask.items():
                params[n].mul_(m)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        for n, m in mask.items():
            params[n].mul_(m)
    return model, (x, y), mask


def _dense_kept(model: nn.Module, data, mask) -> torch.Tensor:
    """The exact Hessian of the mean cross-entropy over the kept prunable weights (biases fixed)."""
    h = dense_hessian(model, *data, names=list(mask))
    kept = torch.cat([mask[n].reshape(-1) for n in mask]).nonzero().squeeze(1)
    return h[kept][:, kept]


def _loss(model, data) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(data[0]), data[1]))


# --------------------------------------------------------------------------- (a) the trace


def test_exact_path_is_the_sum_over_the_dense_eigenvalues_and_slq_is_within_one_percent():
    model, data, mask = _tiny()
    ref = _dense_kept(model, data, mask)
    lam = torch.linalg.eigvalsh(ref).numpy()
    op = HessianOperator(model, data, params=list(mask), mask=mask)
    assert torch.allclose(kept_hessian(op), ref, rtol=0, atol=1e-12)
    # the columns in batched blocks of unit vectors (the default on a GPU), the same matrix
    blocks = HessianOperator(model, data, params=list(mask), mask=mask, block_size=7)
    assert torch.allclose(kept_hessian(blocks), ref, rtol=0, atol=1e-12)
    assert blocks.count == op.dim
    exact = inverse_trace(op, exact_below=op.dim)
    assert exact.method == "exact" and exact.hvps == op.dim
    for c in (0.0, 0.3, 7.0, 250.0):
        want = float(np.sum(1.0 / (1.0 + c * np.maximum(lam, 0.0))))
        assert abs(exact(c) - want) <= 1e-8 * want
    # SLQ (one quadrature for every c) at the c of each p*, where the bound is decided. Its
    # error has two parts: the Gauss quadrature's (gone by ~40 steps here; 20 steps were 5% low
    # at the random p*'s c) and the Rademacher probes' (2.5% and 4.4% a probe at these c).
    eps = _loss(model, data)
    star = bound_from_trace(exact, op.parameters_vector(), eps)
    est = inverse_trace(op, exact_below=0, probes=64, steps=40, seed=0, method="slq")
    assert est.method == "slq" and est.hvps == 64 * 40
    w = op.parameters_vector()
    for kind, p in star.p_star.items():
        c = float(squared_projection(w, [p], kind)[0]) / (2 * eps)
        assert c > 1  # the curvature matters here
        assert abs(est(c) - exact(c)) <= 0.01 * exact(c), kind
        assert abs(est(c) - exact(c)) <= 3 * est.stderr(c), kind


def test_the_averaged_rule_is_exact_to_degree_2m_minus_1_and_halves_the_gauss_error_at_the_kink():
    # A diagonal operator: Rademacher probes are exact there, so only the quadrature errs.
    diag = torch.linspace(-1.0, 3.0, 40, dtype=F64)
    for m in (2, 5, 9):
        quad = slq(lambda v: diag * v, 40, probes=1, steps=m, seed=0, dtype=F64, rule="averaged")
        assert quad.nodes.shape == (1, 2 * m - 1) and quad.weights.sum() == pytest.approx(1.0)
        for k in range(2 * m):  # exact for polynomials of degree ≤ 2m − 1 (Laurie 1996)
            got = quadrature_trace(quad, lambda t, k=k: t**k).value
            assert got == pytest.approx(float((diag**k).sum()), rel=1e-9, abs=1e-9), (m, k)
    # A planted Hessian-like spectrum: a decaying positive part 2/i and 35% tiny negative
    # eigenvalues, so f = 1/(1 + c·max(λ, 0)) has its kink inside the bulk. Against the exact
    # sum over the eigenvalues, at the same products, over 14 step counts and two c: the
    # averaged rule's mean error is well under the Gauss rule's (measured 0.39 and 0.52 of it).
    gen = np.random.default_rng(0)
    dim, npos = 3000, 1950
    lam = np.concatenate([2.0 / np.arange(1, npos + 1), -5e-3 * gen.random(dim - npos) ** 2])
    op, cs = torch.tensor(lam), np.array([1000.0, 3000.0])
    want = np.array([np.sum(1 / (1 + c * np.maximum(lam, 0))) for c in cs])
    err = {"gauss": [], "averaged": []}
    for m in range(30, 100, 5):
        for rule, e in err.items():
            quad = slq(lambda v: op * v, dim, probes=1, steps=m, seed=0, dtype=F64, rule=rule)
            est = InverseTrace.from_quadrature(quad, method="slq" if rule == "gauss" else rule)
            e.append(np.abs(est(cs) / want - 1))
    gauss, averaged = np.array(err["gauss"]), np.array(err["averaged"])  # steps × c
    assert np.all(averaged.mean(0) <= 0.6 * gauss.mean(0))
    assert np.all(averaged.max(0) <= 0.5 * gauss.max(0))


def test_the_averaged_estimator_beats_slq_at_equal_products_on_a_network():
    # The tiny MLP's exact kept Hessian (27% of its eigenvalues ≤ 0): p* from the averaged
    # rules against p* from Gauss rules, the same probes and products, three seeds each.
    model, data, mask = _tiny()
    lam = torch.linalg.eigvalsh(_dense_kept(model, data, mask)).numpy()
    eps = _loss(model, data)
    op = HessianOperator(model, data, params=list(mask), mask=mask)
    w = op.parameters_vector()
    want = bound_from_trace(InverseTrace.exact(lam), w, eps).p_star
    probes, steps = 16, 20
    err = {}
    for method in ("slq", "averaged"):
        errs = []
        for seed in range(3):
            tr = inverse_trace(op, exact_below=0, probes=probes, steps=steps, seed=seed,
                               method=method)  # fmt: skip
            assert tr.method == method and tr.hvps == probes * steps
            got = bound_from_trace(tr, w, eps).p_star
            errs.append(max(abs(got[k] - want[k]) for k in want))
        err[method] = float(np.mean(errs))
    # measured: 0.0237 → 0.0124 at 16 × 20 (and 0.0160 → 0.0093 at 16 × 30)
    assert err["averaged"] <= 0.75 * err["slq"], (probes, steps, err)


def test_the_trace_method_defaults_and_names():
    assert BoundSpec().trace_method == "averaged" and BoundSpec().trace_shape() == (2, 60)
    assert BoundSpec(trace_method="slq").trace_shape() == (16, 80)
    assert BoundSpec(trace_method="slq", probes=4).trace_shape() == (4, 80)
    with pytest.raises(ValueError, match="--trace-method"):
        BoundSpec(trace_method="deflated")
    with pytest.raises(ValueError, match="--probes ≥ 2"):
        BoundSpec(probes=1)
    with pytest.raises(ValueError, match="unknown trace method"):
        inverse_trace(HessianOperator(*_tiny(0)[:2]), exact_below=0, method="gauss")


def test_the_exact_path_is_taken_only_where_it_costs_no_more_products_by_default():
    # the exact path costs D products, the default estimator probes × steps
    probes, steps = BoundSpec().trace_shape()
    assert BoundSpec().exact_below == probes * steps
    with pytest.raises(ValueError, match="--exact-below"):
        BoundSpec(exact_below=-1)


# --------------------------------------------------------------------------- (b) the root


@pytest.mark.parametrize("method", ["exact", "slq", "averaged"])
def test_p_star_solves_its_equation(method):
    model, data, mask = _tiny()
    eps = _loss(model, data)
    res = flatness_bound(model, data, mask, eps, exact_below=10_000 if method == "exact" else 0,
                         probes=8, steps=40,
                         trace_method="slq" if method == "exact" else method)  # fmt: skip
    assert res.method == method
    w = HessianOperator(model, data, params=list(mask), mask=mask).parameters_vector()
    dim, tr = res.dim, res.trace
    for kind, p in res.p_star.items():
        assert 0.05 < p < 0.95, (kind, p)  # an interior root

        def margin(q: float, kind: str = kind) -> float:
            return float(tr(squared_projection(w, [q], kind) / (2 * eps))[0]) - q * dim

        assert abs(margin(p)) <= 1e-6 * dim  # both sides agree at the root
        assert abs(res.rhs_at_star[kind] - p * dim) <= 1e-6 * dim
        assert margin(p - 1e-6) > 0 > margin(p + 1e-6)  # holds just below, fails just above
    assert res.p_star["magnitude"] > res.p_star["random"]
    sweep = res.p_star_epsilon["magnitude"]
    assert sweep == sorted(sweep) and sweep[2] == res.p_star["magnitude"]  # ε × 1 is p*


def test_the_last_crossing_is_found_when_the_margin_is_not_monotone():
    # margin: + on [0, .3), − on (.3, .5), + on (.5, .7), − after: the last crossing is 0.7
    def trace(c):
        p = np.asarray(c)
        return np.where((p < 0.3) | ((p > 0.5) & (p < 0.7)), 2.0, 0.0) * 10 + p * 10 - 1e-9

    assert max_ratio(trace, lambda p: 2 * np.asarray(p), 10, 1.0) == pytest.approx(0.7, abs=1e-9)


# --------------------------------------------------------------------------- (c) R(p)


def test_magnitude_projection_is_prune_s_and_at_most_random_s():
    model, _, mask = _tiny()
    state = {n: p.detach() for n, p in model.named_parameters()}
    w = torch.cat([state[n][mask[n]] for n in mask])
    dim = len(w)
    grid = np.linspace(0, 1, 101)
    mag, rnd = squared_projection(w, grid, "magnitude"), squared_projection(w, grid, "random")
    assert np.all(mag <= rnd + 1e-15) and mag[0] == 0 and mag[-1] == pytest.approx(rnd[-1])
    for k in (1, 13, dim // 2, dim - 1):
        new = prune(state, mask, k / dim, "global")
        moved = sum(float((state[n][mask[n] & ~new[n]] ** 2).sum()) for n in mask)
        assert float(squared_projection(w, [k / dim], "magnitude")[0]) == pytest.approx(
            moved, rel=1e-12
        )
    # random pruning: the expectation p‖w‖² against an average over 400 random masks
    k = dim // 4
    samples = [sum(float((state[n][mask[n] & ~m[n]] ** 2).sum()) for n in mask)
               for m in (prune(state, mask, k / dim, "random", seed=s) for s in range(400))]  # fmt: skip
    want = float(squared_projection(w, [k / dim], "random")[0])
    se = np.std(samples, ddof=1) / math.sqrt(len(samples))
    assert abs(np.mean(samples) - want) <= 3 * se and abs(np.mean(samples) - want) <= 0.05 * want


# --------------------------------------------------------------------------- (d) λ ≤ 0


def test_nonpositive_eigenvalues_count_as_one():
    tr = InverseTrace.exact([-2.0, -0.5, 0.0, 1.0, 3.0])
    assert tr(2.0) == pytest.approx(3 + 1 / 3 + 1 / 7, rel=1e-15)
    # SLQ on a diagonal operator: Rademacher probes are exact, so is the quadrature at n steps
    diag = torch.tensor([-1.5, -0.2, 0.5, 2.0, 4.0, 7.0], dtype=F64)
    quad = slq(lambda v: diag * v, 6, probes=3, steps=6, seed=1, dtype=F64)
    assert (quad.nodes < 0).any()
    assert InverseTrace.from_quadrature(quad)(0.8) == pytest.approx(
        2 + sum(1 / (1 + 0.8 * d) for d in (0.5, 2, 4, 7)), rel=1e-10
    )
    # A real Hessian with negative eigenvalues: the untrained tiny MLP, exact path
    model, data, mask = _tiny(train_steps=0)
    lam = torch.linalg.eigvalsh(_dense_kept(model, data, mask)).numpy()
    assert lam.min() < -1e-3
    exact = inverse_trace(
        HessianOperator(model, data, params=list(mask), mask=mask), exact_below=10**4
    )
    c = 0.9 / -lam.min()  # the unclamped 1/(1 + cλ) would exceed 10 at λ_min
    want = float(np.sum(np.where(lam <= 0, 1.0, 1.0 / (1.0 + c * lam))))
    assert abs(exact(c) - want) <= 1e-8 * want
    assert exact.nonpositive_fraction == pytest.approx(np.mean(lam <= 0))
    # nothing positive: the inequality holds for every p, so p* = 1
    assert max_ratio(InverseTrace.exact([-1.0, 0.0]), lambda p: np.asarray(p), 2, 1.0) == 1.0


# --------------------------------------------------------------------------- (e) adaptive


# The pinned adaptive estimator's kind (slq), small: the default --adaptive-bound path.
CHEAP = BoundSpec(trace_method="slq", probes=2, steps=8, curvature=CurvatureSpec(samples=256))


def test_the_adaptive_runner_prunes_round_c_p_star_kept(tmp_path, monkeypatch):
    from landscape.runners import imp
    from landscape.runs import open_run

    monkeypatch.setattr(imp, "ADAPTIVE_BOUND", CHEAP)
    _, run_dir = run_method(tmp_path / "ad", method="imp-wr", levels=2, prune_ratio="adaptive",
                            adaptive_factor=0.5)  # fmt: skip
    run = open_run(run_dir, "cpu")
    data = run.data.tensors("train", 256)
    for level in (1, 2):
        m = json.loads((run_dir / f"level_{level:02d}" / "metrics.json").read_text())
        before = sum(int(v.sum()) for v in run.mask(level - 1).values())
        after = sum(int(v.sum()) for v in run.mask(level).values())
        assert m["adaptive_factor"] == 0.5 and m["prune_ratio_used"] == 0.5 * m["p_star"]
        assert before - after == round(0.5 * m["p_star"] * before) > 0
        # p* is the bound at w^(L-1) with the default ε rule (the dense training loss)
        model = run.model()
        model.load_state_dict(run.weights(level - 1))
        res = flatness_bound(model, data, run.mask(level - 1), m["p_star_epsilon"], probes=2,
                             steps=8, exact_below=CHEAP.exact_below,
                             trace_method=CHEAP.trace_method, kinds=("magnitude",),
                             factors=())  # fmt: skip
        assert res.p_star["magnitude"] == pytest.approx(m["p_star"], rel=1e-9)
        model.load_state_dict(run.weights(0))
        with torch.no_grad():
            dense_loss = float(nn.functional.cross_entropy(model(data[0]), data[1]))
        assert m["p_star_epsilon"] == pytest.approx(dense_loss, rel=1e-6)


def test_adaptive_bound_averaged_uses_its_own_estimator_and_names_the_run(tmp_path, monkeypatch):
    from landscape.hparams import RunConfig
    from landscape.runners import imp
    from landscape.runs import open_run

    cheap = BoundSpec(trace_method="averaged", probes=2, steps=8, exact_below=50,
                      curvature=CurvatureSpec(samples=256))  # fmt: skip
    monkeypatch.setattr(imp, "ADAPTIVE_BOUND", CHEAP)  # must not be used
    monkeypatch.setattr(imp, "ADAPTIVE_BOUND_AVERAGED", cheap)
    _, run_dir = run_method(tmp_path / "av", method="imp-wr", levels=1, prune_ratio="adaptive",
                            adaptive_bound="averaged")  # fmt: skip
    run = open_run(run_dir, "cpu")
    m = json.loads((run_dir / "level_01" / "metrics.json").read_text())
    model = run.model()
    model.load_state_dict(run.weights(0))
    res = flatness_bound(model, run.data.tensors("train", 256), run.mask(0), m["p_star_epsilon"],
                         probes=2, steps=8, exact_below=50, trace_method="averaged",
                         kinds=("magnitude",), factors=())  # fmt: skip
    assert res.p_star["magnitude"] == pytest.approx(m["p_star"], rel=1e-9)
    # the decoy (slq, same probes and seed) gives another p*: the test tells them apart
    decoy = flatness_bound(model, run.data.tensors("train", 256), run.mask(0), m["p_star_epsilon"],
                           probes=2, steps=8, exact_below=50, trace_method="slq",
                           kinds=("magnitude",), factors=())  # fmt: skip
    assert decoy.p_star["magnitude"] != pytest.approx(m["p_star"], rel=1e-6)
    assert m["p_star_method"] == res.method
    slq = RunConfig().replace(prune_ratio="adaptive")
    assert slq.replace(adaptive_bound="averaged").hash() != slq.hash()
    with pytest.raises(ValueError, match="--adaptive-bound applies with --prune-ratio adaptive"):
        RunConfig().replace(adaptive_bound="averaged")


def test_adaptive_settings_are_checked():
    from landscape.hparams import RunConfig

    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="--adaptive-factor"):
            RunConfig().replace(prune_ratio="adaptive", adaptive_factor=bad)
    with pytest.raises(ValueError, match="--prune-ratio adaptive"):
        RunConfig().replace(adaptive_factor=0.5)
    assert RunConfig().replace(prune_ratio="fixed").hash() == RunConfig().hash()


# --------------------------------------------------------------------------- (f, g) the verb


TINY = dict(data="synthetic", levels=2, length="2ep", milestones="1ep", eval_every="1ep")
FAST = ["--samples", "256", "--probes", "2", "--steps", "8", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    _, run_dir = run_method(tmp_path_factory.mktemp("bound") / "run", method="imp-wr", **TINY)
    return run_dir


def test_the_verb_runs_end_to_end_and_reuses_its_results(tiny_run, capsys):
    from landscape.cli import main

    assert main(["bound", str(tiny_run), "--all-levels", *FAST]) == 0
    out = capsys.readouterr().out
    assert "p* magnitude" in out and "dense-train-loss" in out
    folders = sorted(tiny_run.glob("level_0*/analysis/bound_*"))
    assert len(folders) == 3
    summary = next(tiny_run.glob("level_00/analysis/bound-levels_*"))
    rec = json.loads((summary / "result.json").read_text())
    assert [r["level"] for r in rec["levels"]] == [0, 1, 2]
    assert rec["levels"][0]["actual_ratio"] == pytest.approx(0.2, abs=1e-3)  # from the masks
    one = json.loads((folders[1] / "result.json").read_text())
    assert one["epsilon_rule"] == "dense-train-loss" and one["method"] == "averaged"
    assert one["settings"]["trace"] == {"method": "averaged", "probes": 2, "steps": 8}
    assert len(one["p_star_epsilon"]["random"]) == 5 and (folders[1] / "bound.png").exists()
    assert (summary / "levels.png").exists()
    stamps = [(f / "result.json").stat().st_mtime_ns for f in folders]
    assert main(["bound", str(tiny_run), "--all-levels", *FAST]) == 0
    assert "reusing" in capsys.readouterr().out
    assert stamps == [(f / "result.json").stat().st_mtime_ns for f in folders]
    # another ε is another result, recorded as given
    assert main(["bound", str(tiny_run), "--level", "1", "--epsilon", "0.5", *FAST]) == 0
    assert "(given)" in capsys.readouterr().out
    # the estimator before 2026-12-07 hashes its settings as it did then: its folders keep
    # their names, apart from the default's
    assert main(["bound", str(tiny_run), "--level", "1", "--trace-method", "slq", *FAST]) == 0
    recs = [json.loads((f / "result.json").read_text())
            for f in tiny_run.glob("level_01/analysis/bound_*")]  # fmt: skip
    (slq,) = (r for r in recs if r["method"] == "slq")
    assert slq["settings"]["trace"] == {"method": "slq", "probes": 2, "steps": 8}
    assert slq["hvps"] == 16 and slq["p_star"] != one["p_star"]


def test_the_verb_refuses_bad_input(tiny_run, capsys):
    from landscape.cli import main

    assert main(["bound", str(tiny_run), "--level", "7", *FAST]) == 2
    assert "trained levels" in capsys.readouterr().err
    assert main(["bound", str(tiny_run), "--ratios", "0.5,1.2", *FAST]) == 2
    assert "(0, 1)" in capsys.readouterr().err


def test_empirical_writes_and_reuses_its_retrainings(tiny_run, capsys):
    from landscape.cli import main
    from landscape.plotting.bound import plot_bound_empirical

    argv = ["bound", str(tiny_run), "--level", "1", "--empirical", "--ratios", "0.3,0.6", *FAST]
    assert main(argv) == 0
    assert "empirical maximal ratio" in capsys.readouterr().out
    (folder,) = tiny_run.glob("level_01/analysis/bound-empirical_*")
    rec = json.loads((folder / "result.json").read_text())
    assert rec["retrained_now"] == 4 and rec["ratios"] == [0.3, 0.6]
    files = sorted(tiny_run.glob("level_01/analysis/bound-retrain_*/*.safetensors"))
    assert len(files) == 8  # 2 ratios × (magnitude, random) × (weights, mask)
    kept = sum(int(m.sum()) for m in _mask(tiny_run, 1).values())
    assert rec["magnitude"]["kept"] == rec["random"]["kept"] == [kept - round(0.3 * kept),
                                                                  kept - round(0.6 * kept)]  # fmt: skip
    for k in ("magnitude", "random"):
        assert rec[k]["matching"] == [e <= rec["threshold"] for e in rec[k]["test_error"]]
    assert (folder / "empirical.png").exists()
    plot_bound_empirical(folder)
    stamps = [f.stat().st_mtime_ns for f in files]
    assert main(argv) == 0 and "reusing" in capsys.readouterr().out
    # other evaluation settings re-measure the same retrained networks
    assert main([*argv, "--tolerance", "0.5"]) == 0
    (other,) = (f for f in tiny_run.glob("level_01/analysis/bound-empirical_*") if f != folder)
    assert json.loads((other / "result.json").read_text())["retrained_now"] == 0
    assert stamps == [f.stat().st_mtime_ns for f in files]


def _mask(run_dir, level):
    from landscape.runs import open_run

    return open_run(run_dir, "cpu").mask(level)


@pytest.mark.slow
def test_workers_give_the_same_retrainings(tiny_run, tmp_path):
    import shutil

    from landscape.checkpoint import load_state
    from landscape.jobs.bound import bound

    spec = dict(
        empirical=True, ratios="0.5", probes=2, steps=8, curvature=CurvatureSpec(samples=256)
    )
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    for p in copy.glob("level_*/analysis"):
        shutil.rmtree(p)
    a = bound(tiny_run, BoundSpec(**spec), levels=[1], quiet=True, log=lambda _: None)
    b = bound(copy, BoundSpec(**spec, workers=2), levels=[1], quiet=True, log=lambda _: None)
    assert b.record["retrained_now"] == 2
    for fa in a.record["retrained"]:
        sa = load_state(fa)
        sb = load_state(copy / "level_01" / fa.split("level_01/")[1])
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
