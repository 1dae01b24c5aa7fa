"""``torchrun --nproc-per-node 2 -m landscape VERB``: the verbs on two gloo ranks write the
one-process results, once, and print once (issue #13).

Two spawned processes run the verbs with the environment torchrun gives its workers
(the same code path as ``torchrun``; one spawn for every verb: a process start costs more
than these analyses), beside one process on a copy of the same run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.checkpoint import load_state
from landscape.cli import main
from tests._ranks import free_port, spawn, torchrun_env

HESSIAN = ["--all-levels", "--top-k", "2", "--trace", "--probes", "4", "--density",
           "--density-probes", "3", "--density-steps", "8", "--samples", "256", "--quiet"]  # fmt: skip
# Each command runs on `one` (one process) and on `two` (two ranks): RUN is the run.
COMMANDS = [
    ["connectivity", "RUN", "--points", "5", "--quiet"],
    ["hessian", "RUN", *HESSIAN],
    ["instability", "RUN", "--level", "1", "--points", "3", "--quiet"],
    ["instability", "RUN", "--level", "2", "--points", "3", "--rewind-steps", "0,2", "--quiet"],
    ["robustness", "RUN", "--level", "0", "--radii", "1,0", "--seeds", "1", "--points", "3",
     "--quiet"],
    ["bound", "RUN", "--level", "1", "--empirical", "--ratios", "0.3,0.6", "--samples", "128",
     "--probes", "2", "--steps", "6", "--quiet"],
    ["slice", "RUN", "--level", "0", "--grid", "5", "--quiet"],
    ["curvature", "RUN", "--all-levels", "--samples", "128", "--random-masks", "3", "--quiet"],
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, dict[int, str]]:
    """A tiny IMP-WR run (3 levels) and a copy, every command run on both; ranks' stdout."""
    one = tmp_path_factory.mktemp("sharded") / "one"
    code = main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", "mlp", "--levels", "2",
        "--length", "1ep", "--batch-size", "128", "--rewind-step", "2", "--eval-every", "1ep",
        "--out", str(one), "--quiet",
    ])  # fmt: skip
    assert code == 0
    two = one.parent / "two"
    shutil.copytree(one, two)
    with contextlib.redirect_stdout(io.StringIO()):
        for argv in COMMANDS:
            assert main([_on(a, one) for a in argv]) == 0, argv
    printed = _two_ranks(*([_on(a, two) for a in argv] for argv in COMMANDS))
    return one, two, printed


def _on(arg: str, run: Path) -> str:
    return str(run) if arg == "RUN" else arg


def _same_results(one: Path, two: Path, pattern: str) -> int:
    """Every result folder matching ``pattern`` in ``two`` has ``one``'s arrays, bit for bit,
    and its record's numbers; returns how many folders were compared."""
    folders = sorted(two.glob(pattern))
    for f in folders:
        twin = one / f.relative_to(two)
        assert (f / "result.npz").exists() == (twin / "result.npz").exists()
        if (f / "result.npz").exists():
            with np.load(f / "result.npz") as a, np.load(twin / "result.npz") as b:
                assert a.files == b.files
                for k in a.files:
                    np.testing.assert_array_equal(a[k], b[k], err_msg=f"{f.name}: {k}")
        assert _numbers(f, two) == _numbers(twin, one), f.name
    return len(folders)


_TIMES = ("created", "title", "hvp_choice", "engine", "levels")


def _numbers(folder: Path, root: Path) -> object:
    """A result's record without timings and with its run's path as ``ROOT``."""

    def strip(v: object) -> object:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in _TIMES and "seconds" not in k}
        return [strip(x) for x in v] if isinstance(v, list) else v

    text = (folder / "result.json").read_text().replace(str(root), "ROOT")
    return strip(json.loads(text))


def _verbs_on_rank(rank: int, argvs: list[list[str]], ports: list[int], printed) -> None:
    """What ``torchrun`` starts on each rank: the environment, then ``landscape ARGV`` for
    each command line in turn (each joins and leaves its own group)."""
    torchrun_env(rank, 2)
    torch.set_num_threads(1)
    out = io.StringIO()
    for argv, port in zip(argvs, ports):
        os.environ["MASTER_PORT"] = str(port)
        with contextlib.redirect_stdout(out):
            code = main(argv)
        assert code == 0, argv
    printed[rank] = out.getvalue()


def _two_ranks(*argvs: list[str]) -> dict[int, str]:
    """``landscape ARGV`` on two spawned gloo ranks (cheaper than a torchrun subprocess,
    the same code path: the verb joins the group the environment names); their stdout."""
    return spawn(_verbs_on_rank, list(argvs), [free_port() for _ in argvs])


def test_rank_0_alone_prints(runs):
    _, _, printed = runs
    assert printed[0].count("barrier matrix over 3 levels") == 1
    assert printed[0].count("across levels") == 2  # hessian and curvature
    assert "error barrier" in printed[0]
    assert printed[1] == ""


def test_paths_on_two_ranks_write_the_one_process_results(runs):
    one, two, _ = runs
    assert _same_results(one, two, "level_*/analysis/connectivity_*") == 1
    assert _same_results(one, two, "level_*/analysis/barrier_*") == 2
    assert not list(two.rglob("*.tmp*"))


def test_slice_grid_on_two_ranks_writes_the_one_process_result(runs):
    one, two, _ = runs
    assert _same_results(one, two, "level_00/analysis/slice_*") == 1


def test_curvature_directions_on_two_ranks_equal_one_process(runs):
    one, two, _ = runs
    assert _same_results(one, two, "level_*/analysis/curvature_*") == 2


def test_hessian_levels_on_two_ranks_equal_one_process(runs):
    """Three levels on two ranks: each level whole on one rank, the one-process numbers
    (the probes' split within a level: ``test_sharded_analyses.py``)."""
    one, two, _ = runs
    assert _same_results(one, two, "level_*/analysis/hessian_*") == 3
    assert _same_results(one, two, "level_00/analysis/hessian-levels_*") == 1


def test_networks_train_on_both_ranks_and_rank_0_saves_them(runs):
    """instability (two copies; a scan's copies of every rewind step at once), robustness
    (its networks) and bound --empirical (the one-shot retrainings) share their trainings
    over two ranks: the saved networks and the results are the one-process ones."""
    one, two, _ = runs
    for kind in ("instability", "instability-scan", "robustness", "bound", "bound-empirical"):
        assert _same_results(one, two, f"level_*/analysis/{kind}_*") >= 1, kind
    assert _same_results(one, two, "level_02/analysis/instability_*") == 2  # the scan's tests
    nets = sorted(two.glob("level_*/analysis/*/*.safetensors"))
    # instability's 2 copies at level 1 (robustness's r = 0 pair reuses them) and the
    # scan's 2 × 2 at level 2 (on both ranks at once), robustness's r = 1 network,
    # bound's 4 retrainings and their masks
    assert len(nets) == 2 + 4 + 1 + 8
    for f in nets:
        a, b = load_state(f), load_state(one / f.relative_to(two))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f.name
