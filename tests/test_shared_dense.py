"""One dense network for every IMP method: level 0 and the rewind point come from ``dense_<hash>``.

Tiny runs: the quick MNIST-1D MLP recipe of ``tests/_runs.py`` (40 steps an epoch, T = 320),
with a learning-curve point every epoch so that evaluations fall inside 0..τ.
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
from landscape.runs import open_run
from tests._runs import QUICK

T = 320
SETTINGS = {**QUICK, "eval_every": "1ep", "levels": 1}


def _cfg(**kw) -> RunConfig:
    return RunConfig().replace(**{**SETTINGS, **kw})


def _run(root: Path, **kw) -> Path:
    return execute(_cfg(**kw), root=str(root), quiet=True)


def _equal(a: Path, b: Path) -> bool:
    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Every RunContext.train call: its run directory, description and step range."""
    seen: list[dict] = []
    real = RunContext.train

    def spy(self, model, **kw):
        seen.append(
            {"run": self.run_dir.name, "desc": kw["desc"], "steps": (kw["start"], kw["stop"])}
        )
        return real(self, model, **kw)

    monkeypatch.setattr(RunContext, "train", spy)
    return seen


def test_imp_methods_share_level_0_and_train_it_once(tmp_path, calls):
    wr = _run(tmp_path, method="imp-wr", rewind_step="1ep")
    lrr = _run(tmp_path, method="imp-lrr")
    ft = _run(tmp_path, method="imp-ft")
    (dense,) = tmp_path.glob("dense_*")
    assert dense.name == _cfg().dense().run_name()  # the run `landscape train` makes
    # The dense network was trained once, from w_0 over 0..T, by the first run.
    dense_calls = [c for c in calls if c["run"] == dense.name]
    assert dense_calls == [{"run": dense.name, "desc": "level 0/0", "steps": (0, T)}]
    assert calls[0] == dense_calls[0]
    assert [c["desc"] for c in calls if c["run"] in (lrr.name, ft.name)] == ["level 1/1"] * 2
    for run in (wr, lrr, ft):
        # Copies, byte for byte: level_00 and its mask are the dense run's.
        for file in (paths.weights, paths.mask):
            assert file(run, 0).read_bytes() == file(dense, 0).read_bytes()
            assert not file(run, 0).is_symlink()
        m = load_json(paths.metrics(run, 0))
        assert m["shared_from"] == str(dense)
        assert m["method"] == open_run(run).config.prune.method
        assert (m["start_step"], m["stop_step"]) == (0, T)
        assert m["test_error"] == load_json(paths.metrics(dense, 0))["test_error"]
    assert load_json(paths.metrics(wr, 0))["rewind_step"] == 40
    # w_τ: the snapshot the dense run took after step 40; w_0 for LRR and FT.
    assert paths.rewind(wr).read_bytes() == paths.rewind_snapshot(dense, 40).read_bytes()
    for run in (lrr, ft):
        assert paths.rewind(run).read_bytes() == paths.rewind(dense).read_bytes()
    init = open_run(dense, "cpu").model().state_dict()
    assert all(torch.equal(init[k], v) for k, v in load_file(paths.rewind(lrr)).items())


def test_a_new_rewind_step_is_retraced_bit_identically(tmp_path, calls):
    # Root a: the dense run is finished with w_40 only; τ = 80 is retraced from w_0.
    _run(tmp_path / "a", method="imp-wr", rewind_step="1ep")
    calls.clear()
    retraced = _run(tmp_path / "a", method="imp-wr", rewind_step="2ep")
    (dense_a,) = (tmp_path / "a").glob("dense_*")
    assert [c["steps"] for c in calls if c["run"] == dense_a.name] == [(0, 80)]
    # Root b: τ = 80 is a snapshot taken during the dense training itself.
    fresh = _run(tmp_path / "b", method="imp-wr", rewind_step="2ep")
    (dense_b,) = (tmp_path / "b").glob("dense_*")
    assert _equal(paths.rewind_snapshot(dense_a, 80), paths.rewind_snapshot(dense_b, 80))
    assert _equal(paths.rewind(retraced), paths.rewind(fresh))
    for level in (0, 1):
        assert _equal(paths.weights(retraced, level), paths.weights(fresh, level))


def test_out_puts_the_dense_run_beside_the_run_directory(tmp_path):
    run_dir = execute(_cfg(method="imp-lrr"), out=str(tmp_path / "mine"), quiet=True)
    (dense,) = tmp_path.glob("dense_*")
    assert load_json(paths.metrics(run_dir, 0))["shared_from"] == str(dense)
    assert paths.levels(dense) == [0]


def test_instability_reads_the_copied_rewind_point_and_level_0(tmp_path):
    from landscape.jobs.common import start_point

    run_dir = _run(tmp_path, method="imp-wr", rewind_step="1ep")
    run = open_run(run_dir, "cpu")
    rewind = load_file(paths.rewind(run_dir))
    for level in (0, 1):
        sp = start_point(run, level)
        assert (sp.start, sp.stop) == (40, T)
        mask = run.mask(level)
        for k, v in sp.state.items():
            assert torch.equal(v, rewind[k] * mask[k] if k in mask else rewind[k])
