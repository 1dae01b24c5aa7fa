"""``torchrun --nproc-per-node 2 -m landscape VERB``: the verbs on two gloo ranks write the
one-process results, once, and print once (issue #13)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from landscape.checkpoint import load_state
from landscape.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """One tiny IMP-WR run (3 levels) and a copy of it, for one process and for two ranks."""
    one = tmp_path_factory.mktemp("sharded") / "one"
    code = main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", "mlp", "--levels", "2",
        "--length", "1ep", "--batch-size", "128", "--rewind-step", "2", "--eval-every", "1ep",
        "--out", str(one), "--quiet",
    ])  # fmt: skip
    assert code == 0
    two = one.parent / "two"
    shutil.copytree(one, two)
    return one, two


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "landscape", *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


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


def test_connectivity_on_two_ranks_writes_the_one_process_result_once(runs, capsys):
    one, two = runs
    assert main(["connectivity", str(one), "--points", "5", "--quiet"]) == 0
    capsys.readouterr()
    done = _torchrun("connectivity", str(two), "--points", "5", "--quiet")
    assert done.stdout.count("barrier matrix over 3 levels") == 1  # rank 0 alone prints
    assert _same_results(one, two, "level_*/analysis/connectivity_*") == 1
    assert _same_results(one, two, "level_*/analysis/barrier_*") == 2
    assert not list(two.rglob("*.tmp*"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _verbs_on_rank(rank: int, argvs: list[list[str]], ports: list[int], printed) -> None:
    """What ``torchrun`` starts on each rank: the environment, then ``landscape ARGV`` for
    each command line in turn (each joins and leaves its own group)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))  # fmt: skip
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
    ports = [_free_port() for _ in argvs]
    with mp.Manager() as manager:
        printed = manager.dict()
        mp.spawn(_verbs_on_rank, args=(list(argvs), ports, printed), nprocs=2, join=True)
        return dict(printed)


def test_hessian_all_levels_on_two_ranks_equals_one_process(runs, capsys):
    """Three levels on two ranks: each level whole on one rank, the one-process numbers
    (the probes' split within a level: ``test_sharded_analyses.py``)."""
    one, two = runs
    flags = ["--all-levels", "--top-k", "2", "--trace", "--probes", "4", "--density",
             "--density-probes", "3", "--density-steps", "8", "--samples", "256", "--quiet"]  # fmt: skip
    assert main(["hessian", str(one), *flags]) == 0
    capsys.readouterr()
    printed = _two_ranks(["hessian", str(two), *flags])
    assert "across levels" in printed[0] and printed[1] == ""  # rank 0 alone prints
    assert _same_results(one, two, "level_*/analysis/hessian_*") == 3
    assert _same_results(one, two, "level_00/analysis/hessian-levels_*") == 1


def test_networks_train_on_both_ranks_and_rank_0_saves_them(runs, capsys):
    """instability (two copies), robustness (its networks) and bound --empirical (the
    one-shot retrainings) share their trainings over two ranks: the saved networks and
    the results are the one-process ones."""
    one, two = runs
    argvs = [
        ["instability", "--level", "1", "--points", "3", "--quiet"],
        ["robustness", "--level", "0", "--radii", "1,0", "--seeds", "1", "--points", "3",
         "--quiet"],
        ["bound", "--level", "1", "--empirical", "--ratios", "0.3,0.6", "--samples", "128",
         "--probes", "2", "--steps", "6", "--quiet"],
    ]  # fmt: skip
    for argv in argvs:
        assert main([argv[0], str(one), *argv[1:]]) == 0
    capsys.readouterr()
    printed = _two_ranks(*([a[0], str(two), *a[1:]] for a in argvs))
    assert "error barrier" in printed[0] and printed[1] == ""
    for kind in ("instability", "robustness", "bound", "bound-empirical"):
        assert _same_results(one, two, f"level_*/analysis/{kind}_*") >= 1, kind
    nets = sorted(two.glob("level_*/analysis/*/*.safetensors"))
    # instability's 2 copies (robustness's r = 0 pair reuses them), robustness's r = 1
    # network, bound's 4 retrainings and their masks
    assert len(nets) == 2 + 1 + 8
    for f in nets:
        a, b = load_state(f), load_state(one / f.relative_to(two))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f.name
