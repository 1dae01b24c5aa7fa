"""IMP-WR/LRR/FT level loops (docs/science.md): where each level starts, what it prunes, resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from landscape import paths
from landscape.runners.common import RunContext
from tests._runs import run_method

LEVELS = 3


def _capture_starts(monkeypatch) -> list[dict]:
    starts = []
    real = RunContext.train

    def spy(self, model, **kw):
        starts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real(self, model, **kw)

    monkeypatch.setattr(RunContext, "train", spy)
    return starts


def _mask(run_dir, level):
    return {k: v.bool() for k, v in load_file(paths.mask(run_dir, level)).items()}


@pytest.mark.parametrize("method", ["imp-wr", "imp-lrr", "imp-ft"])
def test_level_starts_and_masks(tmp_path, monkeypatch, method):
    starts = _capture_starts(monkeypatch)
    settings = {"rewind_step": "40"} if method == "imp-wr" else {}
    cfg, run_dir = run_method(tmp_path / method, method=method, levels=LEVELS, **settings)
    assert len(starts) == LEVELS + 1  # the shared dense run (level 0), then levels 1..L
    rewind = load_file(paths.rewind(run_dir))
    for level in range(LEVELS + 1):
        mask = _mask(run_dir, level)
        weights = load_file(paths.weights(run_dir, level))
        # pruned weights are exactly 0 after training
        for n, m in mask.items():
            assert bool((weights[n][~m] == 0).all())
        if level == 0:
            assert all(bool(m.all()) for m in mask.values())
            continue
        prev_mask = _mask(run_dir, level - 1)
        kept_prev = sum(int(m.sum()) for m in prev_mask.values())
        kept = sum(int(m.sum()) for m in mask.values())
        assert kept == kept_prev - round(0.2 * kept_prev)  # exactly 1 - α of the kept weights
        assert all(not bool((mask[n] & ~prev_mask[n]).any()) for n in mask)  # masks only shrink
        source = rewind if method == "imp-wr" else load_file(paths.weights(run_dir, level - 1))
        for n, v in starts[level].items():
            expected = source[n] * mask[n] if n in mask else source[n]
            assert torch.equal(v, expected), (level, n)
    m = json.loads(paths.metrics(run_dir, LEVELS).read_text())
    assert m["density"] == pytest.approx(0.8**LEVELS, abs=1e-3)
    assert {"train_loss", "train_error", "test_loss", "test_error", "seconds", "curve"} <= set(m)


def test_rewind_point_is_a_snapshot_of_dense_training(tmp_path, monkeypatch):
    calls = []
    real = RunContext.train

    def spy(self, model, **kw):
        calls.append((kw["start"], kw["stop"]))
        return real(self, model, **kw)

    monkeypatch.setattr(RunContext, "train", spy)
    _, run_dir = run_method(tmp_path / "wr", method="imp-wr", levels=1, rewind_step="1ep")
    assert calls == [(0, 320), (40, 320)]  # dense 0..T (w_τ taken on the way), then level 1
    m0 = json.loads(paths.metrics(run_dir, 0).read_text())
    assert (m0["start_step"], m0["stop_step"], m0["rewind_step"]) == (0, 320, 40)
    assert load_file(paths.rewind(run_dir)).keys() == load_file(paths.weights(run_dir, 0)).keys()


def test_finished_levels_are_skipped_on_rerun(tmp_path, monkeypatch):
    cfg, run_dir = run_method(tmp_path / "r", method="imp-lrr", levels=1)
    before = paths.weights(run_dir, 1).stat().st_mtime_ns
    starts = _capture_starts(monkeypatch)
    run_method(tmp_path / "r", method="imp-lrr", levels=1)
    assert starts == []
    assert paths.weights(run_dir, 1).stat().st_mtime_ns == before


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "landscape", "prune", "--method", "imp-wr", "--data", "mnist1d",
            "--levels", "4", "--rewind-step", "40", "--out", str(out), "--quiet"]  # fmt: skip


def _strip(metrics_file: Path) -> dict:
    m = json.loads(metrics_file.read_text())
    return {k: v for k, v in m.items() if "seconds" not in k}


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while not paths.metrics(killed, 1).exists():
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail("the run ended or stalled before level 1 was written")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not paths.metrics(killed, 4).exists(), "the run finished before it could be killed"
    done_before = paths.levels(killed)
    resumed = subprocess.run(_cli(killed), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    full = tmp_path / "full"
    subprocess.run(_cli(full), env=env, capture_output=True, text=True, timeout=300, check=True)
    assert paths.levels(killed) == paths.levels(full) == [0, 1, 2, 3, 4]
    for level in range(5):
        a, b = load_file(paths.weights(killed, level)), load_file(paths.weights(full, level))
        assert all(torch.equal(a[k], b[k]) for k in b), level  # bit-for-bit on CPU
        ma, mb = load_file(paths.mask(killed, level)), load_file(paths.mask(full, level))
        assert all(torch.equal(ma[k], mb[k]) for k in mb)
        assert _strip(paths.metrics(killed, level)) == _strip(paths.metrics(full, level))
    # the finished levels were not trained again
    for level in done_before:
        assert f"level {level:2d}" not in resumed.stderr
