"""``landscape hessian``: run directories, levels, bare checkpoints, reports, plots, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import paths
from landscape.checkpoint import load_state
from landscape.cli import main
from landscape.data import load_data
from landscape.hessian import spectrum
from landscape.models import create_model
from tests._runs import untrained_two_level_run

FAST = ["--top-k", "2", "--samples", "64", "--dtype", "float64", "--quiet"]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A two-level run of the MLP on synthetic data, level 1 magnitude-pruned by 20%."""
    return untrained_two_level_run(tmp_path / "run", 0.2)


def _results(run: Path, level: int, kind: str = "hessian") -> list[Path]:
    return sorted((paths.level_dir(run, level) / "analysis").glob(f"{kind}_*/result.json"))


def test_all_levels_masked_writes_every_report(run_dir: Path, capsys):
    args = ["hessian", str(run_dir), "--all-levels", "--masked", "--trace", "--probes", "4",
            "--density", "--density-steps", "10", *FAST]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "dim: kept params" in out and "across levels" in out
    recs = []
    for level in (0, 1):
        (res,) = _results(run_dir, level)
        folder = res.parent
        for name in ("result.npz", "report.md", "density.png"):
            assert (folder / name).exists(), name
        rec = json.loads(res.read_text())
        recs.append(rec)
        assert rec["level"] == level and len(rec["eigenvalues"]) == 2
        assert rec["trace"] is not None and rec["trace_stderr"] is not None
        assert len(rec["density"]) == len(rec["density_grid"]) == 1000
        assert rec["settings"]["masked"] and rec["num_samples"] == 64
        assert "λ_1" in (folder / "report.md").read_text()
        npz = np.load(folder / "result.npz")
        np.testing.assert_allclose(npz["eigenvalues"], rec["eigenvalues"])
    assert recs[0]["num_kept"] == recs[0]["num_params"]
    assert recs[1]["num_kept"] < recs[1]["num_params"] and recs[1][
        "weights_remaining"
    ] == pytest.approx(0.8)
    (summary,) = _results(run_dir, 0, "hessian-levels")
    srec = json.loads(summary.read_text())
    assert [r["level"] for r in srec["levels"]] == [0, 1]
    assert (summary.parent / "levels.png").exists() and (summary.parent / "report.md").exists()


def test_cli_numbers_equal_the_python_api(run_dir: Path):
    """The CLI analyses the first --samples training samples of the level, under its mask."""
    assert main(["hessian", str(run_dir), "--level", "1", "--masked", *FAST]) == 0
    rec = json.loads(_results(run_dir, 1)[0].read_text())
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes).double()
    from landscape.runs import open_run

    run = open_run(run_dir)
    model.load_state_dict(run.weights(1))
    direct = spectrum(model, data.tensors("train", 64), top_k=2, mask=run.mask(1))
    np.testing.assert_allclose(rec["eigenvalues"], direct.eigenvalues, rtol=1e-12)


def test_finished_results_are_reused_unless_forced(run_dir: Path):
    cmd = ["hessian", str(run_dir), *FAST]
    assert main(cmd) == 0
    (res,) = _results(run_dir, 1)  # default level: the last one
    stamp = json.loads(res.read_text())["created"]
    before = res.stat().st_mtime_ns
    assert main(cmd) == 0
    assert res.stat().st_mtime_ns == before
    assert main([*cmd, "--force"]) == 0
    assert json.loads(res.read_text())["created"] >= stamp and res.stat().st_mtime_ns != before
    # Another setting is another folder.
    assert main([*cmd, "--seed", "1"]) == 0
    assert len(_results(run_dir, 1)) == 2


def test_per_layer_groups(run_dir: Path, capsys):
    assert (
        main(
            [
                "hessian",
                str(run_dir),
                "--level",
                "0",
                "--per-layer",
                "--trace",
                "--probes",
                "3",
                *FAST,
            ]
        )
        == 0
    )
    rec = json.loads(_results(run_dir, 0)[0].read_text())
    assert [g["group"] for g in rec["groups"]] == ["1", "3", "5"]
    assert sum(g["num_kept"] for g in rec["groups"]) == rec["num_params"]
    assert all(g["trace"] is not None for g in rec["groups"])
    assert (_results(run_dir, 0)[0].parent / "layers.png").exists()
    assert "λ_max" in capsys.readouterr().out


def test_level_dir_and_weights_file_arguments(run_dir: Path):
    assert main(["hessian", str(paths.level_dir(run_dir, 0)), "--eigenvectors", *FAST]) == 0
    (res,) = _results(run_dir, 0)
    vecs = load_state(res.parent / "eigenvectors.safetensors")
    assert sorted({k.split("/")[0] for k in vecs}) == ["0", "1"]
    norm = torch.cat([v.reshape(-1) for k, v in vecs.items() if k.startswith("0/")]).norm()
    assert float(norm) == pytest.approx(1.0, abs=1e-8)
    assert main(["hessian", str(paths.weights(run_dir, 1)), "--masked", *FAST]) == 0
    # 15,210 parameters, 15,000 of them prunable weights, 20% of those pruned at level 1.
    assert json.loads(_results(run_dir, 1)[0].read_text())["num_kept"] == 15210 - 3000


def test_users_own_model_from_a_state_dict(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(
        "from torch import nn\n"
        "def tiny(in_shape, num_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0], 8), nn.Tanh(),\n"
        "                         nn.Linear(8, num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from mypkg.nets import tiny

    net = tiny((40,), 10)
    ckpt = tmp_path / "model.pt"
    torch.save(net.state_dict(), ckpt)
    mask = {"1.weight": torch.rand(8, 40) < 0.5}
    torch.save(mask, tmp_path / "mask.pt")
    out = tmp_path / "out"
    cmd = [
        "hessian",
        str(ckpt),
        "--model",
        "mypkg.nets:tiny",
        "--data",
        "synthetic",
        "--out",
        str(out),
    ]
    assert main([*cmd, *FAST]) == 0
    assert main([*cmd, "--masked", "--mask", str(tmp_path / "mask.pt"), *FAST]) == 0
    recs = [json.loads(p.read_text()) for p in sorted(out.glob("hessian_*/result.json"))]
    assert len(recs) == 2
    kept = {r["num_kept"] for r in recs}
    full = sum(p.numel() for p in net.parameters())
    assert kept == {full, full - int((~mask["1.weight"]).sum())}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--level", "7"], "level 7 has no weights"),
        (["--top-k", "0"], "nothing to compute"),
        (["--per-layer", "--per-block"], "choose one of"),
        (["--probes", "0"], "--probes must be"),
        (["--mask", "m.pt"], "--mask is for bare checkpoints"),
    ],
)
def test_run_dir_errors(run_dir: Path, capsys, extra, message):
    assert main(["hessian", str(run_dir), *FAST, *extra]) == 2
    assert message in capsys.readouterr().err


def test_bare_checkpoint_errors(tmp_path: Path, capsys):
    ckpt = tmp_path / "model.pt"
    torch.save(create_model("mlp", (40,), 10).state_dict(), ckpt)
    assert main(["hessian", str(ckpt), *FAST]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["hessian", str(ckpt), "--model", "mlp", *FAST]) == 2
    assert "--model needs --data" in capsys.readouterr().err
    assert (
        main(["hessian", str(ckpt), "--model", "mlp", "--data", "synthetic", "--masked", *FAST])
        == 2
    )
    assert "--mask FILE" in capsys.readouterr().err
    assert main(["hessian", str(ckpt), "--model", "cnn1d", "--data", "synthetic", *FAST]) == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_plots_read_results_only(run_dir: Path):
    from landscape.plotting.hessian import plot_density, plot_layers, plot_levels

    assert (
        main(["hessian", str(run_dir), "--all-levels", "--density", "--density-steps", "8", *FAST])
        == 0
    )
    folder = _results(run_dir, 1)[0].parent
    fig, ax = plot_density(folder)
    assert ax.get_yscale() == "log" and fig is ax.figure
    fig, axes = plot_levels(_results(run_dir, 0, "hessian-levels")[0])
    assert len(axes) == 2 and axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="per-layer"):
        plot_layers(folder)
    no_density = {"eigenvalues": [1.0], "density": None}
    with pytest.raises(ValueError, match="--density"):
        plot_density(no_density)


def test_a_quiet_python_call_prints_nothing(run_dir: Path, capsys):
    from landscape import jobs
    from landscape.specs import HessianSpec

    spec = HessianSpec(top_k=2, samples=64, trace=False)
    res = jobs.hessian(run_dir, spec, levels="all", quiet=True)
    assert len(res.children) == 2 and capsys.readouterr().out == ""
    jobs.hessian(run_dir, spec, levels="all", force=True)  # not quiet: a line per level
    assert capsys.readouterr().out.count("Hessian-vector products (HVP method") == 2
