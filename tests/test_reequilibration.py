"""Re-equilibration [PAUL §3.4]: every number against hand-computed values on a hand-made run
directory, and ``landscape reequilibration`` end to end on IMP-WR/LRR/FT runs (reuse included)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import paths
from landscape.analysis.reequilibration import histogram_edges, level_stats
from landscape.checkpoint import save_json, save_state
from landscape.cli import main
from landscape.data import load_data
from landscape.errors import LandscapeError
from landscape.hparams import RunConfig
from landscape.jobs.reequilibration import reequilibration
from landscape.models import create_model
from landscape.runs import prepare_run_dir
from landscape.specs import ReequilibrationSpec
from tests._runs import run_method

QUIET = dict(log=lambda _: None)


def F32(x: float) -> float:
    """``x`` as the float32 a weights file stores, read back as a float."""
    return float(np.float32(x))


# Five weights a..e in three tensors; m_0 keeps them all, m_1 = {a, b, d}, m_2 = {a, b}.
SPOTS = {"a": ("1.weight", (0, 0)), "b": ("1.weight", (3, 7)), "c": ("3.weight", (2, 2)),
         "d": ("3.weight", (50, 1)), "e": ("5.weight", (9, 99))}  # fmt: skip
PRUNABLE = ("1.weight", "3.weight", "5.weight")
LEVELS = [  # (kept by m_L, w^(L) on them)
    ("abcde", {"a": 0.5, "b": -2.0, "c": 0.1, "d": 3.0, "e": -0.05}),
    ("abd", {"a": 0.9, "b": -1.0, "d": 0.08}),
    ("ab", {"a": 0.05, "b": -1.5}),
]


@pytest.fixture
def hand_run(tmp_path: Path) -> Path:
    """Three levels of the MNIST-1D MLP whose prunable weights are 0 but for LEVELS."""
    cfg = RunConfig().replace(data="synthetic", model="mlp", levels=2, prune_fraction=0.4)
    out = prepare_run_dir(cfg, out=tmp_path / "hand")
    data = load_data("synthetic")
    base = create_model("mlp", data.in_shape, data.num_classes, seed=0).state_dict()
    for level, (kept, values) in enumerate(LEVELS):
        state = {k: v.clone() for k, v in base.items()}
        mask = {n: torch.zeros_like(state[n], dtype=torch.uint8) for n in PRUNABLE}
        for n in mask:
            state[n].zero_()
        for name in kept:
            t, ix = SPOTS[name]
            mask[t][ix] = 1
            state[t][ix] = values[name]
        save_state(paths.weights(out, level), state)
        save_state(paths.mask(out, level), mask)
        save_json(paths.metrics(out, level), {"level": level, "density": len(kept) / 15000})
    return out


def test_every_number_matches_the_hand_computed_values(hand_run: Path):
    res = reequilibration([hand_run], ReequilibrationSpec(bins=2), **QUIET)
    assert res.folder == next((hand_run / "analysis").glob("reequilibration_*"))
    (entry,) = res["runs"]
    l0, l1 = entry["levels"]
    assert (l0["level"], l1["level"]) == (0, 1) and entry["prune_fraction"] == 0.4
    # level 0 → 1: m_1 removes c (0.1) and e (0.05); threshold t_0 = 0.1
    assert (l0["num_kept"], l0["num_removed"]) == (3, 2) and l0["threshold"] == F32(0.1)
    assert l0["kept_fraction"] == 3 / 15000
    assert l0["below_projection"] == 0.0 and l0["below_retrained"] == pytest.approx(1 / 3)  # d
    norm0 = math.sqrt(0.5**2 + 2**2 + 0.1**2 + 3**2 + 0.05**2)
    assert l0["projection_length"] == pytest.approx(math.hypot(0.1, 0.05) / norm0, rel=1e-6)
    assert l0["projection_length_without_retraining"] is None  # no level -1
    # k = round(0.4 · 3) = 1: retrained smallest d, projection smallest a → no overlap
    assert l0["removed_overlap"] == 0.0 and l0["overlap_chance"] == pytest.approx(1 / 3)
    # level 1 → 2: m_2 removes d (0.08); a falls to 0.05 < 0.08
    assert (l1["num_kept"], l1["num_removed"]) == (2, 1) and l1["threshold"] == F32(0.08)
    assert l1["below_projection"] == 0.0 and l1["below_retrained"] == 0.5
    assert l1["projection_length"] == pytest.approx(0.08 / math.sqrt(0.81 + 1 + 0.0064), rel=1e-6)
    # without retraining level 1: p = m_1 ⊙ w^(0) = (0.5, -2, 3), one smallest weight (a) removed
    assert l1["projection_length_without_retraining"] == pytest.approx(
        0.5 / math.sqrt(0.25 + 4 + 9), rel=1e-6
    )
    assert l1["removed_overlap"] == 1.0 and l1["overlap_chance"] == 0.5  # both rank a smallest
    # shared edges over log10 0.05 … log10 3, widened to 0.1 decade: [-1.4, -0.45, 0.5]
    np.testing.assert_allclose(res["bin_edges"], [-1.4, -0.45, 0.5])
    assert l0["hist_projection"] == [0, 3] and l0["hist_retrained"] == [1, 2]
    assert l1["hist_projection"] == [0, 2] and l1["hist_retrained"] == [1, 1]
    assert l0["median_log10_projection"] == pytest.approx(math.log10(2), rel=1e-6)
    assert l0["median_log10_retrained"] == pytest.approx(math.log10(0.9), rel=1e-6)
    npz = res.arrays
    np.testing.assert_allclose(npz["run0_hist_retrained"], [[1, 2], [1, 1]])
    for name in ("reequilibration.png", "histograms.png", "report.md"):
        assert (res.folder / name).exists()
    # reused while the files stay; a rewritten level file makes a new result
    assert reequilibration([hand_run], ReequilibrationSpec(bins=2), **QUIET).reused
    state = {k: v.clone() for k, v in create_model("mlp", (40,), 10, seed=0).state_dict().items()}
    for n in ("1.weight", "3.weight", "5.weight"):
        state[n].zero_()
    state["1.weight"][0, 0], state["1.weight"][3, 7] = 0.07, -1.5
    save_state(paths.weights(hand_run, 2), state)
    said: list[str] = []
    again = reequilibration([hand_run], ReequilibrationSpec(bins=2), quiet=True, log=said.append)
    assert not again.reused and again.folder != res.folder and said == []  # quiet says nothing
    assert again["runs"][0]["levels"][1]["below_retrained"] == 0.5  # 0.07 < 0.08 still


def test_kept_zeros_are_counted_apart_and_bins_are_explicit():
    w = {"t": torch.tensor([0.01, 0.2, 5.0, 0.3], dtype=torch.float64)}
    r = {"t": torch.tensor([0.0, 0.02, 4.0, 0.0], dtype=torch.float64)}
    m = {"t": torch.tensor([True, True, True, True])}
    nxt = {"t": torch.tensor([False, True, True, False])}
    s = level_stats(3, w, r, m, nxt, np.array([-3.0, -1.0, 0.0, 1.0]), fraction=0.5)
    assert s.threshold == 0.3 and s.below_retrained == 0.5 and s.below_projection == 1 / 2
    assert s.hist_projection == (0, 1, 1) and s.hist_retrained == (1, 0, 1)
    assert (s.zeros_projection, s.zeros_retrained) == (0, 0)
    s0 = level_stats(3, w, {"t": torch.tensor([0.0, 0.0, 4.0, 0.0])}, m, nxt, np.array([-3.0, 1.0]))
    assert s0.zeros_retrained == 1 and s0.hist_retrained == (1,)
    with pytest.raises(ValueError, match="bins"):
        histogram_edges([np.array([0.0])], 1)
    with pytest.raises(ValueError, match="--bins"):
        ReequilibrationSpec(bins=1)


def test_verb_compares_wr_lrr_ft_and_reuses(tmp_path: Path, capsys):
    quick = dict(data="synthetic", levels=2, length="2ep", milestones="1ep", eval_every="2ep")
    runs = [tmp_path / m for m in ("imp-wr", "imp-lrr", "imp-ft")]
    for out in runs:
        extra = {"rewind_step": "5"} if out.name == "imp-wr" else {}
        run_method(out, method=out.name, **quick, **extra)
    assert main(["reequilibration", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "below t_L" in out and "imp-ft" in out
    (folder,) = (runs[0] / "analysis").glob("reequilibration_*")
    rec = json.loads((folder / "result.json").read_text())
    assert [e["label"] for e in rec["runs"]] == ["imp-wr", "imp-lrr", "imp-ft"]
    for e in rec["runs"]:
        assert [r["level"] for r in e["levels"]] == [0, 1]
        for r in e["levels"]:
            assert sum(r["hist_retrained"]) + r["zeros_retrained"] == r["num_kept"]
            assert sum(r["hist_projection"]) + r["zeros_projection"] == r["num_kept"]
            assert r["below_projection"] == 0.0  # global magnitude: nothing kept below t_L
            assert 0 <= r["below_retrained"] <= 1 and 0 <= r["removed_overlap"] <= 1
        assert e["levels"][1]["projection_length_without_retraining"] > 0
    assert (folder / "reequilibration.png").exists() and (folder / "histograms.png").exists()
    again = reequilibration(runs, **QUIET)
    assert again.reused and again.folder == folder
    with pytest.raises(LandscapeError, match="twice"):
        reequilibration([runs[0], runs[0]], **QUIET)


def test_a_run_without_two_levels_says_what_to_do(tmp_path: Path):
    out = tmp_path / "dense"
    run_method(out, data="synthetic", method="dense", levels=0, length="1ep", eval_every="1ep",
               milestones="1ep")  # fmt: skip
    with pytest.raises(LandscapeError, match="finish at least two levels"):
        reequilibration([out], **QUIET)
