"""The connectivity verbs end to end on tiny runs: connectivity, barrier, instability, slice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.checkpoint import load_json, load_state, save_state
from landscape.cli import main
from landscape.plotting.connectivity import plot_barrier_matrix


def _prune(out: Path, model: str, levels: int) -> Path:
    code = main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", model,
        "--levels", str(levels), "--length", "1ep", "--batch-size", "128", "--rewind-step", "2",
        "--eval-every", "1ep", "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    return _prune(tmp_path_factory.mktemp("runs") / "mlp", "mlp", 2)


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    return _prune(tmp_path_factory.mktemp("runs") / "cnn", "cnn1d", 1)


def _only(pattern: str, root: Path) -> Path:
    found = sorted(root.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_connectivity_writes_path_matrix_and_per_level_barriers(mlp_run, capsys):
    assert main(["connectivity", str(mlp_run), "--points", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "0 → 1" in out and "barrier matrix over 3 levels" in out
    folder = _only("level_00/analysis/connectivity_*", mlp_run)
    rec = load_json(folder / "result.json")
    assert rec["labels"] == [0, 1, 2] and rec["settings"]["points"] == 3
    assert np.asarray(rec["error_matrix"]).shape == (3, 3)
    assert len(rec["path"]["position"]) == 2 * 2 + 1
    assert rec["bn_policy"] == "recompute" and rec["has_batchnorm"] is False
    with np.load(folder / "result.npz") as z:
        np.testing.assert_allclose(z["error_matrix"], rec["error_matrix"])
    assert (folder / "connectivity.png").stat().st_size > 0
    # Each successive pair is also a barrier result in its first level's folder, the same
    # folder `landscape barrier` uses for that pair and these settings.
    seg = load_json(_only("level_01/analysis/barrier_*", mlp_run) / "result.json")
    assert seg["error_barrier"] == rec["segments"][1]["error_barrier"]
    before = set(mlp_run.glob("level_00/analysis/barrier_*"))
    assert main(["barrier", str(mlp_run / "level_00"), str(mlp_run / "level_01"),
                 "--points", "3", "--quiet"]) == 0  # fmt: skip
    assert set(mlp_run.glob("level_00/analysis/barrier_*")) == before
    assert "error barrier" in capsys.readouterr().out


def test_connectivity_selected_levels_and_no_matrix(mlp_run):
    assert main(["connectivity", str(mlp_run), "--levels", "0,2", "--points", "2",
                 "--no-matrix", "--split", "train", "--quiet"]) == 0  # fmt: skip
    recs = [load_json(p) for p in mlp_run.glob("level_00/analysis/connectivity_*/result.json")]
    rec = next(r for r in recs if r["labels"] == [0, 2])
    assert rec["error_matrix"] is None and rec["settings"]["split"] == "train"
    with pytest.raises(ValueError, match="no barrier matrix"):
        plot_barrier_matrix(rec)


def test_barrier_between_files_and_with_bn(cnn_run, tmp_path):
    out = tmp_path / "b"
    args = ["barrier", str(cnn_run / "rewind.safetensors"), str(cnn_run / "level_01/weights.safetensors"),
            "--points", "3", "--bn-samples", "256", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    rec = json.loads((out / "result.json").read_text())
    assert rec["has_batchnorm"] and rec["settings"]["bn_samples"] == 256
    assert rec["settings"]["a"] == "rewind.safetensors"
    assert (out / "barrier.png").exists()


def test_barrier_across_architectures_fails_clearly(mlp_run, cnn_run, capsys):
    assert main(["barrier", str(mlp_run), str(cnn_run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "one architecture" in err and "'mlp'" in err and "'cnn1d'" in err


def test_barrier_of_a_non_level_file_goes_to_the_run_analysis_folder(cnn_run):
    args = ["barrier", str(cnn_run / "rewind.safetensors"), str(cnn_run), "--points", "3",
            "--bn-policy", "interpolate", "--eval-samples", "64", "--quiet"]  # fmt: skip
    assert main(args) == 0
    rec = load_json(_only("analysis/barrier_*", cnn_run) / "result.json")
    assert rec["settings"]["a"] == "rewind.safetensors"
    assert rec["settings"]["b"] == "level_01/weights.safetensors"


def test_instability_trains_two_copies_and_reuses_them(cnn_run, capsys):
    args = ["instability", str(cnn_run), "--level", "1", "--points", "3", "--bn-samples", "256", "--eval-samples", "128",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    rec = load_json(_only("level_01/analysis/instability_*", cnn_run) / "result.json")
    assert rec["settings"]["seeds"] == [1, 2] and rec["train_steps"][0] == 2
    assert rec["error_barrier"] >= 0 and len(rec["errors"]) == 3
    copies = sorted(cnn_run.glob("level_01/analysis/instability-copies_*/copy_*.safetensors"))
    assert len(copies) == 2
    stamp = copies[0].stat().st_mtime_ns
    # Another evaluation setting re-measures the same copies instead of retraining them.
    assert main([*args, "--bn-policy", "interpolate"]) == 0
    assert copies[0].stat().st_mtime_ns == stamp
    assert "two copies trained" in capsys.readouterr().out


def test_instability_copies_follow_their_start_and_force(cnn_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run, ignore=shutil.ignore_patterns("analysis"))
    args = ["instability", str(run), "--level", "1", "--points", "2", "--bn-policy", "none",
            "--eval-samples", "64", "--quiet"]  # fmt: skip
    assert main(args) == 0
    rec = load_json(_only("level_01/analysis/instability_*", run) / "result.json")
    # The copies' own errors are measured on the path's samples: multiples of 1/64.
    assert all(float(e * 64).is_integer() for e in rec["copy_errors_own_bn"])
    copy0 = _only("level_01/analysis/instability-copies_*/copy_0.safetensors", run)
    stamp = copy0.stat().st_mtime_ns
    assert main([*args, "--force"]) == 0
    assert copy0.stat().st_mtime_ns != stamp  # --force retrains the copies too
    # A retrained level (another mask) gets new copies, not the old ones.
    mask = load_state(run / "level_01/mask.safetensors", "cpu")
    name = next(iter(mask))
    mask[name] = mask[name].flatten().roll(1).view_as(mask[name])
    save_state(run / "level_01/mask.safetensors", mask)
    assert main(args) == 0
    assert len(list(run.glob("level_01/analysis/instability-copies_*"))) == 2


def test_bn_samples_are_exactly_the_recorded_count(cnn_run):
    from landscape.jobs.evaluation import bn_batches
    from landscape.runs import open_run
    from landscape.specs import EngineSpec

    run = open_run(str(cnn_run), "cpu")
    for n in (100, 128, 300):
        assert sum(len(x) for x, _ in bn_batches(run, EngineSpec(bn_samples=n))) == n


def test_instability_rejects_equal_seeds(cnn_run, capsys):
    assert main(["instability", str(cnn_run), "--level", "1", "--seeds", "3", "3"]) == 2
    assert "must differ" in capsys.readouterr().err


def test_slice_of_a_level(mlp_run):
    assert main(["slice", str(mlp_run), "--level", "1", "--grid", "4", "--quiet"]) == 0
    folder = _only("level_01/analysis/slice_*", mlp_run)
    rec = load_json(folder / "result.json")
    assert [m["name"] for m in rec["marks"]] == ["w^(1)", "m_2 ⊙ w^(1)", "w^(2)", "w^(0) dense"]
    assert rec["matching_level"] == pytest.approx(rec["marks"][3]["test_error"] + 0.01)
    assert np.asarray(rec["values"]["train_loss"]).shape == (4, 4)
    pm = np.asarray(rec["origin_path_max"])  # the matching set connected to w^(1)
    z = np.asarray(rec["values"]["test_error"])
    assert pm.shape == (4, 4) and (pm >= z - 1e-12).all()
    assert rec["connected_fraction"] == pytest.approx(float((pm <= rec["matching_level"]).mean()))
    # [PAUL]'s LCS of w^(1): its own error + tolerance on the ray, barrier at most 0.02.
    lcs = np.asarray(rec["lcs"])
    assert rec["lcs_level"] == pytest.approx(rec["marks"][0]["test_error"] + 0.01)
    assert lcs.shape == (4, 4) and rec["lcs_barrier"] == 0.02
    assert not (lcs & (pm > rec["lcs_level"])).any()  # in the set: the whole ray is under
    assert rec["lcs_fraction"] == pytest.approx(float(lcs.mean()))
    assert (folder / "slice.png").exists()


def test_slice_through_three_checkpoints_and_random(cnn_run, tmp_path):
    ckpts = [
        str(cnn_run / "rewind.safetensors"),
        str(cnn_run / "level_00"),
        str(cnn_run / "level_01"),
    ]
    out = tmp_path / "three"
    assert main(["slice", "--checkpoints", *ckpts, "--grid", "3", "--bn-policy", "interpolate", "--eval-samples", "128",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    rec = load_json(out / "result.json")
    assert rec["kind"] == "anchors" and rec["settings"]["plane"] == "checkpoints"
    assert main(["slice", str(cnn_run / "level_01"), "--random", "--filter-normalize",
                 "--within-mask", "--grid", "3", "--bn-samples", "128", "--eval-samples", "128", "--quiet"]) == 0  # fmt: skip
    rec = load_json(_only("level_01/analysis/slice_*", cnn_run) / "result.json")
    assert rec["kind"] == "random" and rec["geometry"]["within_mask"] is True
    assert rec["settings"]["normalize"] == "filter"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["slice", "RUN"], "pick one plane"),
        (["slice", "RUN", "--level", "0", "--random"], "--level and --random"),
        (["slice", "RUN", "--level", "2"], "needs levels 2 and 3"),
        (["slice", "--random"], "needs a run directory"),
        (["connectivity", "RUN", "--levels", "0,7"], "levels [7] have no weights"),
        (["connectivity", "RUN", "--levels", "1"], "at least two"),
        (["connectivity", "RUN", "--points", "1"], "--points"),
        (["connectivity", "RUN", "--levels", "x"], "--levels"),
        (["connectivity", "RUN", "--bn-samples", "0"], "--bn-samples"),
    ],
)
def test_bad_input_is_one_clear_line(mlp_run, capsys, argv, message):
    argv = [str(mlp_run) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_plot_result_redraws_any_analysis_and_refuses_the_wrong_kind(mlp_run, tmp_path, capsys):
    assert main(["slice", str(mlp_run), "--level", "0", "--grid", "3", "--eval-samples", "64",
                 "--quiet"]) == 0  # fmt: skip
    folder = _only("level_00/analysis/slice_*", mlp_run)
    out = tmp_path / "again.png"
    assert main(["plot", "result", str(folder), "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    assert main(["plot", "oneshot", str(folder / "result.json")]) == 2
    err = capsys.readouterr().err
    assert "'anchors' result" in err and "'oneshot'" in err
    (tmp_path / "other.json").write_text('{"kind": "mystery"}')
    assert main(["plot", "result", str(tmp_path / "other.json")]) == 2
    assert "has no figure" in capsys.readouterr().err


def test_option_checks_come_before_any_reuse(mlp_run, capsys):
    assert main(["connectivity", str(mlp_run), "--levels", "2-0", "--quiet"]) == 2
    assert "runs backwards" in capsys.readouterr().err
    assert main(["connectivity", str(mlp_run), "--levels", "1", "--quiet"]) == 2
    assert "selects [1]" in capsys.readouterr().err
    assert main(["barrier", str(mlp_run / "level_00"), str(mlp_run), "--level-a", "1"]) == 2
    assert "drop the option" in capsys.readouterr().err
    assert main(["slice", str(mlp_run), "--level", "0", "--margin", "-1"]) == 2
    assert "--margin" in capsys.readouterr().err
    # --bn-samples only matters for recompute; --batch-size is checked even if nothing runs.
    args = ["barrier", str(mlp_run / "level_00"), str(mlp_run / "level_01"), "--points", "2",
            "--bn-policy", "none", "--bn-samples", "0", "--eval-samples", "32", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert main([*args, "--batch-size", "0"]) == 2
    assert "--batch-size must be positive" in capsys.readouterr().err


def test_rewind_points_retrace_the_runs_own_rewind_point(cnn_run, tmp_path):
    from landscape.jobs.instability import rewind_points
    from landscape.runs import open_run

    run = tmp_path / "run"
    shutil.copytree(cnn_run, run, ignore=shutil.ignore_patterns("analysis"))
    files = rewind_points(open_run(str(run), "cpu"), [0, 2])
    own = load_state(run / "rewind.safetensors", "cpu")  # the runner's w_τ, τ = 2
    retraced = load_state(files[2], "cpu")
    assert all(torch.equal(own[k], retraced[k]) for k in own)
    init = open_run(str(run), "cpu").model().state_dict()
    assert all(torch.equal(init[k], v) for k, v in load_state(files[0], "cpu").items())


def test_instability_scan_over_rewind_steps(cnn_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run, ignore=shutil.ignore_patterns("analysis"))
    common = ["--level", "1", "--points", "2", "--bn-policy", "interpolate", "--eval-samples", "64",
              "--quiet"]  # fmt: skip
    assert main(["instability", str(run), *common]) == 0  # the run's own τ = 2
    assert main(["instability", str(run), *common, "--rewind-steps", "4,0,2"]) == 0  # any order
    out = capsys.readouterr().out
    assert "onset of linear mode connectivity" in out
    scan = load_json(_only("level_01/analysis/instability-scan_*", run) / "result.json")
    assert scan["rewind_steps"] == [0, 2, 4] and len(scan["error_barriers"]) == 3
    # The onset is the *first* rewind step at or under the threshold (docs/science.md).
    first = next((t for t, e in zip([0, 2, 4], scan["error_barriers"]) if e <= 0.02), None)
    assert scan["onset"] == first and scan["onset_threshold"] == 0.02
    # τ = 2 is the run's own rewind point: the scan reused the plain test's result.
    assert "reusing the finished result" in out
    assert len(list(run.glob("level_01/analysis/instability_*"))) == 3
    assert sorted(p.name for p in (run / "analysis/rewind-points_dense").iterdir()) == [
        "step_0.safetensors", "step_4.safetensors"]  # fmt: skip
    assert main(["plot", "result", str(_only("level_01/analysis/instability-scan_*", run))]) == 0


def test_instability_scan_needs_a_rewinding_method(tmp_path, capsys):
    code = main(["prune", "--method", "imp-lrr", "--data", "synthetic", "--model", "mlp", "--levels", "1",
                 "--length", "1ep", "--batch-size", "128", "--out", str(tmp_path / "lrr"), "--quiet"])  # fmt: skip
    assert code == 0
    assert (
        main(["instability", str(tmp_path / "lrr"), "--level", "1", "--rewind-steps", "0,2"]) == 2
    )
    assert "IMP-WR levels" in capsys.readouterr().err
