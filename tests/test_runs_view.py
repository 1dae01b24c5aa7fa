"""A view of all runs (`landscape runs`, `show` on a folder) and readable run names.

The table is checked on run directories built by hand (config.json from the real
settings, level files whose content the view never reads), one per state; the
readable names on real runs, including that a run made under the old name
``<method>_<hash>`` is still found and resumed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landscape import paths
from landscape.catalog import differing, find_runs, summarize, world_note
from landscape.cli import main
from landscape.hparams import RunConfig
from landscape.io import file_digest, save_json
from landscape.jobs.prune import prune
from landscape.locks import hold
from landscape.runs import prepare_run_dir, run_dir_of

# About a second a level: MNIST-1D MLP on 1000 samples, 2 epochs of 10 steps.
TINY = dict(data="mnist1d", model="mlp", length="2ep", milestones="1ep", eval_every="1ep",
            train_subset=1000)  # fmt: skip


def test_run_name_is_readable_and_ends_with_the_hash():
    cfg = RunConfig().replace(method="swamp", seed=3, data="mnist1d", model="cnn1d")
    assert cfg.run_name() == f"swamp_cnn1d-mnist1d_s3_{cfg.hash()}"
    assert cfg.legacy_run_name() == f"swamp_{cfg.hash()}"
    # a user factory's module path becomes one folder-name part ("_" separates the parts)
    user = RunConfig().replace(model="my_pkg.nets:make_net")
    assert user.run_name() == f"imp-wr_my-pkg.nets-make-net-mnist1d_s0_{user.hash()}"


def test_a_run_under_its_old_name_is_found_and_resumed(tmp_path):
    cfg = RunConfig().replace(**TINY, method="imp-wr", levels=1)
    # both folders as runs made before readable names would have named them
    old_dense = tmp_path / cfg.dense().legacy_run_name()
    old_run = tmp_path / cfg.legacy_run_name()
    prune(cfg.dense(), out=old_dense, quiet=True)
    assert run_dir_of(cfg.dense(), root=tmp_path) == old_dense
    prune(cfg, out=old_run, quiet=True)
    before = (paths.metrics(old_run, 1).read_bytes(), paths.weights(old_run, 1).read_bytes())

    # the same settings with --root (no --out): the old folder, extended by one level
    assert prune(cfg.replace(levels=2), root=tmp_path, quiet=True) == old_run
    assert paths.levels(old_run) == [0, 1, 2]
    assert (
        paths.metrics(old_run, 1).read_bytes(),
        paths.weights(old_run, 1).read_bytes(),
    ) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old_dense.name, old_run.name])
    # a run of other settings gets a readable name, beside the old ones
    assert run_dir_of(cfg.replace(seed=1), root=tmp_path).name == cfg.replace(seed=1).run_name()


def _fake_run(root: Path, levels_written: dict[int, dict], **settings) -> Path:
    """A run directory with ``config.json`` for ``settings`` and, per level, a weights file and
    ``metrics.json`` (what the view reads; the weights bytes are never loaded)."""
    cfg = RunConfig().replace(**{**TINY, **settings})
    run_dir = prepare_run_dir(cfg, root=root)
    for level, extra in levels_written.items():
        weights = paths.weights(run_dir, level)
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.write_bytes(b"not read by the view")
        metrics = {"level": level, "density": 0.8**level, "train_error": 0.1,
                   "test_error": 0.3 + level / 100, "seconds": 1.0, "world_size": 1,
                   "files": {"weights.safetensors": file_digest(weights)}, **extra}  # fmt: skip
        save_json(paths.metrics(run_dir, level), metrics)
    return run_dir


@pytest.fixture
def folder(tmp_path) -> dict[str, Path]:
    runs = {
        "finished": _fake_run(tmp_path, {0: {}, 1: {}}, method="imp-wr", levels=1),
        "seed1": _fake_run(tmp_path, {0: {}, 1: {}}, method="imp-wr", levels=1, seed=1),
        "interrupted": _fake_run(tmp_path, {0: {}}, method="swamp", levels=2, particles=2),
        "torchrun": _fake_run(
            tmp_path, {0: {}, 1: {"world_size": 2}}, method="imp-lrr", levels=1, lr=0.05
        ),
        "damaged": _fake_run(tmp_path, {0: {}, 1: {}}, method="imp-ft", levels=1),
        "written": _fake_run(tmp_path, {}, method="imp-wr", levels=1, seed=2),
    }
    paths.metrics(runs["damaged"], 1).write_text("{ truncated")
    result = paths.analysis_dir(runs["finished"], 1, "hessian", "0123456789")
    result.mkdir(parents=True)
    save_json(result / "result.json", {"kind": "hessian"})
    paths.analysis_dir(runs["finished"], 0, "bound", "0123456789").mkdir(parents=True)  # unfinished
    for storage in ("instability-copies", "bound-retrain", "robustness-nets"):  # not analyses
        paths.analysis_dir(runs["finished"], 1, storage, "0123456789").mkdir(parents=True)
    paths.run_analysis_dir(runs["finished"], "rewind-points", "dense").mkdir(parents=True)
    (tmp_path / "not-a-run").mkdir()
    return runs


def test_each_state_and_what_each_run_holds(folder):
    found = find_runs(next(iter(folder.values())).parent)
    assert sorted(found) == sorted(folder.values())  # folders without config.json are not runs
    with hold(folder["written"]):
        s = {k: summarize(p) for k, p in folder.items()}
    assert s["finished"].state == s["seed1"].state == s["torchrun"].state == "finished"
    assert s["interrupted"].state == "interrupted"
    assert s["damaged"].state == "damaged: level 1's metrics.json unreadable"
    assert s["written"].state.startswith("being written by pid ")
    assert summarize(folder["written"]).state == "interrupted"  # the lock is gone with its holder

    assert (s["interrupted"].levels_done, s["interrupted"].levels_asked) == ([0], 2)
    assert s["finished"].last["density"] == pytest.approx(0.8)
    assert s["finished"].analyses == {"hessian": 1} and s["finished"].unfinished_analyses == 1
    assert s["torchrun"].world_sizes == {0: 1, 1: 2}
    assert world_note(s["torchrun"].world_sizes).startswith("trained with level 0 on 1 process, "
                                                            "level 1 on 2 processes")  # fmt: skip
    assert world_note(s["finished"].world_sizes) is None
    # lr differs (0.05 in one run); particles is SWAMP's alone and one value: not listed
    assert differing(list(s.values())) == ["lr"]


def test_a_level_whose_files_were_removed_marks_the_run_damaged(folder):
    paths.weights(folder["finished"], 0).unlink()
    paths.weights(folder["finished"], 0).write_bytes(b"other bytes")
    assert summarize(folder["finished"]).state == "finished"  # digests are compared on request
    assert summarize(folder["finished"], check=True).state == (
        "damaged: level 0's weights.safetensors changed after it was written"
    )


def test_runs_prints_one_line_per_run_and_show_on_the_folder_the_same(folder, capsys):
    root = next(iter(folder.values())).parent
    assert main(["runs", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[:5] == ["run", "method", "model", "data", "seed"]
    assert "processes" in header and "analyses" in header
    rows = {line.split()[0]: line for line in out[2 : 2 + len(folder)]}
    assert set(rows) == {p.name for p in folder.values()}
    finished = rows[folder["finished"].name].split()
    assert finished[1:6] == ["imp-wr", "mlp", "mnist1d", "0", "lr=0.1"]
    assert finished[6:9] == ["2/2", "0.8000", "0.3100"]
    assert "hessian×1 (+1 unfinished)" in rows[folder["finished"].name]
    assert "lr=0.05" in rows[folder["torchrun"].name]
    assert " 1,2* " in rows[folder["torchrun"].name]
    assert "1/3" in rows[folder["interrupted"].name]
    assert any(line.startswith(folder["torchrun"].name + ": trained with") for line in out)

    assert main(["runs", str(root), "--json"]) == 0
    records = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert records[str(folder["interrupted"])]["state"] == "interrupted"
    assert main(["show", str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == header


def test_show_marks_levels_trained_on_several_processes(folder, capsys):
    assert main(["show", str(folder["torchrun"])]) == 0
    out = capsys.readouterr().out
    assert "processes" in out.splitlines()[2]
    assert "note: trained with level 0 on 1 process, level 1 on 2 processes" in out
    assert main(["show", str(folder["finished"])]) == 0
    assert "processes" not in capsys.readouterr().out


def test_runs_on_a_folder_without_runs_says_so(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    assert "no run directories" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["show", str(tmp_path)]) == 2


def test_runs_reads_without_torch(folder):
    root = next(iter(folder.values())).parent
    code = (f"import sys; from landscape.cli import main; main(['runs', {str(root)!r}]); "
            "print('torch' in sys.modules)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"
