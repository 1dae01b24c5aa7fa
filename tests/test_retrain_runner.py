"""The ``imp`` runner [ZIMMER]: dense level 0, J prune–retrain phases, ALLR's η_0, resuming.

Tiny runs: the synthetic data set (1024 samples, batch 100 → 10 steps an epoch)
and the MLP; a dense run of 4 epochs, phases of 1–2 epochs.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from landscape import paths
from landscape.checkpoint import load_json
from landscape.cli import main
from landscape.errors import CheckpointError, ConfigMismatchError, LandscapeError
from landscape.hparams import RunConfig
from landscape.jobs import prune as execute
from landscape.runners.common import RunContext
from landscape.runners.retrain import dense_config
from landscape.training import lr_schedule
from landscape.training.retrain_schedules import RETRAIN_SCHEDULES, retrain_schedule

SPE = 10  # synthetic: 1024 // 100
BASE = dict(
    data="synthetic", model="mlp", length="4ep", milestones="2ep,3ep", eval_every="1ep",
    method="imp", retrain_schedule="allr", retrain_epochs=2, levels=2, goal_sparsity=0.75,
)  # fmt: skip


def _cfg(**kw) -> RunConfig:
    return RunConfig().replace(**{**BASE, **kw})


def _run(root: Path, **kw) -> Path:
    return execute(_cfg(**kw), root=str(root), quiet=True)


def _weights(run_dir: Path, level: int) -> dict[str, torch.Tensor]:
    return load_file(paths.weights(run_dir, level))


def _mask(run_dir: Path, level: int) -> dict[str, torch.Tensor]:
    return {k: v.bool() for k, v in load_file(paths.mask(run_dir, level)).items()}


def _metrics(run_dir: Path, level: int) -> dict:
    return load_json(paths.metrics(run_dir, level))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """One root per module, so the dense run is trained once and reused by every test."""
    return tmp_path_factory.mktemp("retrain_runs")


def test_imp_trains_the_dense_run_first_and_reuses_it(root, monkeypatch):
    run_dir = _run(root)
    dense_dir = root / dense_config(_cfg()).run_name()
    assert paths.levels(dense_dir) == [0]
    assert paths.levels(run_dir) == [0, 1, 2]
    dense, copy = _weights(dense_dir, 0), _weights(run_dir, 0)
    assert all(torch.equal(dense[k], copy[k]) for k in dense)
    assert _metrics(run_dir, 0)["source_run"] == str(dense_dir)
    # The dense run is the one `landscape train` makes with the same flags.
    train_flags = {
        k: v
        for k, v in BASE.items()
        if k in ("data", "model", "length", "milestones", "eval_every")
    }
    assert dense_dir.name == RunConfig().replace(**train_flags, method="dense", levels=0).run_name()

    from landscape.runners.common import RunContext

    real_train = RunContext.train

    def no_dense_training(self, *a, **kw):
        if self.cfg.prune.method == "dense":
            raise AssertionError("the dense run should have been reused")
        return real_train(self, *a, **kw)

    monkeypatch.setattr(RunContext, "train", no_dense_training)
    other = _run(root, retrain_schedule="ft")
    assert other != run_dir and paths.levels(other) == [0, 1, 2]


def test_phases_prune_the_share_of_remaining_weights_by_global_magnitude(root):
    run_dir = _run(root, levels=3, goal_sparsity=0.875, retrain_epochs=1)  # s = 0.5 a phase
    for j in (1, 2, 3):
        prev_w, prev_m, mask = _weights(run_dir, j - 1), _mask(run_dir, j - 1), _mask(run_dir, j)
        names = list(mask)
        # Brute force: remove the round(s · kept) kept coordinates of smallest |w|, globally.
        w = torch.cat([prev_w[n].flatten() for n in names])
        m = torch.cat([prev_m[n].flatten() for n in names])
        kept = m.nonzero().squeeze(1)
        k = round(0.5 * kept.numel())
        expected = m.clone()
        expected[kept[torch.argsort(w[kept].abs(), stable=True)[:k]]] = False
        assert torch.equal(torch.cat([mask[n].flatten() for n in names]), expected)
        new_w = _weights(run_dir, j)
        assert all(bool((new_w[n][~mask[n]] == 0).all()) for n in names)
        met = _metrics(run_dir, j)
        assert met["phase"] == j and met["prune_fraction"] == pytest.approx(0.5)
        assert met["density"] == pytest.approx(0.5**j, abs=2e-4)
        assert met["retrain_steps"] == SPE and met["start_step"] == 4 * SPE + (j - 1) * SPE


def test_allr_eta0_and_its_norm_drop_are_recorded_and_drive_the_lrs(root):
    run_dir = _run(root, length="8ep", milestones="4ep,6ep", retrain_epochs=1)
    for j in (1, 2):
        prev, mask, met = _weights(run_dir, j - 1), _mask(run_dir, j), _metrics(run_dir, j)
        theta = torch.cat([prev[n].flatten() for n in prev]).double()  # the MLP: all parameters
        pruned = torch.cat([(prev[n] * mask[n] if n in mask else prev[n]).flatten() for n in prev])
        drop = float((theta - pruned.double()).norm() / theta.norm())
        s = 0.5  # 1 − (1 − 0.75)^(1/2)
        raw = 0.1 * drop / math.sqrt(s)
        lo = (10 / 80) * 0.1  # N_rt / N · η_max
        eta0 = min(max(raw, lo), 0.1)
        assert met["norm_drop"] == pytest.approx(drop, rel=1e-9)
        assert met["allr"]["raw"] == pytest.approx(raw, rel=1e-9)
        assert met["allr"]["lo"] == pytest.approx(lo) and met["allr"]["hi"] == 0.1
        assert met["allr"]["eta0"] == pytest.approx(eta0, rel=1e-9) == met["eta0"]
        # The training curve's LR at the end of the phase: W = 1, R = 9, last step k = 9.
        (row,) = met["curve"]
        assert row["step"] == 80 + 10 * j
        assert row["lr"] == pytest.approx(eta0 * (1 - 8 / 9), rel=1e-9)


@pytest.mark.parametrize("name", RETRAIN_SCHEDULES)
def test_each_schedule_trains_with_its_own_learning_rates(root, name, monkeypatch):
    seen: list[float] = []
    real = RunContext.train

    def spy(self, model, *, start, stop, lr_at, **kw):
        seen.extend(lr_at(t) for t in range(start, stop))
        return real(self, model, start=start, stop=stop, lr_at=lr_at, **kw)

    monkeypatch.setattr(RunContext, "train", spy)
    run_dir = _run(root, retrain_schedule=name, levels=1, goal_sparsity=0.5, retrain_epochs=3)
    cfg = _cfg()
    original = [lr_schedule(cfg.train, SPE)(t) for t in range(40)]
    met = _metrics(run_dir, 1)
    f = retrain_schedule(name, 30, original, eta0=met.get("allr", {}).get("eta0"))
    assert seen == [f(k) for k in range(30)]
    assert met["schedule"] == name and met["warmup_steps"] == (0 if name in ("ft", "lrw") else 3)


def test_a_killed_run_resumes_at_the_unfinished_phase(root, monkeypatch):
    run_dir = _run(root, retrain_schedule="clr")
    before = _weights(run_dir, 2)
    paths.metrics(run_dir, 2).unlink()  # killed after writing the weights, before the metrics
    calls = []
    real = RunContext.train
    monkeypatch.setattr(
        RunContext, "train", lambda self, m, **kw: calls.append(kw) or real(self, m, **kw)
    )
    _run(root, retrain_schedule="clr")
    assert [c["desc"] for c in calls] == ["phase 2/2 (clr)"]
    after = _weights(run_dir, 2)
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit-for-bit on CPU


def test_zero_retraining_epochs_is_one_shot_pruning_alone(root):
    run_dir = _run(root, retrain_epochs=0, levels=1, goal_sparsity=0.9)
    w0, w1, mask = _weights(run_dir, 0), _weights(run_dir, 1), _mask(run_dir, 1)
    for n in w0:
        assert torch.equal(w1[n], w0[n] * mask[n] if n in mask else w0[n])
    met = _metrics(run_dir, 1)
    assert met["steps"] == 0 and met["test_error"] == met["pruned_test_error"]
    assert met["density"] == pytest.approx(0.1, abs=2e-4)


def test_from_prunes_the_given_dense_run_and_checks_its_settings(tmp_path):
    dense_dir = execute(dense_config(_cfg()), root=str(tmp_path / "elsewhere"), quiet=True)
    run_dir = _run(tmp_path, from_run=str(dense_dir), levels=1)
    assert torch.equal(_weights(run_dir, 0)["1.weight"], _weights(dense_dir, 0)["1.weight"])
    assert not list(tmp_path.glob("dense_*"))  # nothing trained beside the run
    with pytest.raises(ConfigMismatchError, match="--lr: 0.1 there vs 0.05 now"):
        _run(tmp_path, from_run=str(dense_dir), levels=1, lr=0.05)
    with pytest.raises(LandscapeError, match="does not exist"):
        _run(tmp_path, from_run=str(tmp_path / "nope"), levels=1)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(dense_dir, unfinished)
    paths.metrics(unfinished, 0).unlink()
    with pytest.raises(CheckpointError, match="no finished level 0"):
        _run(tmp_path, from_run=str(unfinished), levels=1)


def test_bad_settings_fail_before_any_training(tmp_path):
    with pytest.raises(ValueError, match="levels >= 1"):
        _run(tmp_path, levels=0)
    with pytest.raises(ValueError, match="goal-sparsity"):
        _run(tmp_path, goal_sparsity=0.0)
    assert not list(tmp_path.glob("dense_*"))


def test_the_prune_verb_runs_imp_and_reports_errors(tmp_path, capsys):
    flags = ["prune", "--method", "imp", "--data", "synthetic", "--length", "2ep", "--milestones",
             "1ep", "--retrain-schedule", "llr", "--retrain-epochs", "1", "--levels", "1",
             "--goal-sparsity", "0.5", "--root", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(flags) == 0
    assert "imp run" in capsys.readouterr().out
    assert main([*flags, "--from", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
