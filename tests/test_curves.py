"""Low-loss curves (Garipov et al. 2018): the curve's ends, its start on the line, training
around an analytic barrier, masks, resume, and the ``curve`` verb on tiny runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.analysis.curves import (
    bend_mask,
    curve_coefficients,
    curve_lr,
    curve_point,
    curve_step,
    initial_bends,
    line_coefficients,
)
from landscape.analysis.engine import Points, evaluate_points
from landscape.checkpoint import load_json, load_state
from landscape.cli import main
from landscape.data import load_data
from landscape.models import create_model
from landscape.specs import CurveSpec, EngineSpec


def _random_state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(5, 3, generator=g), "b": torch.randn(3, generator=g)}


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
@pytest.mark.parametrize("bends", [1, 3])
def test_curve_at_t0_and_t1_is_exactly_the_ends(kind, bends):
    c = curve_coefficients(kind, bends, [0.0, 1.0])
    assert c[0].tolist() == [1.0] + [0.0] * (bends + 1)
    assert c[1].tolist() == [0.0] * (bends + 1) + [1.0]
    a, b = _random_state(0), _random_state(1)
    trained = [_random_state(10 + j) for j in range(bends)]  # bends far off the line
    names = list(a)
    for row, end in zip(c, (a, b)):
        point = curve_point(row.tolist(), a, trained, b, names)  # the training path
        assert all(torch.equal(point[n], end[n]) for n in names)
    # ... and the evaluation path (the engine's float64 combination), bit for bit
    stacked = Points.combine([a, *trained, b], c).materialize(0, 2)
    for i, end in enumerate((a, b)):
        assert all(torch.equal(stacked[n][i], end[n]) for n in names)


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_coefficients_are_a_partition_of_unity_and_polychain_hits_its_nodes(kind):
    ts = np.linspace(0, 1, 37)
    c = curve_coefficients(kind, 2, ts)
    np.testing.assert_allclose(c.sum(1), 1.0, atol=1e-15)
    assert (c >= 0).all()
    if kind == "polychain":  # nodes at t = 0, 1/3, 2/3, 1
        np.testing.assert_allclose(curve_coefficients(kind, 2, [1 / 3, 2 / 3]),
                                   [[0, 1, 0, 0], [0, 0, 1, 0]], atol=1e-15)  # fmt: skip
    with pytest.raises(ValueError, match="unknown curve kind"):
        curve_coefficients("spline", 1, ts)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        curve_coefficients(kind, 1, [1.5])


@pytest.mark.parametrize("kind,bends", [("polychain", 1), ("polychain", 2), ("bezier", 1),
                                        ("bezier", 3)])  # fmt: skip
def test_untrained_curve_is_the_straight_line(kind, bends):
    # A bend at the midpoint (bends evenly spaced on the line) gives the line itself:
    # the polychain by construction, the Bezier curve by the Bernstein basis' linear precision.
    a = {k: v.double() for k, v in _random_state(0).items()}
    b = {k: v.double() for k, v in _random_state(1).items()}
    init = initial_bends(kind, a, b, bends)
    if bends == 1:
        assert all(torch.allclose(init[0][n], (a[n] + b[n]) / 2, atol=0, rtol=1e-15) for n in a)
    ts = np.linspace(0, 1, 23)
    curve = Points.combine([a, *init, b], curve_coefficients(kind, bends, ts))
    line = Points.line(a, b, ts)
    got, want = curve.materialize(0, len(ts)), line.materialize(0, len(ts))
    for n in a:
        torch.testing.assert_close(got[n], want[n], atol=1e-14, rtol=0)


def test_untrained_polychain_evaluates_as_the_line_through_the_engine():
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes)
    a = {k: v.clone() for k, v in model.state_dict().items()}
    b = {k: v + 0.3 * torch.randn_like(v) for k, v in a.items()}
    ts = np.linspace(0, 1, 5)
    bend = initial_bends("polychain", a, b, 1)
    points = Points.combine([a, *bend, b], np.concatenate(
        [curve_coefficients("polychain", 1, ts), line_coefficients(1, ts)]))  # fmt: skip
    ev = evaluate_points(model, points, data.tensors("test", 256), bn_policy="none")
    np.testing.assert_allclose(ev.losses[:5], ev.losses[5:], rtol=1e-6)
    np.testing.assert_array_equal(ev.errors[:5], ev.errors[5:])


def _ring_with_bump(w: torch.Tensor) -> torch.Tensor:
    """Two minima at (±1, 0) on a ring of minima, a Gaussian bump just below the origin:
    the straight line between the minima crosses the bump (loss ≈ 3.3), an arc around it
    stays near 0."""
    r2 = (w**2).sum(-1)
    centre = torch.tensor([0.0, -0.15], dtype=w.dtype)
    return (r2 - 1.0) ** 2 + 3.0 * torch.exp(-((w - centre) ** 2).sum(-1) / 0.08)


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_trained_curve_goes_around_a_barrier_the_line_crosses(kind):
    a = {"w": torch.tensor([-1.0, 0.0], dtype=torch.float64)}
    b = {"w": torch.tensor([1.0, 0.0], dtype=torch.float64)}
    (bend,) = initial_bends(kind, a, b, 1)
    theta = {"w": bend["w"].clone().requires_grad_(True)}
    opt = torch.optim.SGD([theta["w"]], lr=0.02, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    steps = 1500
    ts = torch.rand(steps, generator=g).double().numpy()
    coeffs = curve_coefficients(kind, 1, ts)
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = curve_lr(0.02, i / steps)
        opt.zero_grad()
        curve_step(lambda p, x: p["w"], lambda out, y: _ring_with_bump(out), coeffs[i].tolist(),
                   a, [theta], b, ["w"], (None, None))  # fmt: skip
        opt.step()
    grid = np.linspace(0, 1, 201)
    with torch.no_grad():
        on_curve = [_ring_with_bump(curve_point(c.tolist(), a, [theta], b, ["w"])["w"])
                    for c in curve_coefficients(kind, 1, grid)]  # fmt: skip
        on_line = [_ring_with_bump((1 - t) * a["w"] + t * b["w"]) for t in grid]
    assert max(on_line) > 3.0  # the line crosses the bump
    assert max(on_curve) < 0.5  # the curve does not
    assert theta["w"][1] > 0.5  # it went around, above the bump
    assert torch.equal(curve_point([1.0, 0.0, 0.0], a, [theta], b, ["w"])["w"], a["w"])


def test_bend_mask_policies():
    ma = {"w": torch.tensor([1, 1, 0, 0], dtype=torch.bool)}
    mb = {"w": torch.tensor([1, 0, 1, 0], dtype=torch.bool)}
    assert bend_mask(ma, mb, "union")["w"].tolist() == [True, True, True, False]
    assert bend_mask(ma, mb, "intersection")["w"].tolist() == [True, False, False, False]
    assert bend_mask(None, None) is None
    assert bend_mask(ma, None, "union") is None  # a dense end: everything may move
    assert bend_mask(ma, None, "intersection")["w"].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="union, intersection"):
        bend_mask(ma, mb, "both")
    a = {"w": torch.ones(4)}
    (bend,) = initial_bends("bezier", a, a, 1, bend_mask(ma, mb, "intersection"))
    assert bend["w"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_curve_lr_follows_garipov_schedule():
    assert curve_lr(0.1, 0.0) == curve_lr(0.1, 0.5) == 0.1
    assert curve_lr(0.1, 0.7) == pytest.approx(0.1 * (1 - 0.99 * 0.5))
    assert curve_lr(0.1, 0.9) == pytest.approx(0.001) and curve_lr(0.1, 0.95) == pytest.approx(
        0.001
    )


# --------------------------------------------------------------------------- job and verb


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A 1-D CNN (BatchNorm) IMP-WR run of two levels on the synthetic task (level 1 masked)."""
    out = tmp_path_factory.mktemp("runs") / "cnn"
    assert main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", "cnn1d", "--levels", "1",
        "--length", "1ep", "--batch-size", "128", "--rewind-step", "2", "--eval-every", "1ep",
        "--out", str(out), "--quiet",
    ]) == 0  # fmt: skip
    return out


_SPEC = CurveSpec(epochs=2, points=5, engine=EngineSpec(bn_samples=256, eval_samples=128))


def test_curve_job_writes_bends_in_the_mask_and_reuses_the_result(cnn_run, tmp_path):
    from landscape import jobs

    spec = CurveSpec(epochs=2, points=5, mask_policy="intersection", engine=_SPEC.engine)
    res = jobs.curve(cnn_run / "level_00", cnn_run / "level_01", spec, log=lambda m: None)
    rec = res.record
    assert rec["settings"]["mask_policy"] == "intersection" and rec["masked"]
    assert rec["ts"][0] == 0.0 and rec["ts"][-1] == 1.0
    # the ends are the checkpoints themselves: curve and line agree there
    for key in ("errors", "losses"):
        assert rec["curve"][key][0] == rec["line"][key][0]
        assert rec["curve"][key][-1] == rec["line"][key][-1]
    assert rec["bn_policy"] == "recompute" and rec["has_batchnorm"]
    assert len(rec["epoch_losses"]) == 2 and all(np.isfinite(rec["epoch_losses"]))
    bend = load_state(res.folder / "bend_1.safetensors")
    mask = load_state(cnn_run / "level_01/mask.safetensors")
    assert all(bool((bend[n][~mask[n].bool()] == 0).all()) for n in mask)  # intersection
    assert not (res.folder / "training.safetensors").exists()  # finished: checkpoint gone
    assert (res.folder / "curve.png").exists() and set(res.arrays) >= {"ts", "curve_errors"}
    again = jobs.curve(cnn_run / "level_00", cnn_run / "level_01", spec, log=lambda m: None)
    assert again.reused and again.folder == res.folder


def test_killed_curve_training_resumes_with_the_same_bends(cnn_run, tmp_path, monkeypatch):
    import importlib

    from landscape import jobs

    curve_job = importlib.import_module("landscape.jobs.curve")  # the module, not the function

    a, b = cnn_run / "level_00", cnn_run / "level_01"
    whole = jobs.curve(a, b, _SPEC, out=tmp_path / "whole", log=lambda m: None)
    save = curve_job._save

    def killed_after_first_epoch(path, tag, epoch, *args):
        save(path, tag, epoch, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(curve_job, "_save", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        jobs.curve(a, b, _SPEC, out=tmp_path / "resumed", log=lambda m: None)
    assert (tmp_path / "resumed/training.safetensors").exists()
    assert not (tmp_path / "resumed/result.json").exists()
    monkeypatch.setattr(curve_job, "_save", save)
    said = []
    resumed = jobs.curve(a, b, _SPEC, out=tmp_path / "resumed", log=said.append)
    assert resumed["resumed_from_epoch"] == 1 and any("resuming" in m for m in said)
    for name, t in load_state(whole.folder / "bend_1.safetensors").items():
        torch.testing.assert_close(load_state(resumed.folder / "bend_1.safetensors")[name], t)
    assert resumed["epoch_losses"] == pytest.approx(whole["epoch_losses"])
    assert resumed["error_barrier"] == pytest.approx(whole["error_barrier"])


def test_curve_verb_prints_both_barriers_and_rejects_bad_flags(cnn_run, capsys):
    args = ["curve", str(cnn_run / "level_00"), str(cnn_run / "level_01"), "--kind", "polychain",
            "--epochs", "1", "--points", "3", "--bn-samples", "256", "--eval-samples", "128",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "error barrier: line" in out and "curve" in out
    folder = next(Path(cnn_run, "level_00/analysis").glob("curve_*"))
    assert load_json(folder / "result.json")["settings"]["curve"] in ("polychain", "bezier")
    assert main([*args, "--bends", "0"]) == 2
    assert "--bends" in capsys.readouterr().err
