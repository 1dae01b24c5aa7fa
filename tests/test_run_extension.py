"""Extending a run: a larger --levels continues IMP-WR/LRR/FT and SWAMP runs (levels are not hashed).

IMP and BIMP keep refusing another --levels in the same directory: their per-phase
share 1 − (1 − S)^(1/J) depends on the total J.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from landscape import paths
from landscape.checkpoint import load_json
from landscape.errors import ConfigMismatchError
from landscape.hparams import RunConfig
from landscape.jobs import prune as execute
from landscape.runners.common import RunContext
from landscape.runs import prepare_run_dir
from tests._runs import QUICK


def _cfg(**settings) -> RunConfig:
    return RunConfig().replace(**{**QUICK, **settings})


def _run(root: Path, **settings) -> Path:
    return execute(_cfg(**settings), root=str(root), quiet=True)


def _same_files(a: Path, b: Path, level: int) -> None:
    for path in (paths.weights, paths.mask):
        x, y = load_file(path(a, level)), load_file(path(b, level))
        assert x.keys() == y.keys(), level
        assert all(torch.equal(x[k], y[k]) for k in x), (path.__name__, level)


@pytest.mark.parametrize("method", ["imp-wr", "imp-lrr"])
def test_a_run_extended_from_3_to_5_levels_equals_one_made_in_one_go(tmp_path, method):
    settings = {"method": method, "rewind_step": "40"} if method == "imp-wr" else {"method": method}
    short = _run(tmp_path / "extended", levels=3, **settings)
    assert paths.levels(short) == [0, 1, 2, 3]
    longer = _run(tmp_path / "extended", levels=5, **settings)
    assert longer == short  # the same directory: levels do not name the run
    whole = _run(tmp_path / "whole", levels=5, **settings)
    assert whole.name == short.name
    assert paths.levels(short) == paths.levels(whole) == [0, 1, 2, 3, 4, 5]
    for level in range(6):
        _same_files(short, whole, level)
    a, b = load_file(paths.rewind(short)), load_file(paths.rewind(whole))
    assert all(torch.equal(a[k], b[k]) for k in b)
    meta = load_json(paths.config(short))
    assert meta["hparams"]["prune"]["levels"] == 5 and meta["non_default"]["levels"] == 5
    assert meta["extended"][0]["from_levels"] == 3 and meta["extended"][0]["to_levels"] == 5
    assert meta["hash"] == load_json(paths.config(whole))["hash"]


def test_a_smaller_levels_does_nothing_more(tmp_path, monkeypatch):
    run_dir = _run(tmp_path, method="imp-ft", levels=2)
    before = {lv: paths.weights(run_dir, lv).stat().st_mtime_ns for lv in (0, 1, 2)}
    calls = []
    monkeypatch.setattr(RunContext, "train", lambda self, m, **kw: calls.append(kw))
    assert _run(tmp_path, method="imp-ft", levels=1) == run_dir
    assert calls == []
    assert paths.levels(run_dir) == [0, 1, 2]
    assert {lv: paths.weights(run_dir, lv).stat().st_mtime_ns for lv in (0, 1, 2)} == before
    assert load_json(paths.config(run_dir))["hparams"]["prune"]["levels"] == 2


def test_a_swamp_run_continues_with_more_levels(tmp_path):
    swamp = dict(method="swamp", particles=2, rewind_step="40", length="2ep", milestones="1ep")
    short = _run(tmp_path / "extended", levels=0, **swamp)
    assert _run(tmp_path / "extended", levels=1, **swamp) == short
    whole = _run(tmp_path / "whole", levels=1, **swamp)
    assert paths.levels(short) == paths.levels(whole) == [0, 1]
    for level in (0, 1):
        _same_files(short, whole, level)


def _trained(run_dir):
    """Something trained under the settings (a directory without any is taken over)."""
    paths.level_dir(run_dir, 0).mkdir(parents=True)
    paths.mask(run_dir, 0).write_bytes(b"")


@pytest.mark.parametrize("method", ["imp", "bimp"])
def test_phase_based_methods_refuse_other_levels(tmp_path, method):
    cfg = _cfg(method=method, levels=2)
    _trained(prepare_run_dir(cfg, out=tmp_path / "run"))
    with pytest.raises(ConfigMismatchError, match=r"levels: 2 there vs 3 now.*depends on --levels"):
        prepare_run_dir(cfg.replace(levels=3), out=tmp_path / "run")
    assert load_json(paths.config(tmp_path / "run"))["hparams"]["prune"]["levels"] == 2
    assert cfg.run_name() != cfg.replace(levels=3).run_name()


def test_other_settings_are_still_refused_when_extending(tmp_path):
    cfg = _cfg(method="imp-lrr", levels=2)
    _trained(prepare_run_dir(cfg, out=tmp_path / "run"))
    with pytest.raises(ConfigMismatchError, match=r"lr: 'default' there vs 0.05 now"):
        prepare_run_dir(cfg.replace(levels=4, lr=0.05), out=tmp_path / "run")
    assert load_json(paths.config(tmp_path / "run"))["hparams"]["prune"]["levels"] == 2
