"""Permutation alignment: specs from the graph, matching, REPAIR, the jobs and the verbs.

Exact references: a permutation applied by the derived spec leaves every built-in model's
outputs unchanged (float64, 1e-10, train and eval mode); a planted permutation of a trained
network is recovered exactly by both matchings; REPAIR hits its target statistics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from landscape.analysis.alignment import (
    PermutationSpecError,
    activation_matching,
    apply_permutation,
    invert_permutation,
    permutation_spec,
    random_permutation,
    repaired_barrier,
    repaired_state,
    weight_distance,
    weight_matching,
)
from landscape.analysis.alignment.repair import _layer_stats, repair_layers
from landscape.cli import main
from landscape.models import create_model
from landscape.settings import digest
from landscape.specs import BarrierSpec, ConnectivitySpec, EngineSpec, InstabilitySpec

# ------------------------------------------------------------------ function preservation

_IMAGE = (3, 32, 32)
_MODELS = [
    ("mlp", (40,)),
    ("cnn1d", (40,)),
    ("mlp-w24", (40,)),
    ("resnet20", _IMAGE),
    ("resnet56", _IMAGE),
    ("wrn-10-2", _IMAGE),
    pytest.param("resnet18", _IMAGE, marks=pytest.mark.slow),
    pytest.param("vgg11", _IMAGE, marks=pytest.mark.slow),
    pytest.param("tv:resnet18", _IMAGE, marks=pytest.mark.slow),
]


def _randomised(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state with BatchNorm statistics and affine parameters made non-trivial
    (fresh ones are 0/1, which a permutation of them cannot tell apart)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point() and ("running" in k or "bn" in k or v.dim() == 1):
            v = torch.rand(v.shape, generator=gen, dtype=v.dtype) + 0.5
        out[k] = v.clone()
    return out


@pytest.mark.parametrize(("name", "shape"), _MODELS)
def test_a_random_permutation_leaves_every_model_unchanged(name, shape):
    model = create_model(name, shape, 10).double()
    x = torch.randn(3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spec = permutation_spec(model, x)
    assert spec.groups and all(g.size > 1 for g in spec.groups)
    state = _randomised(model)
    permuted = apply_permutation(spec, random_permutation(spec, seed=3), state)
    assert any(not torch.equal(state[k], permuted[k]) for k in state)
    for mode in ("eval", "train"):
        model.train(mode == "train")
        model.load_state_dict(state)
        y0 = model(x)
        model.load_state_dict(permuted)
        y1 = model(x)
        assert (y0 - y1).abs().max() < 1e-10, (name, mode)


def test_permuting_one_side_of_a_layer_alone_changes_the_function():
    """The preservation test can fail: the output axis of one layer without its reader's."""
    model = create_model("mlp", (40,), 10).double()
    x = torch.randn(5, 40, dtype=torch.float64)
    spec = permutation_spec(model, x)
    state = dict(model.state_dict())
    g = spec.groups[0]
    p = torch.randperm(g.size, generator=torch.Generator().manual_seed(0))
    broken = {**state, "1.weight": state["1.weight"][p], "1.bias": state["1.bias"][p]}
    with torch.no_grad():
        y0 = model(x)
        model.load_state_dict(broken)
        assert (model(x) - y0).abs().max() > 1e-3


def test_the_residual_stream_is_one_group():
    spec = permutation_spec(create_model("resnet20", _IMAGE, 10), torch.randn(2, *_IMAGE))
    stream = next(g for g in spec.groups if any(a.name == "conv.weight" for a in g.axes))
    names = {a.name for a in stream.axes}
    # the stem, every block's second conv and BN of stage 1, and the next stage's readers
    assert {"conv.weight", "bn.weight", "bn.running_mean", "blocks.0.bn2.weight",
            "blocks.2.conv2.weight", "blocks.3.conv1.weight"} <= names  # fmt: skip
    assert ("blocks.3.conv1.weight", 1) in {(a.name, a.axis) for a in stream.axes}
    assert len(spec.groups) == 3 + 9  # three streams, one inner group per block


def test_a_flatten_makes_blocks_of_positions():
    spec = permutation_spec(create_model("cnn1d", (40,), 10), torch.randn(2, 40))
    head = [a for g in spec.groups for a in g.axes if a.name == "11.weight"]
    assert len(head) == 1 and head[0].axis == 1 and head[0].block == 5  # 64 channels x 5


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.inner = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h + torch.tanh(self.inner(h))
        return self.out(self.norm(h))


class _Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(4, 5), nn.Linear(4, 5), nn.Linear(10, 2)

    def forward(self, x):
        return self.out(torch.cat([self.a(x), self.b(x)], dim=1))


def test_a_user_model_that_traces_is_supported():
    model = _Residual().double()
    x = torch.randn(7, 6, dtype=torch.float64)
    spec = permutation_spec(model, x)
    assert sorted(spec.sizes().values()) == [8]  # the stream: inp, inner, norm, out's input
    permuted = apply_permutation(spec, random_permutation(spec, 1), model.state_dict())
    y0 = model(x)
    model.load_state_dict(permuted)
    assert (model(x) - y0).abs().max() < 1e-10


def test_a_model_it_cannot_follow_is_refused_naming_the_node():
    with pytest.raises(PermutationSpecError, match=r"graph node 'cat'.*cannot follow"):
        permutation_spec(_Concat(), torch.randn(2, 4))
    grouped = nn.Sequential(nn.Conv1d(4, 8, 3, groups=2), nn.Flatten(), nn.Linear(8 * 8, 2))
    with pytest.raises(PermutationSpecError, match=r"module '0'.*grouped convolution"):
        permutation_spec(grouped, torch.randn(2, 4, 10))
    lengthwise = nn.Sequential(nn.Conv1d(2, 4, 3), nn.LayerNorm(8), nn.Flatten(), nn.Linear(32, 2))
    with pytest.raises(PermutationSpecError, match=r"module '1'.*LayerNorm normalises axis 2"):
        permutation_spec(lengthwise, torch.randn(2, 2, 10))


# ------------------------------------------------------------------ matching


def _train(model: nn.Module, seed: int, steps: int = 80) -> dict[str, torch.Tensor]:
    """A few Adam steps on a fixed random task: non-degenerate, trained weights."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 40, generator=gen)
    y = (x[:, :10].argmax(1) + x[:, 10:20].argmax(1)) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def trained():
    """Two independently trained MLPs and two 1-D CNNs (with BatchNorm), and their data."""
    nets = {}
    for name in ("mlp-w32", "cnn1d-w8"):
        nets[name] = [_train(create_model(name, (40,), 10, seed=s), s) for s in (0, 1)]
    x = torch.randn(512, 40, generator=torch.Generator().manual_seed(9))
    return nets, [(x[:256], None), (x[256:], None)]


@pytest.mark.parametrize("name", ["mlp-w32", "cnn1d-w8"])
@pytest.mark.parametrize("method", ["weight", "activation"])
def test_a_planted_permutation_is_recovered_exactly(trained, name, method):
    nets, batches = trained
    model = create_model(name, (40,), 10)
    spec = permutation_spec(model, batches[0][0][:2])
    a = nets[name][0]
    mask = {k: (v.abs() > v.abs().median()).float() for k, v in a.items() if k.endswith("weight")
            and v.dim() > 1}  # fmt: skip
    planted = random_permutation(spec, seed=5)
    b = apply_permutation(spec, planted, a)
    mb = apply_permutation(spec, planted, mask)
    params = [k for k, _ in model.named_parameters()]
    if method == "weight":
        m = weight_matching(spec, a, b, params)
    else:
        m = activation_matching(model, spec, a, b, batches)
    aligned = apply_permutation(spec, m.perm, b)
    assert all(torch.equal(aligned[k], a[k]) for k in a)  # every tensor, BN buffers too
    assert all(torch.equal(apply_permutation(spec, m.perm, mb)[k], mask[k]) for k in mask)
    inverse = invert_permutation(planted)
    assert all(torch.equal(m.perm[g], inverse[g]) for g in inverse)


@pytest.mark.parametrize("name", ["mlp-w32", "cnn1d-w8"])
def test_weight_matching_never_increases_the_distance(trained, name):
    nets, batches = trained
    model = create_model(name, (40,), 10)
    spec = permutation_spec(model, batches[0][0][:2])
    a, b = nets[name]
    params = [k for k, _ in model.named_parameters()]
    for seed in range(3):  # several visiting orders
        m = weight_matching(spec, a, b, params, seed=seed)
        after = weight_distance(a, apply_permutation(spec, m.perm, b), params)
        assert after < weight_distance(a, b, params)
        assert m.objective_after >= m.objective_before
        # one more sweep from the result changes nothing: a fixed point of the descent
        again = weight_matching(spec, a, apply_permutation(spec, m.perm, b), params, seed=seed)
        assert again.sweeps == 1 and again.objective_after == again.objective_before


def test_activation_matching_never_lowers_the_correlation(trained):
    nets, batches = trained
    model = create_model("mlp-w32", (40,), 10)
    spec = permutation_spec(model, batches[0][0][:2])
    m = activation_matching(model, spec, *nets["mlp-w32"], batches)
    assert m.objective_after > m.objective_before
    # the matched correlation is the assignment's optimum: no transposition improves it
    m2 = activation_matching(
        model, spec, nets["mlp-w32"][0], apply_permutation(spec, m.perm, nets["mlp-w32"][1]),
        batches,
    )  # fmt: skip
    assert m2.objective_before == pytest.approx(m.objective_after, rel=1e-6)  # float32 sums
    assert all(torch.equal(p, torch.arange(len(p))) for p in m2.perm.values())


# ------------------------------------------------------------------ REPAIR


def test_repair_sets_each_hidden_layer_to_the_interpolated_statistics(trained):
    nets, batches = trained
    model = create_model("mlp-w32", (40,), 10)
    spec = permutation_spec(model, batches[0][0][:2])
    a, b = nets["mlp-w32"]
    layers = repair_layers(model, spec)
    assert layers == ["1", "3"]  # the hidden layers; the logits are left alone
    sa, sb = _layer_stats(model, a, layers, batches), _layer_stats(model, b, layers, batches)
    target = {n: (0.5 * sa[n][0] + 0.5 * sb[n][0], 0.5 * sa[n][1] + 0.5 * sb[n][1]) for n in layers}
    mid = {k: 0.5 * a[k] + 0.5 * b[k] for k in a}
    fixed = repaired_state(model, spec, mid, target, batches)
    got = _layer_stats(model, fixed, layers, batches)
    for n in layers:
        alive = target[n][1] > 1e-6
        assert torch.allclose(got[n][0][alive], target[n][0][alive], atol=1e-4)
        assert torch.allclose(got[n][1][alive], target[n][1][alive], rtol=1e-4)


def test_repaired_barrier_keeps_the_ends_and_refuses_batchnorm(trained):
    nets, batches = trained
    model = create_model("mlp-w32", (40,), 10)
    spec = permutation_spec(model, batches[0][0][:2])
    a, b = nets["mlp-w32"]
    x = batches[0][0]
    data = (x, torch.zeros(len(x), dtype=torch.long))
    res = repaired_barrier(model, spec, a, b, data, batches, points=5)
    from landscape.analysis.connectivity import barrier

    plain = barrier(model, a, b, data, points=5, bn_policy="none")
    assert res.errors[0] == plain.errors[0] and res.errors[-1] == plain.errors[-1]
    assert res.bn_policy == "repair"
    cnn = create_model("cnn1d-w8", (40,), 10)
    with pytest.raises(ValueError, match="BatchNorm.*recompute"):
        repair_layers(cnn, permutation_spec(cnn, x[:2]))


# ------------------------------------------------------------------ specs keep old names


def test_default_path_specs_keep_their_hashes():
    for spec in (BarrierSpec(), ConnectivitySpec(), InstabilitySpec()):
        assert spec.alignment() == {}
    from landscape.jobs.common import barrier_settings

    eng = EngineSpec()
    old = {"kind": "barrier", "a": "level_00/weights.safetensors",
           "b": "level_01/weights.safetensors", "points": 11, "split": "test",
           "bn_policy": "recompute", "eval_samples": 0, "bn_samples": 2000}  # fmt: skip
    new = barrier_settings(eng, "test", 11, old["a"], old["b"], BarrierSpec().alignment())
    assert digest(new) == digest(old)
    aligned = BarrierSpec(align="activation", repair=True).alignment()
    assert aligned == {"align": "activation", "repair": True, "align_samples": 2000}
    with pytest.raises(ValueError, match="--align"):
        BarrierSpec(align="bogus")


# ------------------------------------------------------------------ jobs and verbs


def _prune(out: Path, model: str, seed: int, levels: int = 1) -> Path:
    code = main([
        "prune", "--method", "imp-wr", "--data", "synthetic", "--model", model,
        "--levels", str(levels), "--length", "1ep", "--batch-size", "128", "--rewind-step", "2",
        "--eval-every", "1ep", "--seed", str(seed), "--data-seed", str(seed), "--out", str(out),
        "--quiet",
    ])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("align_runs")
    return {
        "mlp": [_prune(root / f"mlp{s}", "mlp-w16", s) for s in (0, 1)],
        "cnn": [_prune(root / f"cnn{s}", "cnn1d-w4", s) for s in (0, 1)],
    }


def test_align_writes_the_aligned_checkpoint_and_mask(runs, capsys):
    a, b = runs["mlp"]
    assert main(["align", str(a), str(b), "--points", "3", "--eval-samples", "200",
                 "--bn-samples", "256", "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "after (weight matching)" in out and "mask IoU" in out
    folder = next((a / "level_01" / "analysis").glob("align_*"))
    rec = json.loads((folder / "result.json").read_text())
    assert rec["method"] == "weight" and rec["repair"] is False
    assert rec["groups"] == {"1": 16, "3": 16}
    assert rec["distance_after"] < rec["distance_before"]
    assert 0 <= rec["mask_iou_before"] <= 1 and 0 <= rec["mask_iou_after"] <= 1
    from landscape.checkpoint import load_state
    from landscape.runs import open_run

    run_b = open_run(b, "cpu")
    model = run_b.model()
    x, _ = run_b.data.tensors("test", 64)
    aligned = load_state(folder / "aligned.safetensors")
    mask = load_state(folder / "aligned_mask.safetensors")
    with torch.no_grad():
        model.load_state_dict(run_b.weights(1))
        y_b = model(x)
        model.load_state_dict(aligned)
        assert (model(x) - y_b).abs().max() < 1e-5  # the same function as B
    assert all(((aligned[k] != 0) <= (mask[k] > 0)).all() for k in mask)  # zero where pruned
    # a second call reuses the finished result
    assert main(["align", str(a), str(b), "--points", "3", "--eval-samples", "200",
                 "--bn-samples", "256", "--quiet"]) == 0  # fmt: skip
    assert "reusing" in capsys.readouterr().out


def test_barrier_align_and_repair_options(runs, capsys):
    a, b = runs["mlp"]
    base = ["barrier", str(a), str(b), "--points", "3", "--eval-samples", "200", "--quiet"]
    assert main(base) == 0
    assert main([*base, "--align", "activation", "--repair", "--bn-samples", "256"]) == 0
    found = sorted((a / "level_01" / "analysis").glob("barrier_*/result.json"))
    recs = [json.loads(p.read_text()) for p in found]
    plain = next(r for r in recs if "align" not in r["settings"])
    aligned = next(r for r in recs if r["settings"].get("align") == "activation")
    assert plain["align"] == "none" and plain["repair"] is False
    assert aligned["repair_by"] == "rescale" and aligned["bn_policy"] == "repair"
    assert aligned["alignment"]["distance_after"] < aligned["alignment"]["distance_before"]
    # a BatchNorm network is repaired by recomputing its statistics, nothing else
    c0, c1 = runs["cnn"]
    code = main(["barrier", str(c0), str(c1), "--repair", "--bn-policy", "interpolate"])
    assert code == 2 and "--bn-policy recompute" in capsys.readouterr().err


def test_connectivity_across_runs_raw_and_aligned(runs, capsys):
    c0, c1 = runs["cnn"]
    code = main(["connectivity", str(c0), str(c1), "--across", "--align", "weight",
                 "--points", "3", "--eval-samples", "200", "--bn-samples", "256", "--quiet"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "error barrier (weight)" in out
    folder = next((c0 / "analysis").glob("connectivity-across_*"))
    rec = json.loads((folder / "result.json").read_text())
    assert rec["levels"] == [0, 1]
    lv1 = rec["per_level"][1]
    assert lv1["mask_iou_raw"][0][0] == 1.0 and 0 < lv1["mask_iou_raw"][0][1] < 1
    assert lv1["distance_aligned"][0][1] <= lv1["distance_raw"][0][1]
    assert rec["per_level"][0]["mask_iou_raw"][0][1] == 1.0  # level 0 is dense
    assert (folder / "across.png").exists()
    # one run without --across is the per-run connectivity; several need --across
    assert main(["connectivity", str(c0), str(c1)]) == 2
    assert "--across" in capsys.readouterr().err


def test_connectivity_and_instability_with_alignment(runs):
    from landscape import jobs

    run = runs["cnn"][0]
    eng = EngineSpec(eval_samples=200, bn_samples=256)
    res = jobs.connectivity(run, ConnectivitySpec(points=3, align="weight", engine=eng),
                            quiet=True, log=lambda _: None)  # fmt: skip
    assert res["align"] == "weight" and res["settings"]["align"] == "weight"
    assert len(res["segments"]) == 1
    plain = jobs.connectivity(run, ConnectivitySpec(points=3, engine=eng), quiet=True,
                              log=lambda _: None)  # fmt: skip
    assert plain.folder != res.folder and plain["align"] == "none"
    inst = jobs.instability(run, InstabilitySpec(level=1, points=3, align="activation",
                                                 engine=eng), quiet=True, log=lambda _: None)  # fmt: skip
    assert inst["align"] == "activation" and "alignment" in inst.record


def test_align_takes_bare_state_dicts(runs, tmp_path, capsys):
    from landscape.checkpoint import save_state
    from landscape.runs import open_run

    files = []
    for i, run in enumerate(runs["mlp"]):
        files.append(tmp_path / f"net{i}.safetensors")
        save_state(files[-1], open_run(run, "cpu").weights(0))
    code = main(["align", str(files[0]), str(files[1]), "--model", "mlp-w16", "--data",
                 "synthetic", "--method", "activation", "--points", "3", "--eval-samples", "100",
                 "--bn-samples", "128", "--quiet"])  # fmt: skip
    assert code == 0
    folder = next((tmp_path / "net0_analysis").glob("align_*"))
    rec = json.loads((folder / "result.json").read_text())
    assert rec["method"] == "activation" and rec["mask_iou_before"] is None
    assert (folder / "aligned.safetensors").exists()
    assert not (folder / "aligned_mask.safetensors").exists()  # a bare file has no mask
    assert "mask IoU" not in capsys.readouterr().out
