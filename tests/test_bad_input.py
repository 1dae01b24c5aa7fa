"""Bad input: each case stops with a message that names the file and says what to do."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from landscape import paths
from landscape.cli import main
from landscape.errors import CheckpointError, ConfigMismatchError, DivergenceError, LandscapeError
from landscape.jobs import resolve
from landscape.runners import imp as imp_module
from landscape.runs import open_run
from tests._runs import run_method


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    _, run_dir = run_method(tmp_path_factory.mktemp("bad") / "run", method="imp-lrr", levels=1)
    return run_dir


def test_unknown_method_lists_the_valid_ones(capsys):
    assert main(["prune", "--method", "imp-xx", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "unknown pruning method 'imp-xx'" in err and "imp-wr" in err and "swamp" in err


def test_unknown_model_and_data_list_the_valid_ones(tmp_path, capsys):
    assert main(["train", "--model", "resnet7", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "Valid models" in capsys.readouterr().err
    assert main(["train", "--data", "cifar11", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "Valid data sets" in capsys.readouterr().err


def test_missing_run_directory(tmp_path, capsys):
    with pytest.raises(LandscapeError, match="does not exist"):
        open_run(tmp_path / "nope")
    assert main(["show", str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_checkpoint_arguments_that_are_not_checkpoints(finished, tmp_path):
    with pytest.raises(LandscapeError, match="nope.safetensors does not exist; pass a run"):
        resolve(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="config.json is not a checkpoint"):
        resolve(paths.config(finished))
    outside = tmp_path / "w.safetensors"
    outside.write_bytes(paths.weights(finished, 0).read_bytes())
    with pytest.raises(LandscapeError, match="not inside a run directory.*config.json names"):
        resolve(outside)
    junk = paths.level_dir(finished, 0) / "junk.pt"
    junk.write_bytes(b"not a pickle")
    try:
        with pytest.raises(CheckpointError, match=r"junk\.pt as a tensors-only") as err:
            resolve(junk)
        assert "weights_only" not in str(err.value)  # not torch's page on its defaults
    finally:
        junk.unlink()


def test_truncated_checkpoint_names_the_file(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    w = paths.weights(run_dir, 1)
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(
        CheckpointError, match=r"weights\.safetensors is corrupt or truncated.*delete it"
    ):
        resolve(run_dir, level=1)
    # level 0 is untouched and still loads
    assert resolve(run_dir, level=0).state


def test_corrupt_checkpoint_stops_a_resumed_run_and_keeps_finished_levels(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "copy2"
    shutil.copytree(finished, run_dir)
    paths.metrics(run_dir, 1).unlink()  # level 1 must be retrained from level 0 ...
    paths.weights(run_dir, 0).write_bytes(b"garbage")  # ... whose weights are corrupt
    with pytest.raises(CheckpointError, match="level_00/weights.safetensors"):
        run_method(run_dir, method="imp-lrr", levels=1)
    assert paths.mask(run_dir, 1).exists()


def test_mask_of_another_architecture_is_rejected(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "copy3"
    shutil.copytree(finished, run_dir)
    save_file({"0.weight": torch.ones(3, 3, dtype=torch.uint8)}, str(paths.mask(run_dir, 1)))
    with pytest.raises(CheckpointError, match=r"mask\.safetensors does not fit the model"):
        open_run(run_dir).mask(1)


def test_weights_of_another_architecture_are_rejected(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "copy4"
    shutil.copytree(finished, run_dir)
    save_file({"0.weight": torch.zeros(5, 5)}, str(paths.weights(run_dir, 1)))
    with pytest.raises(CheckpointError, match="does not fit the model.*another architecture"):
        open_run(run_dir).weights(1)


def test_run_directory_made_with_other_settings(finished):
    with pytest.raises(ConfigMismatchError, match=r"other settings \(lr: .*Use another --out"):
        run_method(finished, method="imp-lrr", levels=1, lr=0.05)


def test_nan_loss_stops_and_keeps_finished_levels(tmp_path, monkeypatch):
    real_apply = imp_module.apply_mask
    calls = []

    def poison(model, mask):  # level 1's start point gets a NaN weight
        real_apply(model, mask)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                next(model.parameters())[0, 0] = float("nan")

    monkeypatch.setattr(imp_module, "apply_mask", poison)
    with pytest.raises(DivergenceError, match=r"diverged.*level 1/2.*finished levels are intact"):
        run_method(tmp_path / "nan", method="imp-lrr", levels=2)
    assert paths.levels(tmp_path / "nan") == [0]
    assert not paths.weights(tmp_path / "nan", 1).exists()
