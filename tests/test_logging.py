"""Experiment logs (``--log csv|tensorboard|wandb``), read back from the files they write.

The references are the run's own record: every logged evaluation and level number
must equal what ``metrics.json`` holds, every step's learning rate the schedule's,
and the per-step losses must average to the learning curve's ``train_loss`` (the
mean since the previous curve point). TensorBoard's event files are read with
TensorBoard's own reader and must hold the CSV's numbers.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from landscape import paths
from landscape.cli import main
from landscape.errors import LandscapeError
from landscape.experiment_log import ExperimentLog, log_results, parse_kinds
from landscape.hparams import RunConfig
from landscape.io import load_json, save_json
from landscape.jobs.prune import prune
from landscape.training import lr_schedule

ROOT = Path(__file__).resolve().parents[1]
# MNIST-1D MLP on 1000 samples: 10 steps an epoch, 4 epochs a level, rewind point at step 10.
TINY = ["--data", "mnist1d", "--model", "mlp", "--train-subset", "1000", "--length", "4ep",
        "--milestones", "2ep,3ep", "--eval-every", "2ep"]  # fmt: skip


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def read_csv(run_dir: Path) -> dict[str, dict[str, dict[int, float]]]:
    """``{series: {tag: {step: value}}}`` from ``logs/scalars.csv``."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    with open(run_dir / "logs" / "scalars.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["series"]][row["tag"]][int(row["step"])] = float(row["value"])
    return out


@pytest.fixture(scope="module")
def imp_run(tmp_path_factory) -> Path:
    """An IMP-WR run (dense level 0 + 1 level) logged through the command line."""
    root = tmp_path_factory.mktemp("runs")
    kinds = "csv,tensorboard" if _has_tensorboard() else "csv"
    argv = ["prune", "--method", "imp-wr", "--levels", "1", "--rewind-step", "10", *TINY,
            "--root", str(root), "--quiet", "--log", kinds]  # fmt: skip
    assert main(argv) == 0
    (run_dir,) = root.glob("imp-wr_*")
    return run_dir


def test_csv_holds_every_step_each_evaluation_and_each_level(imp_run):
    log = read_csv(imp_run)
    cfg = RunConfig.from_dict(load_json(paths.config(imp_run))["hparams"])
    schedule = lr_schedule(cfg.train, 10)
    for level in (0, 1):
        m = load_json(paths.metrics(imp_run, level))
        series = log[f"level_{level:02d}"]
        first = 0 if level == 0 else m["start_step"]
        steps = range(first + 1, m["stop_step"] + 1)
        assert sorted(series["train/loss"]) == list(steps)
        assert all(series["train/lr"][s] == schedule(s - 1) for s in steps)
        # the evaluations are the learning curve, and the per-step losses average to it
        prev = first
        for point in m["curve"]:
            s = point["step"]
            assert series["test/error"][s] == point["test_error"]
            assert series["test/loss"][s] == pytest.approx(point["test_loss"], rel=1e-12)
            window = [series["train/loss"][t] for t in range(prev + 1, s + 1)]
            assert sum(window) / len(window) == pytest.approx(point["train_loss"], rel=1e-5)
            prev = s
        for key in ("density", "test_error", "train_error", "test_loss", "train_loss"):
            assert log["levels"][key][level] == pytest.approx(m[key], rel=1e-12)
    # each level once (level 0: when copied from the dense run this run trained first)
    with open(imp_run / "logs" / "scalars.csv", newline="") as fh:
        density = [r["step"] for r in csv.DictReader(fh) if r["series"] == "levels"
                   and r["tag"] == "density"]  # fmt: skip
    assert density == ["0", "1"]


def test_tensorboard_event_files_hold_the_csv_numbers(imp_run):
    pytest.importorskip("tensorboard", reason="--log tensorboard needs the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = read_csv(imp_run)
    for series in ("level_00", "level_01", "levels"):
        acc = EventAccumulator(str(imp_run / "logs" / "tensorboard" / series)).Reload()
        assert set(acc.Tags()["scalars"]) == set(log[series])
        for tag in ("train/loss", "test/error", "density"):
            if tag in log[series]:
                got = {e.step: e.value for e in acc.Scalars(tag)}
                assert got == pytest.approx(log[series][tag], rel=1e-6)  # stored as float32


def test_logging_is_not_part_of_the_run(imp_run, capsys):
    # the same command without --log names the same, finished run (nothing retrained)
    before = paths.metrics(imp_run, 1).read_bytes()
    argv = ["prune", "--method", "imp-wr", "--levels", "1", "--rewind-step", "10", *TINY,
            "--root", str(imp_run.parent), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert paths.metrics(imp_run, 1).read_bytes() == before
    assert "log" not in load_json(paths.config(imp_run))["hparams"]["train"]


def test_swamp_logs_each_particle_and_the_average(tmp_path):
    cfg = RunConfig().replace(data="mnist1d", model="mlp", train_subset=1000, length="2ep",
                              milestones="1ep", eval_every="1ep", method="swamp", levels=0,
                              particles=2, particle_mode="sequential")  # fmt: skip
    run_dir = prune(cfg, root=tmp_path, quiet=True, log_to="csv")
    log, m = read_csv(run_dir), load_json(paths.metrics(run_dir, 0))
    for i, record in enumerate(m["particles"]):
        series = log[f"level_00/particle_{i}"]
        assert sorted(series["train/loss"]) == list(range(1, 21))
        assert series["test/error"][20] == record["curve"][-1]["test_error"]
        assert log["levels"][f"particle_{i}/test_error"][0] == record["test_error"]
    assert log["levels"]["average_test_error"][0] == m["average_test_error"]
    assert log["levels"]["particle_mean_test_error"][0] == m["particle_mean_test_error"]


def test_vectorized_particles_log_each_particle(tmp_path):
    from landscape.data import load_data
    from landscape.models import create_model
    from landscape.training.swa import make_plan
    from landscape.training.vectorized import train_particles

    data = load_data("mnist1d", train_subset=1000, device="cpu")
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    hp = RunConfig().train
    logs: list[list] = [[], []]
    results = train_particles(
        model, [model.state_dict()] * 2, data, hp, 100, plan=make_plan(0, 20, 0.5, 0.01, 10),
        lr_at=lambda t: 0.1, data_seeds=[0, 1000], eval_every=10, show_progress=False,
        on_logs=[lambda s, t, i=i: logs[i].append((t, dict(s))) for i in range(2)],
    )  # fmt: skip
    for i, r in enumerate(results):
        per_step = {t: s["train/loss"] for t, s in logs[i] if "train/loss" in s}
        assert sorted(per_step) == list(range(1, 21))
        for point in r.curve:
            window = [per_step[t] for t in range(point["step"] - 9, point["step"] + 1)]
            assert sum(window) / 10 == pytest.approx(point["train_loss"], rel=1e-5)


def test_an_unknown_kind_or_a_missing_package_fails_before_anything_is_written(
    tmp_path, monkeypatch
):
    cfg = RunConfig().replace(method="imp-wr", levels=1)
    with pytest.raises(LandscapeError, match="did you mean tensorboard"):
        prune(cfg, root=tmp_path, log_to="tensorbord")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))  # fmt: skip
    with pytest.raises(LandscapeError, match=r"pip install 'landscape\[wandb\]'"):
        prune(cfg, root=tmp_path, log_to=["csv", "wandb"])
    assert list(tmp_path.iterdir()) == []
    assert parse_kinds("csv, csv,tensorboard" if _has_tensorboard() else "csv,csv") in (
        ("csv", "tensorboard"), ("csv",))  # fmt: skip


def test_csv_logging_imports_neither_tensorboard_nor_wandb(tmp_path):
    code = (
        "import sys; from landscape.experiment_log import ExperimentLog; import landscape.training\n"
        f"log = ExperimentLog({str(tmp_path)!r}, ['csv']); log.log({{'a': 1.5}}, 3); log.close()\n"
        "print(sorted(m for m in ('tensorboard', 'wandb', 'torch.utils.tensorboard') "
        "if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "scalars.csv").read_text().splitlines()[1].startswith(",3,a,1.5,")


def test_analysis_results_are_logged_once_by_level(tmp_path, capsys):
    run_dir = tmp_path / "run"
    record = {"kind": "hessian", "level": 1, "eigenvalues": [4.5, 2.0], "trace": None,
              "p_star": {"magnitude": 0.25}, "settings": {"seed": 0}, "converged": True}  # fmt: skip
    for level in (0, 1):
        save_json(paths.analysis_dir(run_dir, level, "hessian", f"abc{level}") / "result.json",
                  {**record, "level": level, "eigenvalues": [4.5 + level, 2.0]})  # fmt: skip
    assert log_results(run_dir, ["csv"]) == 2
    assert log_results(run_dir, ["csv"]) == 0  # already logged
    log = read_csv(run_dir)["analysis/hessian"]
    assert log["eigenvalues/0"] == {0: 4.5, 1: 5.5}
    assert log["p_star/magnitude"] == {0: 0.25, 1: 0.25}
    assert not {"settings/seed", "converged", "level", "trace"} & set(log)


def test_wandb_writes_an_offline_run_without_network(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="--log wandb needs the wandb extra")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    with ExperimentLog(tmp_path / "logs", ["wandb"], name="test-run", config={"lr": 0.1}) as log:
        for step in range(1, 4):
            log.log({"train/loss": 1.0 / step}, step, series="level_01")
    runs = list((tmp_path / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (records,) = runs[0].glob("*.wandb")  # protobuf records: the keys are stored as text
    data = records.read_bytes()
    assert b"level_01/train/loss" in data and b"level_01/step" in data


def test_log_to_is_the_same_flag_for_torchrun():
    # torchrun's parser refuses `--log` (a prefix of its --log-dir); `--log-to` passes through it
    from landscape.cli import build_parser

    for verb in (["prune", "--method", "imp-wr"], ["train"], ["hessian", "RUN"]):
        argv = [*verb, "--log-to", "csv"]
        assert build_parser(argv).parse_args(argv).log == "csv"


def _train_logged(rank: int, port: int, results) -> None:
    """Rank ``rank`` of 2 trains the MLP data-parallel; rank 0 logs (tests._ranks.spawn)."""
    import torch

    from landscape import distributed
    from landscape.data import load_data
    from landscape.models import create_model
    from landscape.training import train
    from tests._ranks import torchrun_env

    torchrun_env(rank, 2, port)
    distributed.init_from_env(torch.device("cpu"))
    try:
        rows: list = []
        data = load_data("synthetic")
        model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
        log = (lambda s, t: rows.append((t, s["train/loss"]))) if rank == 0 else None
        train(model, data, RunConfig().train, 64, stop=60, data_parallel=True,
              show_progress=False, on_log=log)  # fmt: skip
        results[rank] = rows
    finally:
        distributed.shutdown()


def test_under_ddp_rank_0_logs_the_global_batch_loss(monkeypatch):
    import torch

    from landscape.data import load_data
    from landscape.models import create_model
    from landscape.training import train
    from tests._ranks import free_port, spawn

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    one: list = []
    train(model, data, RunConfig().train, 64, stop=60, show_progress=False,
          on_log=lambda s, t: one.append((t, s["train/loss"])))  # fmt: skip
    two = spawn(_train_logged, free_port())
    assert two[1] == [] and [t for t, _ in two[0]] == list(range(1, 61))
    # the mean over both shares: the one-process loss up to float rounding (not a share's)
    torch.testing.assert_close(torch.tensor([v for _, v in two[0]]),
                               torch.tensor([v for _, v in one]), rtol=1e-4, atol=1e-5)  # fmt: skip
