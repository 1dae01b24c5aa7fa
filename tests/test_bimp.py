"""Budgeted IMP [ZIMMER §4]: linear-decay dense training for B − E epochs, then J ALLR phases.

Synthetic data (10 steps an epoch) and the MLP; budgets of a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from landscape import paths
from landscape.checkpoint import load_json
from landscape.hparams import RunConfig
from landscape.jobs import prune as execute
from landscape.runners.common import RunContext

SPE = 10
BASE = dict(
    data="synthetic", model="mlp", eval_every="1ep", method="bimp", budget_epochs=6,
    retrain_epochs=3, levels=2, goal_sparsity=0.75,
)  # fmt: skip


def _run(root: Path, **kw) -> Path:
    return execute(RunConfig().replace(**{**BASE, **kw}), root=str(root), quiet=True)


def _metrics(run_dir: Path, level: int) -> dict:
    return load_json(paths.metrics(run_dir, level))


@pytest.fixture
def spy(monkeypatch) -> list[dict]:
    """Records every training call: its step range and the LR at each of its steps."""
    calls: list[dict] = []
    real = RunContext.train

    def record(self, model, *, start, stop, lr_at, **kw):
        calls.append({"start": start, "stop": stop, "lrs": [lr_at(t) for t in range(start, stop)]})
        return real(self, model, start=start, stop=stop, lr_at=lr_at, **kw)

    monkeypatch.setattr(RunContext, "train", record)
    return calls


def test_bimp_spends_the_budget_as_dense_linear_decay_then_allr_phases(tmp_path, spy):
    run_dir = _run(tmp_path)  # B = 6, E = 3, J = 2: dense 3 epochs, phases of 1 and 2 epochs
    dense, p1, p2 = spy
    assert (dense["start"], dense["stop"]) == (0, 30)
    assert dense["lrs"] == pytest.approx([0.1 * (1 - t / 30) for t in range(30)], rel=1e-12)
    assert (p1["start"], p1["stop"], p2["start"], p2["stop"]) == (30, 40, 40, 60)
    m0 = _metrics(run_dir, 0)
    assert m0["steps"] == 30 and m0["dense_schedule"] == "linear" and m0["dense_epochs"] == 3
    for j, n_rt in ((1, 10), (2, 20)):
        m = _metrics(run_dir, j)
        assert m["schedule"] == "allr" and m["retrain_steps"] == n_rt
        # ALLR's N is the dense length B − E (30 steps), not --length: lo = N_rt/30 · η_max.
        assert m["dense_steps"] == 30
        assert m["allr"]["lo"] == pytest.approx(n_rt / 30 * 0.1)
        assert m["allr"]["hi"] == 0.1 and m["allr"]["fraction"] == pytest.approx(0.5)
    # Phase 2: W = 2, R = 18; the LR warms up to η_0, then decays linearly to 0.
    eta0 = _metrics(run_dir, 2)["allr"]["eta0"]
    assert p2["lrs"][2] == pytest.approx(eta0) and p2["lrs"][0] == 0.0
    assert p2["lrs"][-1] == pytest.approx(eta0 * (1 - 17 / 18))
    assert _metrics(run_dir, 2)["density"] == pytest.approx(0.25, abs=2e-4)


def test_phases_without_epochs_only_prune(tmp_path, spy):
    run_dir = _run(tmp_path, budget_epochs=4, retrain_epochs=1, levels=3, goal_sparsity=0.875)
    assert [(c["start"], c["stop"]) for c in spy] == [(0, 30), (30, 40)]  # split [0, 0, 1]
    w0, w1 = load_file(paths.weights(run_dir, 0)), load_file(paths.weights(run_dir, 1))
    m1 = {k: v.bool() for k, v in load_file(paths.mask(run_dir, 1)).items()}
    assert all(torch.equal(w1[n], w0[n] * m1[n] if n in m1 else w0[n]) for n in w0)
    assert [_metrics(run_dir, j)["retrain_steps"] for j in (1, 2, 3)] == [0, 0, 10]
    assert _metrics(run_dir, 3)["density"] == pytest.approx(0.125, abs=2e-4)


def test_a_finished_bimp_run_is_not_retrained(tmp_path, spy):
    _run(tmp_path)
    spy.clear()
    _run(tmp_path)
    assert spy == []


def test_bad_budgets_are_clear_errors(tmp_path):
    with pytest.raises(
        ValueError, match=r"--budget-epochs \(3\) must exceed --retrain-epochs \(3\)"
    ):
        _run(tmp_path, budget_epochs=3, retrain_epochs=3)
    with pytest.raises(ValueError, match="levels >= 1"):
        _run(tmp_path, levels=0)
    with pytest.raises(ValueError, match="goal-sparsity"):
        _run(tmp_path, goal_sparsity=0.0)
