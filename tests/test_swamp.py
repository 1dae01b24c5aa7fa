"""SWAMP [SWAMP Alg. 1]: SWA particles, the averaged network, one mask, three particle modes.

The model of the run-level tests is ``tiny_net`` below (Linear-BatchNorm-Tanh-Linear):
small enough for exact mask comparisons and smooth, so that two implementations that
differ by float rounding stay close (a ReLU network amplifies a 1e-8 difference to
1e-4 whenever a pre-activation within 1e-8 of zero changes sign).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from landscape import paths
from landscape.checkpoint import load_json, load_state
from landscape.data import load_data
from landscape.distributed import DistributedError
from landscape.errors import DivergenceError
from landscape.hparams import RunConfig, TrainHparams
from landscape.jobs import prune as execute
from landscape.models import create_model
from landscape.pruning import apply_mask, density, ones_mask, prune
from landscape.runners import swamp as swamp_runner
from landscape.runners.swamp import particle_data_seed, resolve_mode
from landscape.training import constant, recompute_bn
from landscape.training.swa import SwaPlan, bn_batches, make_plan, train_particle
from landscape.training.vectorized import train_particles

TESTS = Path(__file__).resolve().parent
N = 3  # particles in the run-level tests; 3 on 2 ranks also tests an uneven split
MODEL = f"{__name__}:tiny_net"  # a user model by import path (tests/ may or may not be a package)


def tiny_net(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A 40-16-10 network with BatchNorm and a smooth activation (the runs' ``MODEL``)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(in_shape), 16), nn.BatchNorm1d(16), nn.Tanh(),
        nn.Linear(16, num_classes),
    )  # fmt: skip


# 16 steps an epoch; levels train steps 8..64 with SWA from step 36: snapshots at 48 and 64.
SETTINGS = dict(
    method="swamp", data="synthetic", model=MODEL, batch_size=64, length="4ep",
    schedule="step", milestones="2ep", eval_every="1ep", rewind_step="8", levels=2, particles=N,
    swa_start=0.5, swa_lr=0.05, device="cpu",
)  # fmt: skip
FLAGS = [
    "--data", "synthetic", "--model", MODEL, "--batch-size", "64",
    "--length", "4ep", "--schedule", "step", "--milestones", "2ep", "--eval-every", "1ep",
    "--rewind-step", "8", "--levels", "2", "--particles", str(N), "--swa-start", "0.5",
    "--swa-lr", "0.05", "--device", "cpu",
]  # fmt: skip


def _cfg(**kw) -> RunConfig:
    return RunConfig().replace(**{**SETTINGS, **kw})


def _run(out: Path, **kw) -> Path:
    return execute(_cfg(**kw), out=str(out), quiet=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The sequential run every other mode is compared with (on one thread, as they are)."""
    torch.set_num_threads(1)  # a module fixture runs before the per-test one of conftest
    return _run(tmp_path_factory.mktemp("swamp") / "sequential", particle_mode="sequential")


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


def _files(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every checkpoint of a run by its relative path."""
    return {str(f.relative_to(run)): load_state(f) for f in sorted(run.rglob("*.safetensors"))}


def _assert_runs_agree(a: Path, b: Path, atol: float = 1e-5) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    assert len([k for k in fa if "particles" in k]) == 3 * N
    for name in fa:
        for k in fa[name]:
            x, y = fa[name][k], fb[name][k]
            if name.endswith("mask.safetensors"):
                assert torch.equal(x, y), f"{name}:{k} masks differ"
            else:
                torch.testing.assert_close(
                    x.double(), y.double(), atol=atol, rtol=0, msg=f"{name}:{k}"
                )
    for level in range(3):
        ma, mb = load_json(paths.metrics(a, level)), load_json(paths.metrics(b, level))
        errs_a = [*ma["particle_test_errors"], ma["test_error"]]
        errs_b = [*mb["particle_test_errors"], mb["test_error"]]
        assert errs_a == pytest.approx(errs_b, abs=2 / 512)  # at most 2 of 512 test samples


# --- the SWA schedule and the particle loops -------------------------------------------------


def test_plan_switches_lr_and_snapshots_once_per_epoch():
    plan = make_plan(8, 64, 0.5, 0.05, 16)
    assert plan.swa_step == 36
    assert plan.snapshots() == [48, 64]
    lr = plan.lr(constant(0.1))
    assert [lr(35), lr(36), lr(63)] == [0.1, 0.05, 0.05]
    # The last step is always a snapshot, even mid-epoch; swa_start 1 averages the final iterate.
    assert make_plan(0, 40, 0.25, 0.05, 16).snapshots() == [16, 32, 40]
    assert make_plan(0, 40, 1.0, 0.05, 16).snapshots() == [40]


@pytest.mark.parametrize(
    "args, match",
    [((10, 10, 0.5, 0.05, 4), "start 10 is not before"), ((0, 10, 1.5, 0.05, 4), "swa-start"),
     ((0, 10, 0.5, 0.0, 4), "swa-lr")],
)  # fmt: skip
def test_make_plan_rejects_bad_settings(args, match):
    with pytest.raises(ValueError, match=match):
        make_plan(*args)


def test_running_mean_is_the_mean_of_the_snapshot_iterates(data):
    """Brute force: a plain SGD loop that keeps a copy at each snapshot step, then averages."""
    hp = TrainHparams(lr=0.1, momentum=0.9, weight_decay=5e-4)
    plan = SwaPlan(0, 40, 20, 0.05, 8)  # snapshots after steps 24, 32, 40
    model = create_model("mlp", data.in_shape, data.num_classes, seed=1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_particle(
        model, data, hp, 32, plan=plan, lr_at=constant(0.1), data_seed=3, show_progress=False
    )
    ref = create_model("mlp", data.in_shape, data.num_classes, seed=1)
    ref.load_state_dict(start)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    kept = []
    for t, (x, y) in zip(range(40), data.train_batches(0, 40, 32, 3)):
        opt.param_groups[0]["lr"] = 0.05 if t >= 20 else 0.1
        opt.zero_grad()
        nn.functional.cross_entropy(ref(x), y).backward()
        opt.step()
        if t + 1 in (24, 32, 40):
            kept.append({k: v.detach().clone() for k, v in ref.named_parameters()})
    assert result.snapshots == 3
    for k in kept[0]:
        mean = torch.stack([s[k] for s in kept]).mean(0)
        torch.testing.assert_close(result.state[k], mean, atol=1e-6, rtol=0)
    # The model itself holds the last iterate, not the mean.
    torch.testing.assert_close(dict(model.named_parameters())["1.weight"], kept[-1]["1.weight"])


def test_vectorized_loop_matches_sequential_loop_with_batchnorm_and_mask(data):
    """N particles through vmap = N sequential runs (cnn1d: BatchNorm, ReLU; masked)."""
    hp = TrainHparams(lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    plan = SwaPlan(0, 12, 6, 0.02, 4)  # snapshots after steps 8 and 12
    model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0)
    w = {k: p.detach() for k, p in model.named_parameters()}
    mask = prune(w, ones_mask(model), 0.5)
    apply_mask(model, mask)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    seeds = [0, 1000, 2000]
    common = dict(plan=plan, lr_at=constant(0.05), mask=mask, eval_every=4, show_progress=False)
    vec = train_particles(model, [start] * 3, data, hp, 32, data_seeds=seeds, **common)
    assert torch.equal(model.state_dict()["1.weight"], start["1.weight"])  # skeleton untouched
    for seed, v in zip(seeds, vec):
        model.load_state_dict(start)
        s = train_particle(model, data, hp, 32, data_seed=seed, **common)
        assert s.snapshots == v.snapshots == 2
        for k in s.state:  # parameters (SWA means) and BatchNorm buffers alike
            torch.testing.assert_close(s.state[k], v.state[k], atol=1e-5, rtol=1e-5, msg=k)
        for k, m in mask.items():
            assert not v.state[k][~m].any()
        assert [r["train_loss"] for r in s.curve] == pytest.approx(
            [r["train_loss"] for r in v.curve], abs=1e-5
        )
    # Different data seeds are different SGD noise.
    assert not torch.allclose(vec[0].state["1.weight"], vec[1].state["1.weight"])


class _Recording:
    """A data set that keeps every training batch it hands out, by data seed."""

    def __init__(self, data):
        self._data, self.batches = data, {}

    def __getattr__(self, name):
        return getattr(self._data, name)

    def train_batches(self, start, stop, batch_size, seed, augment=True):
        for x, y in self._data.train_batches(start, stop, batch_size, seed, augment):
            self.batches.setdefault(seed, []).append((x.clone(), y.clone()))
            yield x, y


def test_particle_modes_see_the_same_batches_and_differ_by_rounding_only(data):
    """What the two modes share exactly and what they do not (docs/science.md §5).

    Exactly equal: every particle's batches (data seed + 1000·n, step by step), the start,
    and a vectorised particle's result whatever the stack size from two on (so also on a
    rerun). Not equal across modes: the first step's update, in its last bits — the vectorised mode's
    batched kernels (vmap's convolution, BatchNorm and weight-gradient reductions) sum in
    another order than one particle's. One step apart by float rounding, no more: well
    below one part in 1e4 of the update itself.
    """
    hp = TrainHparams(lr=0.4, momentum=0.9, weight_decay=5e-4)  # the paul-mnist1d rate
    plan = SwaPlan(0, 1, 1, 0.4, 4)  # one step, no SWA phase: the state is the first iterate
    model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    seeds = [particle_data_seed(0, i) for i in range(3)]
    common = dict(plan=plan, lr_at=constant(0.4), show_progress=False)
    rec_v, rec_s = _Recording(data), _Recording(data)
    vec = train_particles(model, [start] * 3, rec_v, hp, 32, data_seeds=seeds, **common)
    for seed, v in zip(seeds, vec):
        model.load_state_dict(start)
        s = train_particle(model, rec_s, hp, 32, data_seed=seed, **common)
        for (xv, yv), (xs, ys) in zip(rec_v.batches[seed], rec_s.batches[seed], strict=True):
            assert torch.equal(xv, xs) and torch.equal(yv, ys)
        for k, _ in model.named_parameters():
            step_s, step_v = (s.state[k] - start[k]).double(), (v.state[k] - start[k]).double()
            torch.testing.assert_close(
                step_v, step_s, rtol=0, atol=1e-4 * step_s.abs().max().item() + 1e-9, msg=k
            )
    assert sorted(rec_v.batches) == sorted(rec_s.batches) == seeds
    # Each mode on its own is exact: the same call again gives the same bits; and a vectorised
    # particle does not depend on how many others share its stack (from two on).
    again = train_particles(model, [start] * 2, data, hp, 32, data_seeds=seeds[:2], **common)
    assert all(torch.equal(a.state[k], b.state[k]) for a, b in zip(vec, again) for k in start)


def test_vectorized_rejects_cumulative_batchnorm(data):
    model = create_model("cnn1d", data.in_shape, data.num_classes)
    model[2].momentum = None
    with pytest.raises(ValueError, match="momentum=None"):
        train_particles(
            model, [model.state_dict()], data, TrainHparams(), 32, plan=SwaPlan(0, 2, 1, 0.1, 4),
            lr_at=constant(0.1), data_seeds=[0], show_progress=False,
        )  # fmt: skip


def test_particle_divergence_raises_a_clear_error(data):
    model = create_model("mlp", data.in_shape, data.num_classes)
    with pytest.raises(DivergenceError, match="swa-lr"):
        train_particle(
            model, data, TrainHparams(), 32, plan=SwaPlan(0, 60, 30, 1e30, 8),
            lr_at=constant(1e30), show_progress=False,
        )  # fmt: skip


def test_bn_batches_are_fixed_unaugmented_training_batches(data):
    batches, record = bn_batches(data, 100, samples=450)
    assert len(batches) == 4 and record["samples"] == 400 and record["augment"] is False
    x, _ = data.tensors("train", 400)
    assert torch.equal(torch.cat([b[0] for b in batches]), x)


# --- the runner ------------------------------------------------------------------------------


def test_level_files_and_metrics(reference):
    for level in range(3):
        m = load_json(paths.metrics(reference, level))
        assert m["num_particles"] == N and len(m["particles"]) == N
        assert m["particle_test_errors"] == [p["test_error"] for p in m["particles"]]
        assert m["average_test_error"] == m["test_error"]
        assert [p["data_seed"] for p in m["particles"]] == [0, 1000, 2000]
        assert m["swa_snapshot_steps"] == [48, 64] and m["swa_step"] == 36
        assert m["bn_recompute"]["policy"] == "recompute" and m["bn_recompute"]["samples"] == 1024
        assert m["particle_mode"] == "sequential"
        assert m["density"] == pytest.approx(0.8**level, abs=1e-3)
        assert all(paths.particle(reference, level, i).exists() for i in range(N))


def test_average_is_the_mean_of_the_particles_with_bn_reestimated(reference, data):
    """θ̄ = mean of the particles' SWA means; its BN statistics are recomputed, not averaged."""
    model = create_model(MODEL, data.in_shape, data.num_classes)
    params = [k for k, _ in model.named_parameters()]
    for level in range(3):
        avg = load_state(paths.weights(reference, level))
        parts = [load_state(paths.particle(reference, level, i)) for i in range(N)]
        for k in params:
            mean = torch.stack([p[k].double() for p in parts]).mean(0).float()
            torch.testing.assert_close(avg[k], mean, atol=1e-7, rtol=0)
        model.load_state_dict(avg)
        recompute_bn(model, bn_batches(data, 64)[0])
        for k in ("2.running_mean", "2.running_var"):
            assert torch.equal(model.state_dict()[k], avg[k])
        # The variance is quadratic in the weights, so the average's is not the particles' mean
        # (the BN input here is linear in the first layer, so the running means would agree).
        averaged = torch.stack([p["2.running_var"] for p in parts]).mean(0)
        assert not torch.allclose(avg["2.running_var"], averaged, rtol=1e-3), "BN stats averaged"


def test_next_mask_is_the_global_magnitude_mask_of_the_average(reference):
    for level in range(2):
        avg = load_state(paths.weights(reference, level))
        mask = {k: v.bool() for k, v in load_state(paths.mask(reference, level)).items()}
        nxt = {k: v.bool() for k, v in load_state(paths.mask(reference, level + 1)).items()}
        expected = prune(avg, mask, 0.2, "global")
        assert all(torch.equal(nxt[k], expected[k]) for k in expected)
        assert density(nxt) == pytest.approx(0.8 * density(mask), abs=1e-3)
        # ... and not the mask of any one particle: the average decides.
        for i in range(N):
            part = load_state(paths.particle(reference, level, i))
            other = prune(part, mask, 0.2, "global")
            assert any(not torch.equal(other[k], expected[k]) for k in expected)


def test_vectorized_run_agrees_with_sequential(reference, tmp_path):
    _assert_runs_agree(reference, _run(tmp_path / "vec", particle_mode="vectorized"))
    m = load_json(paths.metrics(tmp_path / "vec", 1))
    assert m["particle_mode"] == "vectorized"


def test_distributed_run_on_two_gloo_ranks_agrees_with_sequential(reference, tmp_path):
    """``torchrun --nproc-per-node 2 -m landscape prune --method swamp``: 3 particles on 2 ranks."""
    out = tmp_path / "dist"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "landscape", "prune", "--method", "swamp", *FLAGS,
        "--particle-mode", "distributed", "--out", str(out), "--quiet",
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_runs_agree(reference, out)
    m = load_json(paths.metrics(out, 2))
    assert m["particle_mode"] == "distributed" and m["world_size"] == 2


def test_killed_run_resumes_at_the_first_missing_particle(reference, tmp_path, monkeypatch):
    real = swamp_runner.train_particle
    calls: list[str] = []

    def killed_at_fifth(*args, **kw):
        calls.append(kw["desc"])
        if len(calls) == 5:  # level 1, particle 1: level 1's p0 is saved, nothing else
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(swamp_runner, "train_particle", killed_at_fifth)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "run", particle_mode="sequential")
    run = tmp_path / "run"
    assert paths.levels(run) == [0]
    assert paths.particle(run, 1, 0).exists() and not paths.particle(run, 1, 1).exists()
    p0 = paths.particle(run, 1, 0).stat().st_mtime_ns

    calls.clear()
    monkeypatch.setattr(swamp_runner, "train_particle", lambda *a, **kw: (calls.append(kw["desc"]), real(*a, **kw))[1])  # fmt: skip
    _run(tmp_path / "run", particle_mode="sequential")
    assert calls == ["level 1/2 particle 1", "level 1/2 particle 2"] + [
        f"level 2/2 particle {i}" for i in range(N)
    ]
    assert paths.particle(run, 1, 0).stat().st_mtime_ns == p0  # not retrained
    # The resumed run is the uninterrupted one, bit for bit.
    fa, fb = _files(reference), _files(run)
    assert sorted(fa) == sorted(fb)
    assert all(torch.equal(fa[f][k], fb[f][k]) for f in fa for k in fa[f])
    for level in (1, 2):
        got, want = (load_json(paths.metrics(r, level))["particles"] for r in (run, reference))
        drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
        assert drop(got) == drop(want)


def test_swamp_plus_uses_one_particle_for_the_first_levels(tmp_path):
    run = _run(tmp_path / "plus", swamp_plus=1, levels=1, particles=2, particle_mode="vectorized")
    assert load_json(paths.metrics(run, 0))["num_particles"] == 1
    assert not paths.particle(run, 0, 1).exists()
    assert load_json(paths.metrics(run, 1))["num_particles"] == 2
    # With one particle the average is that particle (parameters; BN re-estimated the same way).
    avg, p0 = load_state(paths.weights(run, 0)), load_state(paths.particle(run, 0, 0))
    assert all(torch.equal(avg[k], p0[k]) for k in avg)


def test_particle_seeds_and_modes():
    assert [particle_data_seed(7, i) for i in range(3)] == [7, 1007, 2007]
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_mode("auto", cpu, 1) == "sequential"
    assert resolve_mode("auto", cuda, 1) == "vectorized"
    assert resolve_mode("auto", cpu, 2) == "distributed"
    assert resolve_mode("vectorized", cpu, 1) == "vectorized"


def test_distributed_mode_without_torchrun_says_how_to_launch(tmp_path):
    with pytest.raises(DistributedError, match="torchrun --nproc-per-node"):
        resolve_mode("distributed", torch.device("cpu"), 1)
    with pytest.raises(DistributedError, match="every rank"):
        resolve_mode("sequential", torch.device("cpu"), 2)
    with pytest.raises(DistributedError, match="torchrun"):
        _run(tmp_path / "d", particle_mode="distributed", levels=0)


def test_rewind_step_at_the_end_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="rewind-step"):
        _run(tmp_path / "r", rewind_step="4ep", levels=0)


def test_plots_draw_exactly_the_result_file(tmp_path):
    import json

    from landscape.plotting.swamp import plot_accuracy_vs_sparsity, plot_particles_vs_average

    row = lambda d, imp, sw, parts: dict(  # noqa: E731
        density=d, imp_wr_test_error=imp, swamp_test_error=sw, swamp_particle_test_errors=parts
    )
    result = {
        "settings": {"preset": "tiny", "seeds": [0, 1], "particles": 2},
        "levels": [row(1.0, [0.30, 0.32], [0.28, 0.30], [[0.31, 0.33], [0.30, 0.32]]),
                   row(0.8, [0.40, 0.42], [0.36, 0.38], [[0.35, 0.37], [0.36, 0.38]])],
    }  # fmt: skip
    path = tmp_path / "swamp.json"
    path.write_text(json.dumps(result))
    fig, ax = plot_accuracy_vs_sparsity(path)
    imp, sw = ax.get_lines()
    assert list(imp.get_xdata()) == [100.0, 80.0]
    assert list(imp.get_ydata()) == pytest.approx([69.0, 59.0])
    assert list(sw.get_ydata()) == pytest.approx([71.0, 63.0])
    fig, ax = plot_particles_vs_average(result)
    mean_particle, average = ax.get_lines()
    assert list(mean_particle.get_ydata()) == pytest.approx([31.5, 36.5])
    assert list(average.get_ydata()) == pytest.approx([29.0, 37.0])
    assert sum(len(c.get_offsets()) for c in ax.collections if c.get_offsets().size) >= 8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_vectorized_loop_matches_sequential_loop_on_cuda(monkeypatch):
    # TF32 convolutions round to 10 mantissa bits: compare in full fp32.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    data = load_data("synthetic-cifar", device="cuda")
    hp = TrainHparams(lr=0.05, momentum=0.9, weight_decay=5e-4)
    plan = SwaPlan(0, 8, 4, 0.02, 4)
    model = create_model("resnet20", data.in_shape, data.num_classes).cuda()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    common = dict(plan=plan, lr_at=constant(0.05), show_progress=False)
    vec = train_particles(model, [start] * 2, data, hp, 64, data_seeds=[0, 1000], **common)
    for seed, v in zip([0, 1000], vec):
        model.load_state_dict(start)
        s = train_particle(model, data, hp, 64, data_seed=seed, **common)
        for k in s.state:
            torch.testing.assert_close(s.state[k], v.state[k], atol=1e-4, rtol=1e-4, msg=k)


def test_default_swa_lr_is_the_schedules_rate_at_swa_start(tmp_path):
    """--swa-lr 0 (the default): SWA continues at the annealed rate instead of jumping above it."""
    run = _run(tmp_path / "auto", swa_lr=0.0, levels=0)
    m = load_json(paths.metrics(run, 0))
    # 16 steps an epoch, LR 0.1 dropped ×0.1 at 2ep = step 32; SWA starts at step 36
    assert m["swa_step"] == 36 and m["swa_lr"] == pytest.approx(0.01)
