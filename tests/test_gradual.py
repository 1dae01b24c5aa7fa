"""GMP [Zhu & Gupta 2017] and DPF [Lin et al. 2020]: the cubic schedule, the masks at each
level, masked against feedback updates, resuming, and bad settings (runners/gradual.py).

Synthetic data (10 steps an epoch) and the MLP; runs of a few epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from landscape import paths
from landscape.cli import main
from landscape.data import load_data
from landscape.hparams import RunConfig, TrainHparams
from landscape.jobs import prune as execute
from landscape.models import create_model
from landscape.pruning import cubic_sparsity, kept_count, prune_to
from landscape.runners.common import RunContext
from landscape.runners.gradual import gradual_plan
from landscape.training import constant, train

# T = 80 steps, t_0 = 8, end 56: n = 6 updates of Δt = 8, levels at j = 0, 2, 4, 6.
BASE = dict(
    data="synthetic", model="mlp", eval_every="4ep", length="8ep", schedule="linear",
    method="gmp", levels=3, goal_sparsity=0.8, prune_start=0.1, prune_end=0.7,
    prune_interval="8",
)  # fmt: skip
SPE = 10


def _cfg(**kw) -> RunConfig:
    return RunConfig().replace(**{**BASE, **kw})


def _run(root: Path, **kw) -> Path:
    return execute(_cfg(**kw), root=str(root), quiet=True)


def _mask(run_dir: Path, level: int) -> dict[str, torch.Tensor]:
    return {k: v.bool() for k, v in load_file(paths.mask(run_dir, level)).items()}


def _metrics(run_dir: Path, level: int) -> dict:
    m = json.loads(paths.metrics(run_dir, level).read_text())
    return {k: v for k, v in m.items() if "seconds" not in k}


def test_the_cubic_schedule_has_zhu_and_guptas_values():
    # s_j = s_f + (s_i − s_f)(1 − j/n)³, n = 4, s_f = 0.9: planted by hand.
    for j, s in enumerate([0.0, 0.9 * 37 / 64, 0.9 * 7 / 8, 0.9 * 63 / 64, 0.9, 0.9, 0.9]):
        assert cubic_sparsity(j, 4, 0.9) == pytest.approx(s, rel=1e-15, abs=1e-15)
    assert cubic_sparsity(2, 4, 0.9, initial=0.2) == pytest.approx(0.9 - 0.7 / 8, rel=1e-15)
    with pytest.raises(ValueError, match="n >= 1"):
        cubic_sparsity(0, 0, 0.9)


def test_prune_to_keeps_an_exact_count_and_never_grows_a_mask():
    w = {"a.weight": torch.tensor([[0.3, -0.1, 0.2], [0.05, -0.4, 0.0]]),
         "b.weight": torch.tensor([0.25, -0.15, 0.35, 0.01])}  # fmt: skip
    ones = {n: torch.ones_like(v, dtype=torch.bool) for n, v in w.items()}
    half = prune_to(w, ones, 0.5)  # keeps round(0.5 · 10) = 5: the largest |w|
    assert {n: v.tolist() for n, v in half.items()} == {
        "a.weight": [[True, False, True], [False, True, False]],
        "b.weight": [True, False, True, False],
    }
    lower = prune_to(w, half, 0.3)  # asks for 7 of the 5 kept: unchanged
    assert all(torch.equal(half[n], v) for n, v in lower.items())
    assert sum(int(v.sum()) for v in prune_to(w, half, 0.8).values()) == 2


def test_the_plan_places_updates_and_levels_on_the_schedule():
    plan = gradual_plan(_cfg(), SPE, prunable=1000)
    assert (plan.total, plan.start, plan.interval, plan.updates) == (80, 8, 8, 6)
    assert [plan.level_update(k) for k in range(4)] == [0, 2, 4, 6]
    assert [plan.level_end(k) for k in range(4)] == [16, 32, 48, 80]  # before update j_k + 1
    assert [t for t in range(80) if plan.update_at(t) is not None] == list(range(8, 57, 8))
    dpf = gradual_plan(_cfg(method="dpf"), SPE, prunable=1000)  # DPF updates to the end
    assert [t for t in range(80) if dpf.update_at(t) is not None] == list(range(8, 80, 8))
    assert dpf.sparsity(9) == 0.8
    # j_k = ⌊k·n/K + ½⌋ with n = 4, K = 3: 4/3 → 1, 8/3 → 3
    four = gradual_plan(_cfg(prune_end=0.5), SPE, prunable=1000)
    assert four.updates == 4 and [four.level_update(k) for k in range(4)] == [0, 1, 3, 4]
    assert [four.level_end(k) for k in range(4)] == [16, 24, 40, 80]


@pytest.fixture(scope="module")
def gmp_run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("gmp"))


def test_gmp_masks_hold_the_schedules_sparsity_at_every_level_and_only_shrink(gmp_run):
    plan = gradual_plan(_cfg(), SPE, prunable=1000)
    prunable = sum(m.numel() for m in _mask(gmp_run, 0).values())
    previous = None
    for k in range(4):
        mask, m = _mask(gmp_run, k), _metrics(gmp_run, k)
        s = cubic_sparsity(plan.level_update(k), 6, 0.8)
        assert sum(int(v.sum()) for v in mask.values()) == kept_count(s, prunable)
        assert m["schedule_sparsity"] == pytest.approx(s) and m["schedule_update"] == 2 * k
        assert (m["start_step"], m["stop_step"]) == (plan.level_start(k), plan.level_end(k))
        weights = load_file(paths.weights(gmp_run, k))
        assert all(bool((weights[n][~v] == 0).all()) for n, v in mask.items())
        if previous is not None:
            assert all(bool((v & ~previous[n]).sum() == 0) for n, v in mask.items())
        previous = mask
    assert _metrics(gmp_run, 3)["density"] == pytest.approx(0.2, abs=1e-3)


def test_gmp_pruned_weights_stay_exactly_zero_after_every_step(tmp_path, monkeypatch):
    real = RunContext.train
    seen = {"steps": 0, "updates": 0}

    def spy(self, model, *, mask_at, **kw):
        latest: dict[str, torch.Tensor] = {}

        def recording(t, net):
            new = mask_at(t, net)
            if new is not None:
                assert all(bool((v & ~latest[n]).sum() == 0) for n, v in new.items() if latest)
                latest.update(new)
                seen["updates"] += 1
            return new

        def check(t, net):
            params = dict(net.named_parameters())
            for n, v in latest.items():
                assert bool((params[n].detach()[~v] == 0).all()), (t, n)
            seen["steps"] += 1

        return real(self, model, mask_at=recording, on_step=check, **kw)

    monkeypatch.setattr(RunContext, "train", spy)
    _run(tmp_path)
    assert seen == {"steps": 80, "updates": 7}


def _one_step(feedback: bool):
    """One SGD step (lr 0.1, no momentum or decay) of the MLP on synthetic data under a mask
    that prunes half the weights at step 0; returns w_0, the mask, the batch, w_1, the loss."""
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = [n for n in w0 if n.endswith("weight")]
    mask = prune_to(w0, {n: torch.ones_like(w0[n], dtype=torch.bool) for n in names}, 0.5)
    losses = []
    hp = TrainHparams(lr=0.1, momentum=0.0, weight_decay=0.0)
    train(model, data, hp, 100, start=0, stop=1, lr_at=constant(0.1), show_progress=False,
          mask_at=lambda t, net: mask if t == 0 else None, feedback=feedback,
          on_log=lambda row, step: losses.append(row["train/loss"]))  # fmt: skip
    x, y = next(iter(data.train_batches(0, 1, 100, 0, True)))
    w1 = {n: p.detach().clone() for n, p in model.named_parameters()}
    return w0, mask, (x, y), w1, losses[0]


def _loss_and_grad(w, x, y):
    data = load_data("synthetic")
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    params = {n: v.clone().requires_grad_(True) for n, v in w.items()}
    loss = F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()))
    return float(loss.detach()), dict(zip(params, grads))


def test_dpf_forward_uses_the_mask_and_the_dense_weights_take_its_gradient():
    w0, mask, (x, y), w1, logged = _one_step(feedback=True)
    pruned = {n: v * mask[n] if n in mask else v for n, v in w0.items()}
    loss, grad = _loss_and_grad(pruned, x, y)  # the gradient at m ⊙ w_0 ...
    assert logged == pytest.approx(loss, rel=1e-6)  # ... whose loss the step reported
    assert logged != pytest.approx(_loss_and_grad(w0, x, y)[0], rel=1e-3)  # not the dense loss
    for n in w0:  # ... applied to every dense weight, pruned ones included
        assert torch.allclose(w1[n], w0[n] - 0.1 * grad[n], atol=1e-7, rtol=0), n
    off = torch.cat([(w1[n] - w0[n])[~mask[n]] for n in mask])
    assert bool((off != 0).any()) and bool((torch.cat([w1[n][~mask[n]] for n in mask]) != 0).all())


def test_gmp_step_under_the_same_mask_zeroes_the_pruned_weights():
    w0, mask, (x, y), w1, logged = _one_step(feedback=False)
    pruned = {n: v * mask[n] if n in mask else v for n, v in w0.items()}
    loss, grad = _loss_and_grad(pruned, x, y)
    assert logged == pytest.approx(loss, rel=1e-6)
    for n in w0:
        want = pruned[n] - 0.1 * grad[n] * mask.get(n, 1)
        assert torch.allclose(w1[n], want, atol=1e-7, rtol=0), n
    assert all(bool((w1[n][~mask[n]] == 0).all()) for n in mask)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("method", ["gmp", "dpf"])
def test_a_run_killed_mid_level_resumes_to_identical_tensors(tmp_path, monkeypatch, method):
    full = _run(tmp_path / "full", method=method)
    real = RunContext.train
    starts = []

    def dies_in_level_2(self, model, *, start, mask_at, **kw):
        starts.append(start)

        def fatal(t, net):
            if t == 40:  # inside level 2 (steps 32..47), after its first mask update
                raise _Killed
            return mask_at(t, net)

        return real(self, model, start=start, mask_at=fatal, **kw)

    monkeypatch.setattr(RunContext, "train", dies_in_level_2)
    with pytest.raises(_Killed):
        _run(tmp_path / "killed", method=method)
    killed = next((tmp_path / "killed").iterdir())
    assert paths.levels(killed) == [0, 1]
    monkeypatch.setattr(RunContext, "train", real)
    starts.clear()
    monkeypatch.setattr(RunContext, "train", lambda self, model, *, start, **kw: (
        starts.append(start), real(self, model, start=start, **kw))[1])  # fmt: skip
    _run(tmp_path / "killed", method=method)
    assert starts == [32, 48]  # levels 0 and 1 were not trained again
    files = ["weights", "mask", "momentum"] + (["dense_weights"] if method == "dpf" else [])
    for k in range(4):
        for f in files:
            a = load_file(getattr(paths, f)(killed, k))
            b = load_file(getattr(paths, f)(full, k))
            assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in b), (k, f)
        assert _metrics(killed, k) == _metrics(full, k)


def test_dpf_masks_may_regrow_and_the_level_is_the_pruned_network(tmp_path):
    run_dir = _run(tmp_path, method="dpf")
    regrown = 0
    for k in range(4):
        mask, w = _mask(run_dir, k), load_file(paths.weights(run_dir, k))
        dense = load_file(paths.dense_weights(run_dir, k))
        for n, v in mask.items():
            assert torch.equal(w[n], dense[n] * v)
        if k:
            prev = _mask(run_dir, k - 1)
            regrown += sum(int((v & ~prev[n]).sum()) for n, v in mask.items())
    assert regrown > 0  # masks chosen afresh from the dense weights: some weights return
    from landscape.runs import open_run

    open_run(run_dir).mask(2)  # read without the only-shrink check of fixed-mask methods


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(levels=7), r"--levels 7 exceeds the 6 mask updates"),
        (dict(prune_interval="60"), r"no whole --prune-interval of 60 steps fits"),
        (dict(prune_interval="0"), r"--prune-interval '0' is below one step"),
        (dict(goal_sparsity=0.99999), r"--goal-sparsity 0.99999 keeps none"),
    ],
)
def test_bad_schedules_are_refused_before_anything_is_written(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message):
        _run(tmp_path, **settings)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_bad_settings_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    for flags, message in [
        (["--prune-start", "0.5", "--prune-end", "0.4"], "--prune-start (0.5) and --prune-end"),
        (["--prune-end", "1.0"], "must satisfy 0 <= start < end < 1"),
        (["--goal-sparsity", "0"], "--goal-sparsity must lie in (0, 1)"),
        (["--levels", "0"], "needs --levels >= 1"),
        (["--levels", "40"], "--levels 40 exceeds the"),
    ]:
        argv = ["prune", "--method", "dpf", "--data", "synthetic", "--model", "mlp",
                "--out", str(out), "--quiet", *flags]  # fmt: skip
        assert main(argv) == 2, flags
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
    with pytest.raises(SystemExit) as stop:  # argparse refuses another method's flag
        main(["prune", "--method", "gmp", "--particles", "2", "--out", str(out)])
    assert stop.value.code == 2 and not out.exists()
    assert "--particles is not a setting of --method gmp" in capsys.readouterr().err
