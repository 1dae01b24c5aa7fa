"""Sharpness (``landscape sharpness``): known answers on quadratics, the job and the verb.

On ``ℓ(w + δ) = ℓ(w) + gᵀδ + ½ δᵀAδ`` the measures have closed forms
(:mod:`landscape.analysis.sharpness`): average ``ρ² tr(A_m)/(2d)``, worst ``½ λ_max(A_m) ρ²``
at a minimum and ``ρ‖g‖`` for a linear loss; adaptive replaces ``A`` by ``TAT``,
``T = diag|w|``. Everything in float64.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from landscape.analysis.sharpness import model_loss_terms, sharpness

from ._runs import run_method


def _quadratic(dim: int, seed: int, decay: float = 0.6):
    """A PSD matrix with eigenvalues ``decay**i`` (gap 1/decay at the top) and a point."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    eig = decay ** torch.arange(dim, dtype=torch.float64)
    a = q @ torch.diag(eig) @ q.T
    w = torch.randn(dim, generator=g, dtype=torch.float64) + 2.0
    return a, w


def _loss_at_minimum(a, w_star):
    return lambda p: 0.5 * (p["w"] - w_star) @ a @ (p["w"] - w_star)


@pytest.mark.parametrize("masked", [False, True])
def test_quadratic_at_a_minimum_matches_the_closed_forms(masked):
    a, w = _quadratic(12, seed=1)
    mask = torch.ones(12)
    if masked:
        mask[[1, 4, 7]] = 0
        w = w * mask  # pruned coordinates are 0, as in a level's weights
    keep = mask.bool()
    a_m = a[keep][:, keep]
    t = torch.diag(w[keep].abs())
    d = int(keep.sum())
    res = sharpness({"w": w}, _loss_at_minimum(a, w), mask={"w": mask} if masked else None,
                    radii=(0.1, 0.3), adaptive_radii=(0.2,), pairs=400, steps=60, seed=3)  # fmt: skip
    assert res.num_kept == d and res.loss == pytest.approx(0.0, abs=1e-15)
    lam = float(torch.linalg.eigvalsh(a_m)[-1])
    lam_t = float(torch.linalg.eigvalsh(t @ a_m @ t)[-1])
    for r, avg, se, worst in zip(res.radii, res.average, res.average_stderr, res.worst):
        assert worst == pytest.approx(0.5 * lam * r**2, rel=1e-6)
        expected = r**2 * float(torch.trace(a_m)) / (2 * d)
        assert se > 0 and abs(avg - expected) < 4 * se
        assert abs(avg - expected) / expected < 0.1
    r = res.adaptive_radii[0]
    assert res.adaptive_worst[0] == pytest.approx(0.5 * lam_t * r**2, rel=1e-6)
    expected = r**2 * float(torch.trace(t @ a_m @ t)) / (2 * d)
    assert abs(res.adaptive_average[0] - expected) < 4 * res.adaptive_average_stderr[0]


def test_worst_case_never_leaves_the_ball_and_is_at_least_the_average():
    a, w = _quadratic(8, seed=2, decay=0.9)
    res = sharpness({"w": w}, _loss_at_minimum(a, w), radii=(0.5,), pairs=50, steps=5)
    assert res.worst[0] <= 0.5 * float(torch.linalg.eigvalsh(a)[-1]) * 0.25 + 1e-12
    assert res.worst[0] >= res.average[0]


def test_linear_loss_worst_case_is_rho_times_the_gradient_norm_and_average_zero():
    g = torch.tensor([3.0, -4.0, 0.0, 12.0], dtype=torch.float64)  # ‖g‖ = 13
    w = torch.tensor([1.0, 2.0, 0.5, -1.0], dtype=torch.float64)
    res = sharpness({"w": w}, lambda p: g @ p["w"], radii=(0.1, 1.0),
                    adaptive_radii=(0.5,), pairs=3, steps=2)  # fmt: skip
    assert res.worst == pytest.approx((1.3, 13.0), rel=1e-12)  # SAM's first step is exact
    assert res.average == pytest.approx((0.0, 0.0), abs=1e-12)  # antithetic pairs cancel gᵀδ
    assert res.adaptive_worst[0] == pytest.approx(0.5 * float((g * w.abs()).norm()), rel=1e-12)


def test_adaptive_sharpness_is_invariant_to_rescaling_what_the_loss_ignores():
    # ℓ(u, v) = ½ (u·v − 1)²: (u, v) → (cu, v/c) leaves ℓ alone; adaptive sharpness too,
    # plain sharpness not (Kwon et al. 2021, §3).
    def loss(p):
        return 0.5 * ((p["u"] * p["v"]).sum() - 1.0) ** 2

    def at(c):
        u = torch.tensor([0.5 * c, 0.25 * c], dtype=torch.float64)
        v = torch.tensor([1.0 / c, 2.0 / c], dtype=torch.float64)
        return sharpness({"u": u, "v": v}, loss, radii=(0.1,), adaptive_radii=(0.1,),
                         pairs=20, steps=30, seed=0)  # fmt: skip

    one, ten = at(1.0), at(10.0)
    assert ten.adaptive_worst[0] == pytest.approx(one.adaptive_worst[0], rel=1e-9)
    assert ten.adaptive_average[0] == pytest.approx(one.adaptive_average[0], rel=1e-9)
    assert ten.worst[0] > 5 * one.worst[0]


def test_model_terms_sum_to_the_mean_loss_in_eval_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.BatchNorm1d(7),
                                torch.nn.ReLU(), torch.nn.Linear(7, 3)).double()  # fmt: skip
    model[1].running_mean.normal_()
    x, y = torch.randn(23, 5, dtype=torch.float64), torch.randint(0, 3, (23,))
    params, terms = model_loss_terms(model, (x, y), chunk_size=5)
    assert len(terms) == 5 and model.training
    model.eval()
    with torch.no_grad():
        want = float(torch.nn.functional.cross_entropy(model(x), y))
    model.train()
    assert float(sum(t(params) for t in terms)) == pytest.approx(want, rel=1e-12)
    assert model.training  # left as it was


def test_model_sharpness_on_masked_weights_leaves_pruned_coordinates_alone():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                                torch.nn.Linear(6, 2)).double()  # fmt: skip
    mask = {"0.weight": (torch.rand(6, 4) > 0.5).double(), "2.weight": torch.ones(2, 6)}
    with torch.no_grad():
        model[0].weight.mul_(mask["0.weight"])
    x, y = torch.randn(30, 4, dtype=torch.float64), torch.randint(0, 2, (30,))
    params, terms = model_loss_terms(model, (x, y), chunk_size=7)
    res = sharpness(params, terms, mask=mask, radii=(0.05,), adaptive_radii=(0.1,), pairs=4,
                    steps=4)  # fmt: skip
    kept = int(mask["0.weight"].sum()) + 12 + 6 + 2
    assert res.num_kept == kept
    assert all(math.isfinite(v) for v in (*res.average, *res.worst, *res.adaptive_worst))
    assert res.worst[0] >= 0 and res.gradient_evaluations == 2 * 4
    json.dumps(res.to_dict())


@pytest.mark.parametrize("bad", [dict(radii=(0.0,)), dict(radii=(), adaptive_radii=()),
                                 dict(pairs=0), dict(radii=(float("nan"),))])  # fmt: skip
def test_bad_arguments_say_what_to_do(bad):
    w = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError):
        sharpness({"w": w}, lambda p: (p["w"] ** 2).sum(), **bad)


# ------------------------------------------------------------------ the job and the verb


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharp") / "wr"
    run_method(out, data="synthetic", method="imp-wr", levels=2, length="2ep", milestones="1ep",
               eval_every="2ep", rewind_step="5")  # fmt: skip
    return out


def test_verb_all_levels_then_reuse(run_dir, capsys):
    from landscape import paths
    from landscape.cli import main
    from landscape.jobs.sharpness import sharpness as sharpness_job
    from landscape.pruning import density
    from landscape.runs import open_run
    from landscape.specs import SharpnessSpec

    args = ["sharpness", str(run_dir), "--all-levels", "--radii", "0.05,0.2", "--adaptive-radii",
            "0.1", "--pairs", "2", "--steps", "3", "--samples", "128", "--dtype", "float64",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "adaptive worst" in out and "across levels" in out
    run = open_run(run_dir)
    recs = []
    for level in (0, 1, 2):
        (res,) = (paths.level_dir(run_dir, level) / "analysis").glob("sharpness_*/result.json")
        for name in ("result.npz", "sharpness.png", "report.md"):
            assert (res.parent / name).exists()
        rec = json.loads(res.read_text())
        recs.append(rec)
        mask = run.mask(level)
        other = sum(p.numel() for n, p in run.model().named_parameters() if n not in mask)
        assert rec["num_kept"] == sum(int(m.sum()) for m in mask.values()) + other
        assert rec["weights_remaining"] == pytest.approx(density(mask))
        assert rec["radii"] == [0.05, 0.2] and rec["adaptive_radii"] == [0.1]
        assert rec["num_samples"] == 128 and rec["gradient_evaluations"] == 3 * 3
        assert rec["worst"][1] >= rec["worst"][0] >= 0  # a larger ball holds the smaller
        assert rec["command"] == "landscape " + " ".join(args)  # for `landscape report`
    (summary,) = (paths.level_dir(run_dir, 0) / "analysis").glob("sharpness-levels_*")
    assert (summary / "levels.png").exists()
    srec = json.loads((summary / "result.json").read_text())
    assert [r["worst"] for r in srec["levels"]] == [r["worst"] for r in recs]
    spec = SharpnessSpec(radii="0.05,0.2", adaptive_radii="0.1", pairs=2, steps=3, samples=128,
                         dtype="float64")  # fmt: skip
    res = sharpness_job(run_dir, spec, levels="all", quiet=True, log=lambda _: None)
    assert res.reused and all(c.reused for c in res.children) and res.folder == summary


def test_a_particle_or_rewind_point_without_a_mask_moves_every_parameter(run_dir):
    from landscape.jobs.sharpness import sharpness as sharpness_job
    from landscape.specs import SharpnessSpec

    spec = SharpnessSpec(radii="0.1", adaptive_radii="", pairs=1, steps=2, samples=64)
    res = sharpness_job(run_dir / "rewind.safetensors", spec, quiet=True, log=lambda _: None)
    assert not res["masked"] and res["adaptive_worst"] == [] and res["level"] is None
    assert "command" not in res.record  # made through the Python API, not by a verb
    assert res.folder.parent == run_dir / "analysis"


@pytest.mark.parametrize("flags, message", [
    (["--radii", "-1"], "--radii"),
    (["--radii", "", "--adaptive-radii", ""], "nothing to measure"),
    (["--level", "7"], "level 7"),
])  # fmt: skip
def test_verb_bad_input_is_one_line(run_dir, capsys, flags, message):
    from landscape.cli import main

    assert main(["sharpness", str(run_dir), "--quiet", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_loss_that_turns_nan_inside_the_ball_is_refused_not_written():
    from landscape.errors import LandscapeError

    w = torch.full((4,), 0.2, dtype=torch.float64)
    with pytest.raises(LandscapeError, match="smaller radii"):
        sharpness({"w": w}, lambda p: torch.log(1 - (p["w"] ** 2).sum()), radii=(5.0,),
                  pairs=2, steps=2)  # fmt: skip
