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
