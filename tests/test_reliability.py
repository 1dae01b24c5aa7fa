"""Reliability: one writer per run, every result complete or absent, no silent mixing, and
every failure one clear line (docs/reliability.md lists each case and its test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from landscape import io, jobs, locks, paths
from landscape.checkpoint import load_state, save_state
from landscape.cli import main
from landscape.errors import CheckpointError, ConfigMismatchError, LandscapeError
from landscape.hparams import RunConfig
from landscape.jobs import store
from landscape.runs import prepare_run_dir
from landscape.specs import ConnectivitySpec, EngineSpec
from tests._runs import run_method

QUICK = ["--data", "synthetic", "--model", "mlp", "--length", "1ep", "--batch-size", "128",
         "--eval-every", "1ep", "--quiet"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


def tiny(num_classes: int = 10, in_shape: tuple[int, ...] = (40,)) -> torch.nn.Module:
    """A user model factory (package.module:factory) for the consent tests."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_shape[-1], num_classes))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    _, run_dir = run_method(tmp_path_factory.mktemp("rel") / "run", method="imp-wr", levels=2,
                            length="2ep", rewind_step="2")  # fmt: skip
    return run_dir


def _prune(out: Path, *extra: str) -> list[str]:
    return ["prune", "--method", "imp-lrr", "--levels", "1", *QUICK, "--out", str(out), *extra]


# ---------------------------------------------------------------- 1. one writer per run


def test_a_second_writer_is_refused_and_says_who_holds_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    with locks.hold(run, what="run directory"):
        assert main(_prune(run, "--lr", "0.05")) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "being written" in err and "--wait" in err
    assert not paths.config(run).exists()  # nothing of the refused run was written
    assert main(_prune(run)) == 0  # the lock died with its holder's `with`


def test_two_concurrent_prunes_into_one_directory(tmp_path):
    """Two processes, other settings, one --out: one trains, the other is refused (by the lock
    while the first runs, or by the settings check after it finished); never a mix."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "landscape", *_prune(run)]
    cmd[cmd.index("1", cmd.index("--levels"))] = "3"
    first = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 60
    while not (run / locks.LOCK_NAME).exists() or "pid" not in (run / locks.LOCK_NAME).read_text():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "landscape", *_prune(run, "--lr", "0.05")],
                            env=env, capture_output=True, text=True)  # fmt: skip
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert "being written by" in second.stderr or "made with other settings" in second.stderr
    cfg = json.loads(paths.config(run).read_text())
    assert cfg["hparams"]["train"]["lr"] == 0.1 and paths.levels(run) == [0, 1, 2, 3]


# ---------------------------------------------------------------- 2. complete or absent


def test_connectivity_killed_at_every_write_completes_on_rerun(finished, monkeypatch):
    spec = ConnectivitySpec(points=3, engine=EngineSpec(eval_samples=64))
    real = io.atomic_write_bytes
    writes: list[int] = [0]

    def counting(path, data):
        if writes[0] == 0:
            raise KeyboardInterrupt  # killed before this write
        writes[0] -= 1
        real(path, data)

    for k in range(30):
        run = finished.parent / f"copy{k}"
        _copy_run(finished, run)
        writes[0] = k
        monkeypatch.setattr(io, "atomic_write_bytes", counting)
        monkeypatch.setattr(store, "atomic_write_bytes", counting)
        try:
            jobs.connectivity(run, spec, quiet=True, log=lambda _: None)
            done = True
        except KeyboardInterrupt:
            done = False
        monkeypatch.setattr(io, "atomic_write_bytes", real)
        monkeypatch.setattr(store, "atomic_write_bytes", real)
        res = jobs.connectivity(run, spec, quiet=True, log=lambda _: None)
        assert res.reused == done
        assert {"result.json", "result.npz", "connectivity.png"} <= {
            p.name for p in res.folder.iterdir()
        }
        for level in (0, 1):
            (pair,) = (run / f"level_{level:02d}" / "analysis").glob("barrier_*")
            assert {"result.json", "result.npz", "barrier.png"} <= {p.name for p in pair.iterdir()}
        if done:
            assert k > 3  # every write point was tried before the job ran through
            break
    else:
        pytest.fail("connectivity never finished within 30 writes")


def _copy_run(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("analysis", ".lock"))


# ---------------------------------------------------------------- 3. threads


def test_a_resume_with_another_thread_count_is_announced(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*_prune(run, "--threads", "1")]) == 0
    assert json.loads(paths.config(run).read_text())["threads"] == 1
    cfg = paths.config(run)
    assert main([*_prune(run, "--threads", "2")]) == 0  # the same settings: a resume
    assert "trained with 1 CPU thread(s) and resumes with 2" in capsys.readouterr().err
    assert json.loads(cfg.read_text())["threads"] == 1


# ---------------------------------------------------------------- 4.-5. config.json


def test_levels_without_a_config_are_refused(finished, tmp_path):
    run = tmp_path / "run"
    _copy_run(finished, run)
    paths.config(run).unlink()
    with pytest.raises(ConfigMismatchError, match="holds levels but no config.json"):
        prepare_run_dir(RunConfig().replace(data="synthetic", model="mlp"), out=run)


def test_a_failed_command_leaves_nothing_that_blocks_the_corrected_one(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*_prune(run), "--model", "resnet20"]) == 2
    assert "does not fit data 'synthetic'" in capsys.readouterr().err
    assert not paths.config(run).exists()
    # a config.json of a run that died before its first level is taken over
    prepare_run_dir(RunConfig().replace(data="synthetic", model="mlp", lr=0.5), out=run)
    assert main(_prune(run)) == 0 and paths.levels(run) == [0, 1]


# ---------------------------------------------------------------- 6. user code


def test_a_user_factory_named_by_config_json_needs_consent(tmp_path, capsys, monkeypatch):
    from landscape import models

    monkeypatch.setattr(models, "_TRUSTED", set())
    run = tmp_path / "run"
    assert main(_prune(run, "--model", "tests.test_reliability:tiny")) == 0
    models._TRUSTED.clear()  # a new session: the run directory came from someone else
    capsys.readouterr()
    assert main(["hessian", str(run), "--top-k", "1", "--samples", "32", "--quiet"]) == 2
    assert "--trust-model" in capsys.readouterr().err
    meta = json.loads(paths.config(run).read_text())
    meta["hparams"]["model"]["model"] = "tempfile:mkdtemp"
    io.save_json(paths.config(run), meta)
    with pytest.raises(LandscapeError, match="runs its code"):
        jobs.resolve(run)
    models._TRUSTED.clear()
    meta["hparams"]["model"]["model"] = "tests.test_reliability:tiny"
    io.save_json(paths.config(run), meta)
    assert main(["hessian", str(run), "--top-k", "1", "--samples", "32", "--quiet",
                 "--trust-model"]) == 0  # fmt: skip


def test_a_callable_that_is_no_model_factory(tmp_path, capsys):
    assert main([*_prune(tmp_path / "r"), "--model", "os:system"]) == 2
    assert "is not a model factory" in capsys.readouterr().err


# ---------------------------------------------------------------- 7. one line, not a traceback


@pytest.mark.parametrize("bad", [{}, [], {"hparams": {"train": {"lr": "fast"}}}])
def test_a_config_json_with_wrong_types(finished, tmp_path, capsys, bad):
    run = tmp_path / "run"
    _copy_run(finished, run)
    io.save_json(paths.config(run), bad)
    assert main(["show", str(run)]) == 0  # show reads metrics only, whatever config.json holds
    assert main(["connectivity", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not a landscape config" in err and "Traceback" not in err


def test_os_errors_are_one_line(finished, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["barrier", str(finished / "level_00"), str(finished / "level_01"), "--points",
                 "2", "--quiet", "--out", str(blocker / "sub")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert str(blocker) in err and "Traceback" not in err
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(store.Writer, "arrays", full)
    assert main(["barrier", str(finished / "level_00"), str(finished / "level_01"), "--points",
                 "2", "--quiet", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "the disk is full" in capsys.readouterr().err


def test_paths_that_could_not_be_read_back_are_refused_up_front(tmp_path, capsys):
    assert main(_prune(tmp_path / ("x" * 300))) == 2
    assert "bytes long" in capsys.readouterr().err
    odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9")  # not UTF-8
    assert main(_prune(Path(odd))) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(_prune(tmp_path / "f")) == 2
    assert "is a file" in capsys.readouterr().err


# ---------------------------------------------------------------- 8. validation


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--lr", "nan"], "--lr must be a positive number"),
     (["--lr", "inf"], "--lr must be a positive number"),
     (["--threads", "-2"], "--threads must be 0"),
     (["--weight-decay", "-1"], "--weight-decay"),
     (["--device", "gpu"], "is not a device")],
)  # fmt: skip
def test_bad_settings_fail_before_anything_is_written(tmp_path, capsys, flags, message):
    assert main([*_prune(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_equal_numbers_make_one_run():
    assert (
        RunConfig.from_dict({"train": {"lr": 1000}}).hash() == RunConfig().replace(lr=1000.0).hash()
    )


def test_masks_hold_zeros_and_ones_and_only_shrink(finished, tmp_path):
    run = tmp_path / "run"
    _copy_run(finished, run)
    mask = load_state(paths.mask(run, 1))
    name = next(iter(mask))
    two = {**mask, name: mask[name] * 2}
    save_state(paths.mask(run, 1), two)
    with pytest.raises(CheckpointError, match="values other than 0 and 1"):
        jobs.resolve(run, 1).mask()
    revived = {**mask, name: torch.ones_like(mask[name])}
    save_state(paths.mask(run, 2), revived)
    (paths.level_dir(run, 2) / "metrics.json").unlink()  # level 2 to be retrained on resume
    save_state(paths.mask(run, 1), mask)
    from landscape.runners.common import RunContext

    ctx = RunContext(jobs.resolve(run).run.config, run, torch.device("cpu"))
    with pytest.raises(CheckpointError, match="keeps weights that the previous level pruned"):
        ctx.prepare_mask(2, ctx.model(), None)


# ---------------------------------------------------------------- 9. damage


def test_damaged_levels_are_found_on_resume(finished, tmp_path, capsys):
    run = tmp_path / "run"
    _copy_run(finished, run)
    w = paths.weights(run, 1)
    state = load_state(w)
    name = next(iter(state))
    save_state(w, {**state, name: state[name] + 1})
    cfg = json.loads(paths.config(run).read_text())["hparams"]
    from landscape import jobs as J

    with pytest.raises(CheckpointError, match="damaged: it does not match the digest"):
        J.prune(RunConfig.from_dict(cfg), out=run, quiet=True)
    # an extension (--levels one more) stops there too, before config.json records it
    before = paths.config(run).read_bytes()
    longer = RunConfig.from_dict(cfg).replace(levels=RunConfig.from_dict(cfg).prune.levels + 1)
    with pytest.raises(CheckpointError, match="damaged: it does not match the digest"):
        J.prune(longer, out=run, quiet=True)
    assert paths.config(run).read_bytes() == before


def test_nan_weights_name_the_file(finished, tmp_path, capsys):
    run = tmp_path / "run"
    _copy_run(finished, run)
    state = load_state(paths.weights(run, 1))
    name = next(iter(state))
    save_state(paths.weights(run, 1), {**state, name: state[name] * float("nan")})
    assert main(["connectivity", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "level_01/weights.safetensors holds NaN" in err


# ---------------------------------------------------------------- 11.-12. smaller


def test_collapsed_levels_are_flagged_by_show(finished, tmp_path, capsys):
    run = tmp_path / "run"
    _copy_run(finished, run)
    m = json.loads(paths.metrics(run, 1).read_text())
    io.save_json(paths.metrics(run, 1), {**m, "collapsed": True})
    assert main(["show", str(run)]) == 0
    assert "levels [1] are at chance" in capsys.readouterr().out
    assert json.loads(paths.metrics(finished, 0).read_text())["collapsed"] is False


def test_stray_temporary_files_are_removed(finished, tmp_path):
    run = tmp_path / "run"
    _copy_run(finished, run)
    stray = paths.level_dir(run, 1) / ".weights.safetensors.abc123.tmp"
    stray.write_bytes(b"half")
    cfg = json.loads(paths.config(run).read_text())["hparams"]
    jobs.prune(RunConfig.from_dict(cfg), out=run, quiet=True)
    assert not stray.exists()


def test_a_forced_recompute_that_dies_leaves_no_stale_marker(tmp_path):
    """--force removes the old result.json before writing: a crash never pairs the old record
    with new arrays."""
    folder, settings = tmp_path / "res", {"kind": "x", "v": 1}
    with store.claim(folder, settings, log=lambda _: None) as done:
        assert done is None
        store.Writer(folder).finish({"kind": "x", "settings": settings, "v": 1.0})
    with (
        pytest.raises(KeyboardInterrupt),
        store.claim(folder, settings, force=True, log=lambda _: None) as done,
    ):
        assert done is None
        store.Writer(folder).arrays({"v": [2.0]})
        raise KeyboardInterrupt
    assert not (folder / "result.json").exists()
    with store.claim(folder, settings, log=lambda _: None) as done:
        assert done is None  # recomputed, not the old record reused
