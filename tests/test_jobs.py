"""The job layer: the Python API, the one resolver, the result store, and the layering rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import jobs, paths, settings
from landscape.checkpoint import load_state, save_state
from landscape.cli import main
from landscape.errors import LandscapeError
from landscape.hparams import RunConfig
from landscape.jobs.store import Writer
from landscape.runners import METHODS
from landscape.runners.common import RunContext
from landscape.specs import BarrierSpec, ConnectivitySpec, EngineSpec, HessianSpec, SliceSpec

PKG = Path(__file__).resolve().parents[1] / "landscape"
FAST_H = HessianSpec(top_k=2, samples=64, dtype="float64")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A two-level IMP-WR run of the MLP on synthetic data, written through the Python API."""
    cfg = RunConfig().replace(data="synthetic", model="mlp", levels=2, length="1ep",
                              batch_size=128, rewind_step="2", eval_every="1ep", device="cpu")  # fmt: skip
    out = tmp_path_factory.mktemp("jobs") / "run"
    from landscape.runs import prepare_run_dir

    run_dir = prepare_run_dir(cfg, out=out)
    METHODS.get("imp-wr")(RunContext(cfg, run_dir, torch.device("cpu"), show_progress=False,
                                     log=lambda *a: None))  # fmt: skip
    return run_dir


def test_api_and_command_line_share_one_result(run, capsys):
    spec = BarrierSpec(points=3, engine=EngineSpec(eval_samples=128))
    res = jobs.barrier(run / "level_00", run / "level_01", spec, log=lambda _: None)
    assert not res.reused and res.kind == "barrier"
    assert res["error_barrier"] == pytest.approx(max(
        e - ((1 - a) * res["errors"][0] + a * res["errors"][-1])
        for a, e in zip(res["alphas"], res["errors"])
    ))  # fmt: skip
    assert np.allclose(res.arrays["errors"], res["errors"]) and res.figures
    argv = ["barrier", str(run / "level_00"), str(run / "level_01"), "--points", "3",
            "--eval-samples", "128", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert f"reusing the finished result in {res.folder}" in capsys.readouterr().out


def test_connectivity_writes_its_marker_last(run, monkeypatch):
    """An interrupted connectivity job leaves no result.json; the rerun completes the set."""
    spec = ConnectivitySpec(points=3, engine=EngineSpec(eval_samples=64))
    figure = Writer.figure

    def broken(self, name, draw):
        if name == "connectivity.png":
            raise KeyboardInterrupt
        figure(self, name, draw)

    monkeypatch.setattr(Writer, "figure", broken)
    with pytest.raises(KeyboardInterrupt):
        jobs.connectivity(run, spec, quiet=True)
    (folder,) = (run / "level_00" / "analysis").glob(f"connectivity_{_key(run, spec)}")
    assert not (folder / "result.json").exists() and (folder / "result.npz").exists()
    monkeypatch.setattr(Writer, "figure", figure)
    res = jobs.connectivity(run, spec, quiet=True)
    assert not res.reused and {"result.json", "connectivity.png"} <= {
        p.name for p in folder.iterdir()
    }


def _key(run: Path, spec: ConnectivitySpec) -> str:
    settings_ = {"kind": "connectivity", "levels": paths.levels(run), "points": spec.points,
                 "matrix": spec.matrix, "split": spec.split, **spec.engine.hashed()}  # fmt: skip
    return settings.digest(settings_)


def test_resolver_names_every_kind_of_target(run, tmp_path):
    last = jobs.resolve(run)
    assert (last.level, last.ident) == (2, "level_02/weights.safetensors")
    assert jobs.resolve(run, 1).ident == jobs.resolve(run / "level_01").ident
    rewind = jobs.resolve(run / "rewind.safetensors")
    assert rewind.level is None and rewind.result_dir("x", "d") == run / "analysis" / "x_d"
    # a file inside a level (e.g. a SWAMP particle) has that level's mask
    particle = paths.particle(run, 1, 0)
    save_state(particle, load_state(paths.weights(run, 1)))
    p = jobs.resolve(particle)
    assert p.level == 1 and p.label == "level_01/p0"
    assert all(torch.equal(p.mask()[k], jobs.resolve(run, 1).mask()[k]) for k in p.mask())
    with pytest.raises(LandscapeError, match="drop the option"):
        jobs.resolve(particle, 1)
    with pytest.raises(LandscapeError, match="level 9 has no weights"):
        jobs.resolve(run, 9)
    with pytest.raises(LandscapeError, match="no mask"):
        rewind.mask()


def test_masked_hessian_of_a_particle_uses_its_levels_mask(run):
    particle = paths.particle(run, 1, 0)
    save_state(particle, load_state(paths.weights(run, 1)))
    spec = HessianSpec(top_k=2, samples=64, dtype="float64", masked=True)
    res = jobs.hessian(particle, spec, quiet=True, log=lambda _: None)
    level = jobs.hessian(run, spec, levels=[1], quiet=True, log=lambda _: None)
    assert res["num_kept"] == level["num_kept"] < res["num_params"]
    assert res["eigenvalues"] == pytest.approx(level["eigenvalues"], rel=1e-9)
    assert res.folder.parent == paths.level_dir(run, 1) / "analysis"


def test_bare_state_dicts_work_for_barrier_and_slice(run, tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.pt"
    save_state(a, load_state(paths.weights(run, 0)))
    torch.save(load_state(paths.weights(run, 1)), b)
    bare = {"model": "mlp", "data": "synthetic"}
    ca, cb = jobs.resolve(a, **bare), jobs.resolve(b, **bare)
    spec = BarrierSpec(points=3, engine=EngineSpec(eval_samples=64))
    res = jobs.barrier(ca, cb, spec, log=lambda _: None)
    ref = jobs.barrier(run / "level_00", run / "level_01", spec, log=lambda _: None)
    assert res["errors"] == pytest.approx(ref["errors"])
    assert res.folder.parent == tmp_path / "a_analysis"
    sl = jobs.slice(ca, SliceSpec(plane="random", grid=3, engine=EngineSpec(eval_samples=64)),
                    quiet=True, log=lambda _: None)  # fmt: skip
    assert np.asarray(sl["values"]["test_error"]).shape == (3, 3)
    with pytest.raises(LandscapeError, match="--model needs --data"):
        jobs.resolve(a, model="mlp")
    assert main(["barrier", str(a), str(b), "--model", "mlp", "--data", "synthetic", "--points",
                 "3", "--eval-samples", "64", "--quiet"]) == 0  # fmt: skip


def test_specs_validate_before_anything_runs():
    with pytest.raises(ValueError, match="--points"):
        BarrierSpec(points=1)
    with pytest.raises(ValueError, match="--bn-samples"):
        EngineSpec(bn_samples=0)
    with pytest.raises(ValueError, match="nothing to compute"):
        HessianSpec(top_k=0)
    # speed-only settings are not hashed: the same result for any chunking
    assert EngineSpec(batch_size=7, chunk_size=3).hashed() == EngineSpec().hashed()


def test_spec_flags_round_trip():
    import argparse

    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, ConnectivitySpec)
    ns = parser.parse_args(["--no-matrix", "--points", "5", "--bn-policy", "none"])
    spec = settings.from_args(ConnectivitySpec, ns)
    assert spec == ConnectivitySpec(points=5, matrix=False, engine=EngineSpec(bn_policy="none"))
    assert settings.from_args(ConnectivitySpec, parser.parse_args([])) == ConnectivitySpec()


# ------------------------------------------------------------------ layering (grep-able rules)


def _imports(path: Path) -> list[str]:
    return re.findall(r"^\s*(?:from|import) (landscape[\w.]*)", path.read_text(), re.M)


def test_nothing_outside_the_command_line_imports_it():
    bad = [f"{p.relative_to(PKG)}: {m}" for p in PKG.rglob("*.py")
           if "cli" not in p.relative_to(PKG).parts[:1] and p.name != "__main__.py"
           for m in _imports(p) if m.startswith("landscape.cli")]  # fmt: skip
    assert bad == []


def test_no_verb_imports_another():
    verbs = {p.stem for p in (PKG / "cli").glob("*.py") if not p.stem.startswith("_")}
    bad = [f"{p.name}: {m}" for p in (PKG / "cli").glob("*.py") for m in _imports(p)
           if m.split(".")[-1] in verbs and m.startswith("landscape.cli.")]  # fmt: skip
    assert bad == []


def test_help_and_show_start_without_torch(run):
    code = ("import sys; from landscape.cli import main; main(['show', sys.argv[1]]); "
            "main(['models']); "
            "import landscape.cli as c; c.build_parser().format_help(); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip().endswith("NO-TORCH") and "imp-wr run" in out


def test_result_records_are_json(run):
    res = jobs.hessian(run, FAST_H, quiet=True, log=lambda _: None)
    assert json.loads((res.folder / "result.json").read_text())["eigenvalues"] == res["eigenvalues"]


def test_demo_quick_writes_a_report_that_links_only_existing_files(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    report = tmp_path / "demo" / "report.md"
    assert f"report:  {report}" in capsys.readouterr().out
    text = report.read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) >= 4 and all((report.parent / link).exists() for link in links)
    for section in ("IMP-LRR", "Linear mode connectivity", "The plane of level", "Hessian",
                    "flatness bound"):  # fmt: skip
        assert section in text
    assert re.search(r"p\*: magnitude 0\.\d{3}, random 0\.\d{3}", text)  # numbers, not "—"
