"""Robustness of the pruned rewind point [PAUL §3.2]: the perturbation math exactly, and
``landscape robustness`` end to end on a tiny run (reuse, the r = 0 stability test, workers)."""

from __future__ import annotations

import importlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.analysis.robustness import kept_direction, perturb, perturbation, step_distance
from landscape.checkpoint import load_json, load_state
from landscape.cli import main
from landscape.errors import LandscapeError
from landscape.plotting.robustness import plot_robustness
from landscape.specs import RobustnessSpec

# the module (landscape.jobs exports the function of the same name)
job = importlib.import_module("landscape.jobs.robustness")


def _mask() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return {"a.weight": torch.rand(6, 5, generator=g) < 0.5,
            "b.weight": torch.rand(3, 6, generator=g) < 0.3}  # fmt: skip


def _flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([state[k].double().flatten() for k in sorted(state)])


@pytest.mark.parametrize("norm", [1e-3, 0.37, 5.0, 1234.5])
def test_perturbation_has_the_requested_norm_and_lies_in_the_kept_subspace(norm):
    mask = _mask()
    delta = perturbation(mask, norm, seed=3)
    assert set(delta) == set(mask)
    assert float(_flat(delta).norm()) == pytest.approx(norm, rel=1e-12)
    for k, m in mask.items():
        assert bool((delta[k][~m] == 0).all())  # zero wherever m_{L+1} prunes
        assert bool((delta[k][m] != 0).all())  # a Gaussian draw on every kept coordinate
    # Added to a state: exactly δ in float64; in float32, δ to the weights' rounding.
    g = torch.Generator().manual_seed(1)
    state = {"a.weight": torch.randn(6, 5, generator=g), "b.weight": torch.randn(3, 6, generator=g),
             "a.bias": torch.randn(6, generator=g)}  # fmt: skip
    for k, m in mask.items():
        state[k] = state[k] * m
    for dtype, rel, ulp in ((torch.float64, 1e-12, 0.0), (torch.float32, 1e-6, 2.0**-24)):
        start = {k: v.to(dtype) for k, v in state.items()}
        moved = perturb(start, mask, norm, seed=3)
        step = {k: moved[k].double() - start[k].double() for k in start}
        # float32 rounds each kept w + δ by at most half an ulp of |w + δ|
        slack = ulp * float(_flat({k: moved[k].abs() for k in mask}).norm())
        assert abs(float(_flat(step).norm()) - norm) <= rel * norm + slack
        assert bool((step["a.bias"] == 0).all())  # tensors outside the mask are not perturbed
        for k, m in mask.items():
            assert bool((moved[k][~m] == 0).all()) and moved[k].dtype == dtype


def test_perturbation_is_reproducible_from_its_seed_and_differs_between_seeds():
    mask = _mask()
    a, b, c = (perturbation(mask, 1.0, seed=s) for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in mask)
    assert not any(torch.equal(a[k], c[k]) for k in mask)
    cos = float(_flat(a) @ _flat(c))
    assert abs(cos) < 0.9  # different directions, not a rescaled copy
    # The direction is scaled, never redrawn: radius r of seed s is r · (the unit direction).
    u, d = kept_direction(mask, 0), perturbation(mask, 2.5, seed=0)
    assert all(torch.equal(d[k], 2.5 * u[k]) for k in mask)
    assert all(torch.equal(perturb({k: v.double() for k, v in a.items()}, mask, 0.0, 5)[k], a[k])
               for k in mask)  # fmt: skip


def test_step_distance_equals_the_hand_computed_norm():
    w = {"a.weight": torch.tensor([[3.0, -4.0], [1.0, 2.0]]), "b.weight": torch.tensor([12.0, 5.0]),
         "a.bias": torch.tensor([100.0, 100.0])}  # fmt: skip
    m_l = {"a.weight": torch.tensor([[1, 1], [1, 0]], dtype=torch.bool),
           "b.weight": torch.tensor([True, True])}  # fmt: skip
    m_next = {"a.weight": torch.tensor([[0, 0], [1, 0]], dtype=torch.bool),
              "b.weight": torch.tensor([False, True])}  # fmt: skip
    # Pruned by the step: 3, -4 (a.weight) and 12 (b.weight); 2 was already pruned.
    assert step_distance(w, m_l, m_next) == math.sqrt(9 + 16 + 144) == 13.0
    assert step_distance(w, m_l, m_l) == 0.0


def test_bad_inputs_say_what_to_do():
    mask = _mask()
    with pytest.raises(ValueError, match="keeps no weight"):
        perturbation({k: torch.zeros_like(v) for k, v in mask.items()}, 1.0, 0)
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        perturbation(mask, -1.0, 0)
    with pytest.raises(ValueError, match="same tensors"):
        step_distance({"a.weight": torch.ones(6, 5)}, {"a.weight": mask["a.weight"]}, mask)
    with pytest.raises(ValueError, match="each value must be 0 or more"):
        RobustnessSpec(radii="0,-1")
    with pytest.raises(ValueError, match="write numbers"):
        RobustnessSpec(radii="0,big")


def _prune(out: Path) -> Path:
    code = main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", "mlp",
        "--levels", "2", "--length", "1ep", "--batch-size", "128", "--rewind-step", "2",
        "--eval-every", "1ep", "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _prune(tmp_path_factory.mktemp("runs") / "mlp")


ARGS = ["--level", "1", "--radii", "1,0", "--seeds", "1", "--points", "3", "--quiet"]


def test_the_verb_end_to_end_reuses_networks_and_results(run, monkeypatch, capsys):
    # The stability test of level L+1 first: its copies are the r = 0 networks of seed 0.
    assert main(["instability", str(run), "--level", "2", "--points", "3", "--quiet"]) == 0
    inst = load_json(next(run.glob("level_02/analysis/instability_*/result.json")))
    calls = []
    real = job.train
    monkeypatch.setattr(job, "train", lambda *a, **k: calls.append(k["data_seed"]) or real(*a, **k))
    capsys.readouterr()

    assert main(["robustness", str(run), *ARGS]) == 0
    out = capsys.readouterr().out
    assert "d_L =" in out and "error barrier" in out
    folder = next(run.glob("level_01/analysis/robustness_*"))
    rec = load_json(folder / "result.json")
    assert rec["kind"] == "robustness" and rec["radii"] == [0.0, 1.0]
    assert rec["settings"]["data_seeds"] == [[1, 2]] and rec["train_steps"] == [2, 8]
    assert calls == [1] and rec["trained"] == 1 and rec["reused_instability_copies"] == 2
    assert rec["error_barriers"][0] == [inst["error_barrier"]]  # r = 0: the stability test
    assert rec["loss_barriers"][0] == [inst["loss_barrier"]]
    rewind = load_state(run / "rewind.safetensors")
    masks = [load_state(run / f"level_0{i}/mask.safetensors") for i in (1, 2)]
    assert rec["step_distance"] == pytest.approx(
        math.sqrt(sum(float((((masks[0][k].double() - masks[1][k].double()) * rewind[k].double())
                              ** 2).sum()) for k in masks[0])), rel=1e-12)  # fmt: skip
    assert rec["step_distance"] > 0 and rec["perturbation_norms"] == [0.0, rec["step_distance"]]
    assert np.asarray(rec["error_barriers"]).shape == (2, 1) and rec["error_barrier_std"] == [0, 0]
    with np.load(folder / "result.npz") as z:
        np.testing.assert_array_equal(z["error_barrier_mean"], rec["error_barrier_mean"])
        assert z["path_errors"].shape == (2, 1, 3)
    assert (folder / "robustness.png").stat().st_size > 0 and (folder / "report.md").exists()
    fig, ax = plot_robustness(folder, metric="loss")
    assert ax.figure is fig and "loss" in ax.get_ylabel()  # the loss panel, from the record
    # The perturbed network starts r·d_L from m_2 ⊙ w_τ: saved under its own start's hash.
    nets = sorted(run.glob("level_01/analysis/robustness-nets_*/net_*.safetensors"))
    assert len(nets) == 1
    stamps = [n.stat().st_mtime_ns for n in nets]

    # Other evaluation settings re-measure the saved networks: nothing is retrained.
    assert main(["robustness", str(run), *ARGS, "--points", "2"]) == 0
    assert calls == [1] and [n.stat().st_mtime_ns for n in nets] == stamps
    assert len(list(run.glob("level_01/analysis/robustness_*"))) == 2
    # The same settings reuse the finished result.
    capsys.readouterr()
    assert main(["robustness", str(run), *ARGS]) == 0
    assert "reused" in capsys.readouterr().out and calls == [1]


@pytest.mark.slow  # two spawned processes import torch: ~9 s of the 2-core machine
def test_workers_give_the_numbers_of_one_process(run, tmp_path):
    one = job.robustness(run, RobustnessSpec(radii="0,2", seeds=1, points=3), level=0,
                         quiet=True, log=lambda _: None)  # fmt: skip
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("analysis"))
    two = job.robustness(copy, RobustnessSpec(radii="0,2", seeds=1, points=3, workers=2), level=0,
                         quiet=True, log=lambda _: None)  # fmt: skip
    assert two["trained"] == 3 and two["workers"] == 2
    for key in ("error_barriers", "loss_barriers", "errors_perturbed", "errors_unperturbed"):
        assert two[key] == one[key]
    for a, b in zip(sorted(one.folder.parent.glob("robustness-nets_*/*")),
                    sorted(two.folder.parent.glob("robustness-nets_*/*"))):  # fmt: skip
        assert a.name == b.name
        sa, sb = load_state(a), load_state(b)
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_refuses_what_it_cannot_do(run):
    spec = RobustnessSpec(radii="0,1", seeds=1, points=2)
    with pytest.raises(LandscapeError, match="needs both levels"):
        job.robustness(run, spec, level=2, log=lambda _: None)
