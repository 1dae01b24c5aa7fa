"""The analysis scripts share one command line: any preset, seeds, device and folders."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "analysis_scripts"


def _scripts() -> list[Path]:
    return sorted(p for p in SCRIPTS.glob("*.py") if p.name != "script_args.py")


@pytest.mark.parametrize("script", _scripts(), ids=lambda p: p.stem)
def test_every_script_takes_a_preset(script: Path):
    """Each script parses ``--preset`` (through ``script_args.options`` or its own parser),
    so the same script runs the CIFAR presets on a GPU."""
    tree = ast.parse(script.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    shared = any(isinstance(c.func, ast.Name) and c.func.id == "options" for c in calls)
    own = any(isinstance(a, ast.Constant) and a.value == "--preset" for c in calls for a in c.args)
    assert shared or own, f"{script.name} has no --preset option"


def test_options_put_another_presets_figures_aside(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANDSCAPE_ROOT", raising=False)
    from script_args import base_config, options

    monkeypatch.setattr(sys, "argv", ["x.py", "--preset", "resnet20-cifar10", "--seeds", "3,4",
                                      "--threads", "0", "--device", "cpu"])  # fmt: skip
    args = options("Doc.\n\nMore.", "paul-mnist1d", "study")
    assert args.seeds == [3, 4] and args.root == Path("runs/study")
    assert args.figures == Path("figures/resnet20-cifar10") and args.figures.is_dir()
    cfg = base_config(args)
    assert (cfg.model.model, cfg.data.data, cfg.train.device) == ("resnet20", "cifar10", "cpu")
    monkeypatch.setattr(sys, "argv", ["x.py"])
    args = options(None, "paul-mnist1d", "study", seeds=None)
    assert args.figures == Path("figures") and args.seeds == [] and args.preset == "paul-mnist1d"
    assert base_config(args).hash() == base_config(args).replace(threads=4).hash()


def test_barrier_matching_and_lcs_count_planted_runs(monkeypatch):
    """[PAUL] Fig. 2's two directions and Fig. 3's LCS test on two planted runs."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from script_args import barrier_matching_and_lcs

    # matching level 0.035, ε 0.003. Run a: levels 1, 2 match (no barrier, then a barrier
    # of 0.01: over ε, under 0.02), level 3 does not (barrier 0.05). Run b: level 1 does not
    # match without a barrier, level 2 matches behind a barrier of 0.03, level 3 does not
    # (0.036) though it is within ε of level 2 with no barrier.
    errors = {"a": [0.030, 0.031, 0.033, 0.060], "b": [0.030, 0.040, 0.034, 0.036]}
    barriers = {"a": [0.001, 0.010, 0.050], "b": [0.002, 0.030, 0.000]}
    counts, lcs = barrier_matching_and_lcs(errors, barriers, 0.003, 0.035)
    strict, ours = counts["epsilon"], counts["0.02"]
    assert (strict["matching_no_barrier"], strict["matching_barrier"]) == (1, 2)
    assert (strict["not_matching_no_barrier"], strict["not_matching_barrier"]) == (2, 1)
    assert ours["matching_implies_no_barrier"] == [2, 3]  # b's level 2 has a 0.03 barrier
    assert ours["no_barrier_implies_matching"] == [2, 4]  # b's levels 1 and 3 do not match
    a = lcs["per_seed"]["a"]
    assert [r["in_lcs"] for r in a] == [True, True, False]  # 0.033 ≤ 0.031 + ε; 0.06 is not
    assert not a[2]["error_ok"] and not a[2]["barrier_ok"]
    b = lcs["per_seed"]["b"]
    assert [r["in_lcs"] for r in b] == [False, False, True]  # error; barrier; in
    assert [r["next_matches"] for r in b] == [False, True, False]  # in the LCS, not matching


def test_command_line_is_the_call_with_its_run_folder(monkeypatch):
    """A record's ``command`` is the call as made, shell-quoted, with ``$LANDSCAPE_ROOT``
    where it was set (it places the runs the record was made from)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from script_args import command_line

    argv = ["analysis_scripts/x.py", "--seeds", "0,1,2", "--name", "a b"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delenv("LANDSCAPE_ROOT", raising=False)
    assert command_line() == "python3 analysis_scripts/x.py --seeds 0,1,2 --name 'a b'"
    monkeypatch.setenv("LANDSCAPE_ROOT", "/tmp/my runs")
    assert command_line() == (
        "LANDSCAPE_ROOT='/tmp/my runs' python3 analysis_scripts/x.py --seeds 0,1,2 --name 'a b'"
    )


@pytest.mark.parametrize("script", _scripts(), ids=lambda p: p.stem)
def test_every_record_names_its_command_through_command_line(script: Path):
    """No script rebuilds its command by hand (such copies dropped flags, e.g. --seeds, or
    named a run folder the run did not use): every ``"command"`` entry is ``command_line()``."""
    tree = ast.parse(script.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "command":
                ok = (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id == "command_line"
                )
                assert ok, f"{script.name}:{value.lineno}: the record's command is built by hand"
