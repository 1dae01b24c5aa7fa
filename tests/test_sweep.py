"""``landscape sweep``: a grid of tiny runs as parallel jobs, their failures, resuming, TOML."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from landscape.cli import main
from landscape.jobs.sweep import Grid, load_grid, plan, sweep
from landscape.specs import SweepSpec

# A tiny run: 8 steps a level on synthetic data; the cost of a job is starting Python and torch.
TINY = ["data=synthetic", "model=mlp", "length=1ep", "batch-size=128", "eval-every=1ep",
        "levels=1"]  # fmt: skip


def _sets(*extra: str) -> list[str]:
    """TINY's settings as ``--set`` flags, a setting of ``extra`` replacing TINY's."""
    given = {e.split("=")[0] for e in extra}
    base = [t for t in TINY if t.split("=")[0] not in given]
    return [a for s in (*base, *extra) for a in ("--set", s)]


def _files(root: Path) -> dict[str, int]:
    """Every file of the run directories under ``root`` (not the sweeps' folders, not the lock
    files) with its modification time in nanoseconds."""
    return {str(f.relative_to(root)): f.stat().st_mtime_ns for f in sorted(root.rglob("*"))
            if f.is_file() and f.name != ".lock" and not f.relative_to(root).parts[0].startswith("sweep_")}  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """2 methods × 2 seeds with 2 workers, once for the module: (root, result)."""
    root = tmp_path_factory.mktemp("sweep")
    grid = Grid.from_flags("imp-wr,imp-lrr", "0,1", sets=[s.replace("-", "_") for s in TINY])
    res = sweep(grid, root=root, workers=2, log=lambda _: None)
    return root, res


def test_a_local_sweep_of_two_methods_and_two_seeds_writes_the_summary(swept):
    root, res = swept
    assert res.ok and len(res.jobs) == 4 and {j.status for j in res.jobs} == {"done"}
    assert res.folder == root / f"sweep_{res.grid.digest()}"
    for job in res.jobs:  # where `landscape prune` puts them, each with its log
        assert job.run_dir == root / job.name
        assert (job.run_dir / "level_01" / "metrics.json").exists()
        assert "landscape prune" in job.log.read_text()
    summary = json.loads((res.folder / "summary.json").read_text())
    rows = {r["method"]: r for r in summary["rows"]}
    assert set(rows) == {"imp-wr", "imp-lrr"}
    for r in rows.values():
        assert r["finished"] == [0, 1] and r["level"] == 1
        acc = r["accuracy"]["values"]
        assert acc[0] != acc[1] and r["accuracy"]["mean"] == pytest.approx(sum(acc) / 2)
        assert r["accuracy"]["std"] == pytest.approx(abs(acc[0] - acc[1]) / 2**0.5)
        assert r["density"]["mean"] == pytest.approx(0.8) and r["density"]["std"] == 0
        assert r["dense_accuracy"]["n"] == 2
    md = (res.folder / "summary.md").read_text()
    assert "| imp-lrr |" in md and " ± " in md and "2/2" in md
    # The IMP methods of one seed share the dense network: one dense run per seed.
    assert len(list(root.glob("dense_*"))) == 2


def test_a_failed_job_is_reported_with_its_log_while_the_others_finish(tmp_path, capsys):
    # a batch larger than the training set passes the settings' checks and fails in the job
    argv = ["sweep", "--method", "imp-wr", "--seeds", "0", *_sets("batch-size=128,100000"),
            "--workers", "2", "--root", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "exceeds the" in out and "1 job(s) failed" in out
    summary = json.loads(next(tmp_path.glob("sweep_*/summary.json")).read_text())
    jobs = {j["status"]: j for j in summary["jobs"]}
    assert set(jobs) == {"done", "failed"} and jobs["failed"]["returncode"] == 2
    assert "--batch-size 100000 exceeds the" in Path(jobs["failed"]["log"]).read_text()
    assert "--batch-size 100000 exceeds the" in jobs["failed"]["tail"]
    done = Path(jobs["done"]["run_dir"])
    assert (done / "level_01" / "metrics.json").exists()
    rows = {r["settings"]["batch_size"]: r for r in summary["rows"]}
    assert rows[128]["finished"] == [0] and rows[100000]["finished"] == []
    assert "Failed jobs" in next(tmp_path.glob("sweep_*/summary.md")).read_text()


@pytest.mark.parametrize("bad", [("--set", "lr=0.1,-1"), ("--set", "lr=nan"),
                                 ("--seeds", "99999999999999999999")])  # fmt: skip
def test_a_grid_value_the_runner_refuses_stops_the_sweep_before_anything_is_written(
    tmp_path, capsys, bad
):
    argv = ["sweep", "--method", "imp-wr", *_sets(), *bad, "--root", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sweep" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no sweep folder, grid.json, logs or run


def test_a_killed_sweep_redoes_only_the_missing_work(swept):
    root, res = swept
    victim = res.jobs[-1].run_dir
    (victim / "level_01" / "metrics.json").unlink()  # as if killed before level 1 finished
    before = _files(root)
    again = sweep(res.grid, root=root, workers=2, log=lambda _: None)
    assert again.ok and again.folder == res.folder
    assert [j.status for j in again.jobs] == ["finished"] * 3 + ["done"]
    after = _files(root)
    redone = {k for k in after if k.startswith(f"{victim.name}/level_01/")}
    assert redone and all(after[k] != before.get(k) for k in redone if k.endswith("metrics.json"))
    assert {k: v for k, v in after.items() if k not in redone} == {
        k: v for k, v in before.items() if k not in redone}  # fmt: skip
    assert json.loads((res.folder / "summary.json").read_text())["rows"] == list(again.rows)


def test_the_toml_grid_equals_the_flag_grid(swept, tmp_path, capsys):
    root, res = swept
    toml = tmp_path / "grid.toml"
    toml.write_text('method = ["imp-wr", "imp-lrr"]\nseeds = [0, 1]\n[set]\ndata = "synthetic"\n'
                    'model = "mlp"\nlength = "1ep"\nbatch_size = 128\neval_every = "1ep"\n'
                    "levels = 1\n")  # fmt: skip
    assert load_grid(toml) == res.grid and load_grid(toml).digest() == res.grid.digest()
    assert main(["sweep", str(toml), "--root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished  ") == 4 and "to run" not in out  # the same run directories
    # Types as TOML writes them and as flags do; a value holding commas; a preset.
    flags = Grid.from_flags("imp-wr", "0-2", "mlp-mnist1d",
                            ["rewind-step=200", "milestones=4ep,6ep;", "augment=false,true",
                             "lr=0.05,0.1"])  # fmt: skip
    toml.write_text('preset = "mlp-mnist1d"\nmethod = "imp-wr"\nseeds = [0, 1, 2]\n[set]\n'
                    'rewind_step = 200\nmilestones = "4ep,6ep"\naugment = [false, true]\n'
                    "lr = [0.05, 0.1]\n")  # fmt: skip
    assert load_grid(toml) == flags and len(flags.points()) == 12
    spec = SweepSpec()
    dirs = [j.run_dir for j in plan(flags, spec, tmp_path, tmp_path / "s")]
    assert dirs == [j.run_dir for j in plan(load_grid(toml), spec, tmp_path, tmp_path / "s")]
    assert len(set(dirs)) == 12


def test_grid_points_share_a_directory_and_settings_apply_to_their_methods(tmp_path):
    grid = Grid(method=("imp-wr", "swamp"), settings={"levels": [1, 2], "particles": [2, 3]})
    jobs = plan(grid, SweepSpec(), tmp_path, tmp_path / "s")
    wr = [j for j in jobs if j.name.startswith("imp-wr")]
    # levels is not hashed for imp-wr: levels 1 and 2 are one run, trained to level 2
    assert len(wr) == 1 and wr[0].levels == 2 and len(wr[0].points) == 2
    assert "--particles" not in " ".join(wr[0].command)  # a SWAMP setting, not imp-wr's
    assert len([j for j in jobs if j.name.startswith("swamp")]) == 2
    assert "--threads=" in " ".join(jobs[0].command) and jobs[0].command[-1] == "--quiet"
    torchrun = plan(grid, SweepSpec(nproc_per_job=2), tmp_path, tmp_path / "s")[0].command
    assert "torch.distributed.run" in torchrun and "--nproc-per-node=2" in torchrun


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "lr=fast"], "lr: 'fast' is not a number"),
        (["--set", "colour=red"], "no setting named 'colour'"),
        (["--set", "seed=1"], "--seeds"),
        (["--set", "particles=2"], "swamp only"),
        (["--set", "lr"], "write KEY=V1,V2"),
        (["--seeds", "a"], "not a whole number"),
        (["--method", "imp-xx"], "unknown method 'imp-xx'"),
    ],
)
def test_a_bad_grid_is_one_line_and_runs_nothing(tmp_path, capsys, args, message):
    argv = ["sweep", "--method", "imp-wr", *args, "--root", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


class _FakeJob:
    def __init__(self, fn, args):
        self.job_id, self._fn, self._args = "7_0", fn, args

    def done(self) -> bool:
        return True

    def result(self):
        return self._fn(*self._args)


class _FakeExecutor:
    params: ClassVar[dict] = {}

    def __init__(self, folder):
        self.folder = folder

    def update_parameters(self, **kw):
        _FakeExecutor.params = kw

    def batch(self):
        import contextlib

        return contextlib.nullcontext()

    def submit(self, fn, *args):
        return _FakeJob(fn, args)


def test_slurm_submits_a_job_array_through_submitit(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(AutoExecutor=_FakeExecutor))
    argv = ["sweep", "--method", "imp-wr", *_sets("batch-size=100000"), "--root", str(tmp_path),
            "--executor", "slurm", "--slurm-partition", "gpu", "--slurm-time", "30",
            "--slurm-gpus-per-job", "1", "--workers", "4"]  # fmt: skip
    assert main(argv) == 1  # the one job exits 2 (its batch exceeds the data) on the "node"
    out = capsys.readouterr().out
    assert "submitted imp-wr_" in out and "--batch-size 100000 exceeds the" in out
    assert _FakeExecutor.params == {
        "name": _FakeExecutor.params["name"], "timeout_min": 30, "nodes": 1, "tasks_per_node": 1,
        "slurm_array_parallelism": 4, "slurm_partition": "gpu", "gpus_per_node": 1,
    }  # fmt: skip
    monkeypatch.setitem(sys.modules, "submitit", None)  # not installed
    assert main(argv) == 2 and "pip install submitit" in capsys.readouterr().err


def test_the_command_line_builds_without_torch():
    code = "import sys, landscape.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
