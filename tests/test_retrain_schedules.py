"""Exact learning rates of the [ZIMMER] retraining schedules (docs/science.md), phase shares, epoch splits.

The original schedule used throughout: N = 100 steps, 0.1 until step 50, 0.01 until
step 75, then 0.001 (a step schedule), so η_max = 0.1 and η_min = 0.001.
"""

from __future__ import annotations

import math

import pytest
import torch

from landscape.training.retrain_schedules import (
    RETRAIN_SCHEDULES,
    allr_initial_lr,
    epoch_split,
    half_cosine_warmup,
    phase_fraction,
    relative_norm_drop,
    retrain_lr_curve,
    retrain_schedule,
    schedule_bounds,
    warmup_steps,
)

N = 100
ORIG = [0.1] * 50 + [0.01] * 25 + [0.001] * 25
# The same with a 10-step linear warm-up in front (the first 10 LRs are 0.01 .. 0.1).
ORIG_WARM = [0.1 * (t + 1) / 10 for t in range(10)] + ORIG[10:]


def test_warmup_length_is_a_tenth_floored_and_zero_for_ft_lrw():
    for n_rt, w in [(1, 0), (9, 0), (10, 1), (25, 2), (99, 9), (100, 10), (1234, 123)]:
        for name in ("slr", "clr", "llr", "allr"):
            assert warmup_steps(name, n_rt) == w
        assert warmup_steps("ft", n_rt) == 0
        assert warmup_steps("lrw", n_rt) == 0


@pytest.mark.parametrize("name", ["slr", "clr", "llr"])
def test_half_cosine_warmup_from_zero_to_eta_max(name):
    f = retrain_schedule(name, 40, ORIG)  # W = 4
    assert f(0) == 0.0
    assert f(1) == pytest.approx(0.1 * (1 - math.cos(math.pi / 4)) / 2, rel=1e-15)
    assert f(2) == pytest.approx(0.05, rel=1e-15)
    assert f(3) == pytest.approx(0.1 * (1 - math.cos(3 * math.pi / 4)) / 2, rel=1e-15)
    assert f(4) == pytest.approx(0.1, rel=1e-15)  # first step after the warm-up: η_max


def test_half_cosine_warmup_formula():
    assert half_cosine_warmup(0, 8, 0.3) == 0.0
    assert half_cosine_warmup(4, 8, 0.3) == pytest.approx(0.15)
    assert half_cosine_warmup(8, 8, 0.3) == pytest.approx(0.3)


def test_ft_is_constant_eta_min_ignoring_the_original_warmup():
    assert schedule_bounds(ORIG_WARM, 10) == (0.1, 0.001)
    assert schedule_bounds(ORIG_WARM, 0) == (0.1, 0.001)
    # With a warm-up whose first LR is below the schedule's minimum, η_min must skip it.
    tiny_warm = [1e-5, *ORIG[1:]]
    assert schedule_bounds(tiny_warm, 1)[1] == 0.001
    assert schedule_bounds(tiny_warm, 0)[1] == 1e-5
    f = retrain_schedule("ft", 37, tiny_warm, original_warmup=1)
    assert {f(k) for k in range(38)} == {0.001}


def test_lrw_replays_the_tail_of_the_original_schedule():
    f = retrain_schedule("lrw", 30, ORIG)  # η(70 + k)
    assert [f(k) for k in range(30)] == ORIG[70:]
    assert f(4) == 0.01 and f(5) == 0.001
    # A phase longer than the original run: indices before step 0 take η(0) [ours].
    g = retrain_schedule("lrw", 120, ORIG_WARM)
    assert [g(k) for k in range(20)] == [ORIG_WARM[0]] * 20
    assert [g(k) for k in range(20, 120)] == ORIG_WARM


def test_slr_compresses_the_original_schedule_after_warmup():
    f = retrain_schedule("slr", 50, ORIG)  # W = 5, R = 45, j -> η(floor(100 j / 45))
    assert f(5) == 0.1  # j = 0
    assert f(5 + 22) == 0.1  # floor(2200/45) = 48
    assert f(5 + 23) == 0.01  # floor(2300/45) = 51
    assert f(5 + 33) == 0.01  # floor(3300/45) = 73
    assert f(5 + 34) == 0.001  # floor(3400/45) = 75
    assert f(49) == 0.001
    # Brute force: every step against the definition.
    for j in range(45):
        assert f(5 + j) == ORIG[(j * N) // 45]


def test_slr_replaces_the_original_warmup_by_eta_max():
    f = retrain_schedule("slr", 100, ORIG_WARM, original_warmup=10)  # W = 10, R = 90
    # j = 0..8 map to original steps 0..8 (warm-up): η_max, not the ramp.
    assert [f(10 + j) for j in range(9)] == [0.1] * 9
    g = retrain_schedule(
        "slr", 100, ORIG_WARM, original_warmup=0
    )  # the ramp is kept when not declared
    assert g(10) == pytest.approx(0.01)


def test_clr_cosine_from_eta_max_to_eta_min():
    f = retrain_schedule("clr", 100, ORIG)  # W = 10, R = 90
    assert f(10) == pytest.approx(0.1, rel=1e-15)
    assert f(55) == pytest.approx((0.1 + 0.001) / 2, rel=1e-14)  # j = R/2
    assert f(100) == pytest.approx(0.001, rel=1e-12)  # end value (one step past the last)
    assert f(99) == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi * 89 / 90)) / 2)
    assert f(99) > 0.001


def test_llr_linear_from_eta_max_to_zero():
    f = retrain_schedule("llr", 100, ORIG)  # W = 10, R = 90
    for j in (0, 1, 45, 89):
        assert f(10 + j) == pytest.approx(0.1 * (1 - j / 90), rel=1e-14)
    assert f(100) == 0.0


def test_allr_clips_at_both_bounds_and_passes_values_between():
    # η_max 0.1, N_rt 10 of N 100 -> lo = 0.01; s = 0.64 -> √s = 0.8.
    low = allr_initial_lr(0.04, 0.64, 0.1, 10, 100)
    assert low.raw == pytest.approx(0.005) and low.eta0 == pytest.approx(0.01)
    assert low.lo == pytest.approx(0.01) and low.clipped == "lo"
    mid = allr_initial_lr(0.4, 0.64, 0.1, 10, 100)
    assert mid.eta0 == pytest.approx(0.05) and mid.clipped == "none"
    high = allr_initial_lr(0.9, 0.64, 0.1, 10, 100)
    assert high.raw == pytest.approx(0.1125) and high.eta0 == 0.1 and high.clipped == "hi"
    # Retraining at least as long as training: lo = η_max, so η_0 = η_max whatever the drop.
    assert allr_initial_lr(0.0, 0.5, 0.1, 150, 100).eta0 == pytest.approx(0.1)
    assert allr_initial_lr(0.0, 0.5, 0.1, 100, 100).lo == pytest.approx(0.1)


def test_allr_schedule_warms_up_to_eta0_then_decays_linearly():
    f = retrain_schedule("allr", 20, ORIG, eta0=0.05)  # W = 2, R = 18
    assert f(0) == 0.0
    assert f(1) == pytest.approx(0.025)
    assert f(2) == pytest.approx(0.05)
    assert f(11) == pytest.approx(0.05 * (1 - 9 / 18))
    assert f(20) == 0.0
    with pytest.raises(ValueError, match="eta0"):
        retrain_schedule("allr", 20, ORIG)


def test_short_phases_have_no_warmup():
    f = retrain_schedule("llr", 5, ORIG)  # W = 0
    assert f(0) == 0.1
    assert retrain_lr_curve("llr", 5, ORIG) == pytest.approx([0.1, 0.08, 0.06, 0.04, 0.02])


def test_relative_norm_drop_against_a_brute_force_flat_vector():
    g = torch.Generator().manual_seed(0)
    params = {
        "fc.weight": torch.randn(4, 3, generator=g),
        "fc.bias": torch.randn(4, generator=g),
        "bn.weight": torch.randn(4, generator=g),
        "bn.bias": torch.randn(4, generator=g),
    }
    mask = {"fc.weight": torch.rand(4, 3, generator=g) > 0.5}
    theta = torch.cat([p.flatten() for p in params.values()]).double()
    pruned = dict(params, **{"fc.weight": params["fc.weight"] * mask["fc.weight"]})
    theta_p = torch.cat([p.flatten() for p in pruned.values()]).double()
    expected = float((theta - theta_p).norm() / theta.norm())
    assert relative_norm_drop(params, mask) == pytest.approx(expected, rel=1e-12)
    assert relative_norm_drop(params, {"fc.weight": torch.ones(4, 3, dtype=torch.bool)}) == 0.0


def test_phase_fraction_reaches_the_goal_sparsity():
    assert phase_fraction(0.9, 1) == pytest.approx(0.9)
    assert phase_fraction(0.875, 3) == pytest.approx(0.5)
    for s, j in [(0.9, 2), (0.98, 5), (0.5, 7)]:
        frac = phase_fraction(s, j)
        assert (1 - frac) ** j == pytest.approx(1 - s)
    for bad in [(0.0, 2), (1.0, 2), (0.9, 0)]:
        with pytest.raises(ValueError):
            phase_fraction(*bad)


def test_epoch_split_gives_the_remainder_to_the_last_phase():
    assert epoch_split(10, 3) == [3, 3, 4]
    assert epoch_split(9, 3) == [3, 3, 3]
    assert epoch_split(11, 3) == [3, 3, 5]
    assert epoch_split(2, 3) == [0, 0, 2]
    assert epoch_split(0, 2) == [0, 0]
    assert epoch_split(7, 1) == [7]
    with pytest.raises(ValueError, match="levels"):
        epoch_split(10, 0)
    with pytest.raises(ValueError, match="retrain-epochs"):
        epoch_split(-1, 2)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="use one of ft, lrw"):
        retrain_schedule("cosine", 10, ORIG)
    with pytest.raises(ValueError, match="at least one step"):
        retrain_schedule("ft", 0, ORIG)
    with pytest.raises(ValueError, match="no steps"):
        retrain_schedule("ft", 10, [])
    with pytest.raises(ValueError, match="warm-up"):
        retrain_schedule("ft", 10, ORIG, original_warmup=100)
    with pytest.raises(ValueError, match=r"s in \(0, 1\)"):
        allr_initial_lr(0.1, 0.0, 0.1, 10, 100)
    with pytest.raises(ValueError, match="norm drop"):
        allr_initial_lr(float("nan"), 0.5, 0.1, 10, 100)


def test_every_schedule_stays_within_zero_and_eta_max():
    for name in RETRAIN_SCHEDULES:
        lrs = retrain_lr_curve(name, 57, ORIG_WARM, original_warmup=10, eta0=0.03)
        assert len(lrs) == 57
        assert all(0.0 <= v <= 0.1 + 1e-15 for v in lrs), name


# ------------------------------------------------ figures: `landscape plot schedules|oneshot`


def test_plot_schedules_writes_the_json_it_draws(tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    from landscape.cli import main
    from landscape.plotting.schedules import plot_schedules

    out = tmp_path / "s.png"
    flags = ["plot", "schedules", "--data", "synthetic", "--length", "4ep", "--milestones",
             "2ep,3ep", "--retrain-epochs", "2", "--norm-drop", "0.2", "--out", str(out)]  # fmt: skip
    assert main(flags) == 0
    assert out.stat().st_size > 0
    res = json.loads(out.with_suffix(".json").read_text())
    original = [0.1] * 20 + [0.01] * 10 + [0.001] * 10  # 10 steps an epoch, 4 epochs
    assert res["original"]["lr"] == pytest.approx(original)
    assert res["allr"]["fraction"] == pytest.approx(0.9)  # one-shot by default: s = S
    assert res["allr"]["raw"] == pytest.approx(0.1 * 0.2 / math.sqrt(0.9))
    for name in RETRAIN_SCHEDULES:
        expected = retrain_lr_curve(name, 20, original, eta0=res["allr"]["eta0"])
        assert res["schedules"][name]["step"] == list(range(20))
        assert res["schedules"][name]["lr"] == pytest.approx(expected, rel=1e-5)
    fig, axes = plot_schedules(res)
    assert len(axes) == 2 and len(axes[1].get_lines()) == len(RETRAIN_SCHEDULES)
    assert main(["plot", "oneshot", str(tmp_path / "missing.json")]) == 2


def test_plot_oneshot_draws_one_panel_per_sparsity():
    import matplotlib

    matplotlib.use("Agg")
    from landscape.plotting.oneshot import plot_oneshot

    curves = [
        {"sparsity": s, "schedule": name, "budgets": [1, 2, 4], "mean": [0.5, 0.6, 0.7],
         "std": [0.01, 0.02, 0.01]}
        for s in (0.98, 0.9) for name in ("ft", "allr")
    ]  # fmt: skip
    res = {"settings": {"seeds": [0, 1, 2]}, "dense": {"mean": 0.8, "std": 0.01},
           "pruned": [{"sparsity": 0.9, "mean": 0.3, "std": 0.0}], "curves": curves}  # fmt: skip
    fig, axes = plot_oneshot(res)
    assert [ax.get_title() for ax in axes] == ["one-shot, 90% sparsity", "one-shot, 98% sparsity"]
    assert len(axes[0].get_lines()) == 2 + 2  # two schedules, dense, pruned
    assert len(axes[1].get_lines()) == 2 + 1
