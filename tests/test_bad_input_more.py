"""Bad input, third pass (docs/reliability.md, "Bad input, third pass"): settings that are
not finite or overflow, results holding NaN, swapped masks, whole-number weights, damaged
data caches, writer errors of a full disk, settings a run cannot finish — each stops with
one line naming the flag or file, exit status 2, and nothing written."""

from __future__ import annotations

import errno
import shutil
from dataclasses import fields, is_dataclass

import numpy as np
import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from landscape import checkpoint, hparams, io, jobs, paths, specs
from landscape.cli import main
from landscape.errors import CheckpointError, NonFiniteResultError
from landscape.hparams import RunConfig
from landscape.jobs.store import Writer
from tests._runs import run_method


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    _, run_dir = run_method(tmp_path_factory.mktemp("more") / "run", method="imp-wr", levels=2)
    return run_dir


def _copy(run_dir, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("analysis"))
    return out


def _one_line(capsys, *words):
    """The command's stderr is one line holding every word, and no traceback."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def _written(folder):
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        if folder.exists()
        else []
    )


# ------------------------------------------------ every number setting of every spec


def _spec_classes():
    for name in specs.__all__:
        cls = getattr(specs, name)
        if isinstance(cls, type) and is_dataclass(cls):
            yield cls


_VALID = {specs.SliceSpec: {"plane": "random"}}


def _bad_numbers(f):
    kind = str(f.type).replace(" | None", "")
    if kind == "float":
        return [float("nan"), float("inf"), -float("inf"), -1.0]
    if kind == "int":
        big = 2**32 if f.name.endswith("seed") else 2**63
        return [big, -1]
    if kind.startswith("tuple[int"):
        return [(2**32, 1), (-1, 1)]
    return []


def test_every_number_setting_of_every_spec_is_checked():
    """NaN, ±inf, negatives and numbers past int64 (seeds past 2**32) are refused for every
    float and int field of every spec, naming the flag — including --tol nan, which was
    accepted and gave λ₁ = 0.006 after one product."""
    checked = 0
    for cls in _spec_classes():
        for f in fields(cls):
            for bad in _bad_numbers(f):
                flag = "--" + f.name.replace("_", "-")
                with pytest.raises(ValueError, match=flag) as err:
                    cls(**{**_VALID.get(cls, {}), f.name: bad})
                assert "\n" not in str(err.value)
                checked += 1
    assert checked > 100  # every spec has number fields; a new spec is covered by itself


def test_every_number_setting_of_every_run_section_is_checked():
    for section in hparams.SECTIONS.values():
        for f in fields(section):
            for bad in _bad_numbers(f):
                with pytest.raises(ValueError, match="--" + f.name.replace("_", "-")):
                    RunConfig().replace(**{f.name: bad})


def test_hessian_tol_nan_and_seed_overflow_fail_before_anything_is_written(finished, capsys):
    before = _written(finished)
    assert main(["hessian", str(finished), "--level", "1", "--tol", "nan", "--quiet"]) == 2
    _one_line(capsys, "--tol", "nan")
    assert main(["hessian", str(finished), "--level", "1", "--seed", "9" * 23, "--quiet"]) == 2
    _one_line(capsys, "--seed", "2**32")
    assert _written(finished) == before


def test_a_seed_past_int64_names_the_flag(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["prune", "--seed", "99999999999999999999999", "--out", str(out), "--quiet"]) == 2
    _one_line(capsys, "--seed 99999999999999999999999")
    assert not out.exists()


# ------------------------------------------------ run settings that cannot finish


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--batch-size", "100000"], ["--batch-size 100000", "4000 training samples"]),
        (["--rewind-step", "999999"], ["--rewind-step 999999", "not before the end"]),
        (["--levels", "10000"], ["--levels 10000", "would prune no weight", "at most"]),
        (["--length", "1000000000ep"], ["--length", "the limit is 10,000,000 steps"]),
        (["--method", "imp", "--goal-sparsity", "0"], ["--goal-sparsity"]),
        (["--method", "bimp", "--budget-epochs", "5"], ["--budget-epochs"]),
    ],
)
def test_settings_a_run_cannot_finish_fail_before_anything_is_written(
    tmp_path, capsys, flags, words
):
    """--batch-size 100000 and --rewind-step 999999 left .lock and config.json behind;
    --levels 10000 trained on until two weights remained; --length 1000000000ep was taken."""
    out = tmp_path / "r"
    if "--method" not in flags:
        flags = ["--method", "imp-wr", *flags]
    assert main(["prune", *flags, "--out", str(out), "--quiet"]) == 2
    _one_line(capsys, *words)
    assert not out.exists()


# ------------------------------------------------ results holding NaN


def test_the_store_never_marks_a_result_holding_nan_finished(tmp_path):
    folder = tmp_path / "hessian_x"
    record = {"kind": "hessian", "run": "RUN", "eigenvalues": [float("nan"), 1.0],
              "settings": {"weights": "level_01/weights.safetensors"}}  # fmt: skip
    with pytest.raises(
        NonFiniteResultError, match=r"level_01/weights\.safetensors.*eigenvalues\[0\]"
    ):
        Writer(folder).finish(record)
    assert not (folder / "result.json").exists()
    # a value undefined by nature is null, never NaN, and is finished
    Writer(folder).finish({**record, "eigenvalues": [2.0, 1.0], "trace_stderr": None})
    assert (folder / "result.json").exists()


def _huge(run_dir, level):
    """Finite but huge weights (1e38 where the mask keeps them): the loss overflows."""
    path = paths.weights(run_dir, level)
    state = load_file(str(path))
    save_file({k: torch.where(v != 0, torch.full_like(v, 1e38), v) if v.is_floating_point() else v
               for k, v in state.items()}, str(path))  # fmt: skip
    metrics = io.load_json(paths.metrics(run_dir, level))
    metrics.pop("files", None)  # (not a damage check: the weights are "genuinely" these)
    io.save_json(paths.metrics(run_dir, level), metrics)


def test_huge_weights_give_no_finished_nan_result_and_name_the_weights(finished, tmp_path, capsys):
    """1e38 weights gave λ₁ = nan and loss barrier nan in result.json, exit 0."""
    run = _copy(finished, tmp_path)
    _huge(run, 1)
    assert main(["barrier", str(run / "level_00"), str(run / "level_01"), "--points", "3",
                 "--quiet"]) == 2  # fmt: skip
    _one_line(capsys, "level_01/weights.safetensors", "not finite", "not marked finished")
    assert main(["hessian", str(run), "--level", "1", "--top-k", "1", "--samples", "100",
                 "--quiet"]) == 2  # fmt: skip
    _one_line(capsys, "level_01/weights.safetensors", "NaN or infinite")
    assert not list(run.rglob("result.json"))
    # the refused result leaves no arrays or figures of NaN behind, only its folder's lock
    assert [p.name for p in run.rglob("analysis/*/*")] == [".lock"] * 2


# ------------------------------------------------ masks, weights, data cache


def _swap_masks(run):
    a, b = paths.mask(run, 1), paths.mask(run, 2)
    tmp = a.with_suffix(".tmp")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def test_swapped_masks_are_refused_wherever_a_runs_masks_are_read(finished, tmp_path, capsys):
    """level_01 ↔ level_02 masks passed through hessian --masked, connectivity and bound."""
    run = _copy(finished, tmp_path)
    _swap_masks(run)
    with pytest.raises(CheckpointError, match="keeps weights that the previous level pruned"):
        jobs.resolve(run, 2).mask()
    for argv in (["hessian", str(run), "--level", "2", "--masked"], ["connectivity", str(run)],
                 ["bound", str(run), "--level", "1"]):  # fmt: skip
        assert main([*argv, "--quiet"]) == 2
        _one_line(capsys, "mask.safetensors", "masks only shrink")
    assert not list(run.rglob("analysis"))


def test_level_weights_that_do_not_fit_their_mask_are_refused(finished, tmp_path):
    run = _copy(finished, tmp_path)
    shutil.copy(paths.mask(run, 2), paths.mask(run, 1))  # a sparser mask under level 1
    shutil.copy(paths.mask(run, 2), paths.mask(run, 0))  # (nesting holds: 2 ⊆ 2 ⊆ 2)
    with pytest.raises(CheckpointError, match=r"level_01/weights\.safetensors has non-zero"):
        jobs.resolve(run / "level_01" / "weights.safetensors")


def test_whole_number_weights_are_refused(finished, tmp_path):
    run = _copy(finished, tmp_path)
    path = paths.weights(run, 1)
    save_file({k: v.round().to(torch.int64) for k, v in load_file(str(path)).items()}, str(path))
    with pytest.raises(CheckpointError, match=r"whole numbers.*int64"):
        jobs.resolve(run, 1)


def test_a_data_cache_of_the_wrong_width_or_truncated_is_regenerated(tmp_path, monkeypatch):
    from landscape.data import mnist1d

    rng = np.random.default_rng(0)
    made = {"x": rng.normal(size=(20, 40)), "y": rng.integers(0, 10, 20),
            "x_test": rng.normal(size=(5, 40)), "y_test": rng.integers(0, 10, 5)}  # fmt: skip
    calls = []
    monkeypatch.setattr(mnist1d, "_generate", lambda: calls.append(1) or dict(made))
    cache = tmp_path / "mnist1d_default.npz"
    np.savez(cache, **{**made, "x": made["x"][:, :39], "x_test": made["x_test"][:, :39]})
    assert mnist1d.load_mnist1d(tmp_path).train_x.shape == (20, 40) and len(calls) == 1
    assert mnist1d.load_mnist1d(tmp_path).train_x.shape == (20, 40) and len(calls) == 1  # cached
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated: BadZipFile
    again = mnist1d.load_mnist1d(tmp_path)
    assert len(calls) == 2 and torch.equal(again.test_y, torch.as_tensor(made["y_test"]))
    np.savez(cache, **{**made, "y": made["y"] + 10})  # labels outside 0..9
    mnist1d.load_mnist1d(tmp_path)
    assert len(calls) == 3


# ------------------------------------------------ writer errors, grids, peers


# safetensors 0.4+ says "(os error 28)"; older versions "IoError(Os { code: 28, ... })"
_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"


def test_a_full_disk_while_saving_a_level_is_one_line_naming_the_file(
    tmp_path, capsys, monkeypatch
):
    """safetensors raised its own SafetensorError (no OSError) for a full disk."""

    def full(*_, **__):
        raise SafetensorError(_FULL)

    monkeypatch.setattr(checkpoint, "save_file", full)
    out = tmp_path / "r"
    assert main(["prune", "--method", "imp-wr", "--levels", "1", "--length", "2ep",
                 "--milestones", "1ep", "--eval-every", "1ep", "--out", str(out), "--quiet"]) == 2  # fmt: skip
    err = _one_line(capsys, "rewind.safetensors", "No space left on device", "free space")
    assert "a file" not in err
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_a_write_error_without_a_file_name_names_the_file(tmp_path, monkeypatch):
    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(OSError) as err:
        io.save_json(tmp_path / "x.json", {"a": 1})
    assert err.value.filename == str(tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("method", ["5", "true", "{ a = 1 }"])
def test_a_sweep_grid_with_a_method_of_the_wrong_type(tmp_path, capsys, method):
    grid = tmp_path / "grid.toml"
    grid.write_text(f"method = {method}\n")
    assert main(["sweep", str(grid), "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, "method")
    grid.write_text('method = "imp-wr"\npreset = [1]\n')
    assert main(["sweep", str(grid), "--out", str(tmp_path / "s")]) == 2
    _one_line(capsys, "preset")
    assert not (tmp_path / "s").exists()


def test_a_slice_grid_past_the_memory_is_refused_with_its_size(finished, capsys):
    before = _written(finished)
    assert main(["slice", str(finished), "--random", "--grid", "100000", "--quiet"]) == 2
    _one_line(capsys, "--grid 100000", "GiB", "use at most --grid")
    assert _written(finished) == before


def test_a_lost_peer_rank_is_one_line(monkeypatch, capsys):
    """gloo reports a rank that died as a page of C++ frames."""
    from landscape.cli import show

    def lost(_args):
        raise torch.distributed.DistBackendError(
            "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer "
            "[127.0.0.1]:29500\nException raised from recvBytes at ...\nframe #0: c10::Error"
        )

    monkeypatch.setattr(show, "run", lost)
    monkeypatch.setenv("RANK", "0")
    assert main(["show", "x"]) == 2
    _one_line(capsys, "rank 0", "another rank", "Connection closed by peer", "re-run")
