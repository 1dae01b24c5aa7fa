"""The batched evaluation engine against a brute-force per-point reference (docs/science.md)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.analysis.engine import (
    Points,
    as_batches,
    batchnorm_buffers,
    evaluate_points,
    evaluate_points_multi,
    resolve_mode,
)
from landscape.data import load_data
from landscape.models import create_model
from landscape.training import recompute_bn


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


def _states(name: str, data, n: int = 3) -> tuple[torch.nn.Module, list[dict]]:
    """``n`` different states of one architecture, BatchNorm buffers randomised too."""
    model = create_model(name, data.in_shape, data.num_classes)
    g = torch.Generator().manual_seed(1)
    states = []
    for i in range(n):
        sd = create_model(name, data.in_shape, data.num_classes, seed=i).state_dict()
        for k, v in sd.items():
            if k.endswith("running_mean"):
                v.copy_(torch.randn(v.shape, generator=g))
            elif k.endswith("running_var"):
                v.copy_(torch.rand(v.shape, generator=g) + 0.5)
        states.append(sd)
    return model, states


def _reference(model, basis, coeffs, ref_idx, x, y, policy, bn_batches):
    """One point at a time: combine in float64, load_state_dict, recompute_bn, forward."""
    out = []
    bn_keys = batchnorm_buffers(model)
    for c, r in zip(coeffs, ref_idx):
        sd = {}
        for k, like in basis[0].items():
            if not like.is_floating_point() or (k in bn_keys and policy == "none"):
                sd[k] = basis[r][k].clone()
            else:
                v = sum(float(cj) * b[k].double() for cj, b in zip(c, basis)).to(like.dtype)
                sd[k] = v.clamp_min(0) if k.endswith("running_var") else v
        m = copy.deepcopy(model)
        m.load_state_dict(sd)
        if policy == "recompute":
            recompute_bn(m, bn_batches)
        m.eval()
        with torch.no_grad():
            logits = m(x)
        out.append(
            (F.cross_entropy(logits, y).item(), (logits.argmax(1) != y).double().mean().item())
        )
    return np.array(out)


@pytest.mark.parametrize("mode", ["vmap", "loop"])
@pytest.mark.parametrize("policy", ["recompute", "interpolate", "none"])
def test_k_at_once_equals_k_separate_evaluations(data, mode, policy):
    model, basis = _states("cnn1d", data)
    x, y = data.tensors("test", 256)
    bn = list(data.train_batches(0, 3, 64, seed=0, augment=False))
    # Path points, one extrapolated point, and a plane point with three non-zero weights.
    coeffs = np.array([[1, 0, 0], [0.75, 0.25, 0], [0, 0, 1], [-0.3, 1.3, 0], [0.2, 0.5, 0.3]])
    ref_idx = [0, 0, 2, 1, 0]
    pts = Points.combine(basis, coeffs, ref_idx)
    ev = evaluate_points(
        model, pts, (x, y), bn_policy=policy, bn_data=bn, mode=mode, chunk_size=len(pts)
    )
    ref = _reference(model, basis, coeffs, ref_idx, x, y, policy, bn)
    np.testing.assert_allclose(ev.losses, ref[:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ev.errors, ref[:, 1], rtol=0, atol=1e-12)
    assert ev.samples == 256


def test_chunking_and_modes_do_not_change_results(data):
    model, basis = _states("cnn1d", data)
    x, y = data.tensors("test", 128)
    bn = list(data.train_batches(0, 2, 64, seed=0, augment=False))
    pts = Points.line(basis[0], basis[1], np.linspace(0, 1, 7))
    runs = [
        evaluate_points(model, pts, (x, y), bn_data=bn, mode=mode, chunk_size=chunk)
        for mode, chunk in (("vmap", 7), ("vmap", 3), ("loop", 1), ("loop", 4))
    ]
    for r in runs[1:]:
        np.testing.assert_allclose(r.losses, runs[0].losses, atol=1e-6)
        np.testing.assert_array_equal(r.errors, runs[0].errors)


def test_line_reproduces_its_ends_bit_for_bit(data):
    _, (a, b, _) = _states("cnn1d", data)
    stacked = Points.line(a, b, [0.0, 0.5, 1.0]).materialize(0, 3, bn_policy="interpolate")
    for k in a:
        assert torch.equal(stacked[k][0], a[k]), k
        assert torch.equal(stacked[k][2], b[k]) or not a[k].is_floating_point(), k


def test_interpolated_variances_stay_non_negative(data):
    model, (a, b, _) = _states("cnn1d", data)
    roles = batchnorm_buffers(model)
    stacked = Points.line(a, b, [-3.0, 4.0]).materialize(
        0, 2, bn_policy="interpolate", bn_buffers=roles
    )
    for k, role in roles.items():
        if role == "var":
            assert bool((stacked[k] >= 0).all()), k


def test_recompute_resets_then_re_estimates_statistics(data):
    """Under ``recompute`` the stored buffers are irrelevant: any buffers give the same numbers."""
    model, (a, b, _) = _states("cnn1d", data)
    x, y = data.tensors("test", 128)
    bn = list(data.train_batches(0, 2, 64, seed=0, augment=False))
    a2 = {k: (v * 3 + 1 if "running" in k else v) for k, v in a.items()}
    r1 = evaluate_points(model, Points.states([a]), (x, y), bn_data=bn)
    r2 = evaluate_points(model, Points.states([a2]), (x, y), bn_data=bn)
    np.testing.assert_array_equal(r1.losses, r2.losses)


def test_recompute_needs_bn_data_only_with_batchnorm(data):
    x, y = data.tensors("test", 64)
    model, (a, _, _) = _states("cnn1d", data)
    with pytest.raises(ValueError, match="bn_data"):
        evaluate_points(model, Points.states([a]), (x, y), bn_policy="recompute")
    mlp, (m, _, _) = _states("mlp", data)
    ev = evaluate_points(mlp, Points.states([m]), (x, y), bn_policy="recompute")
    assert np.isfinite(ev.losses).all()


def test_data_forms_agree(data):
    model, (a, b, _) = _states("mlp", data)
    x, y = data.tensors("test", 300)
    pts = Points.line(a, b, [0.0, 0.5, 1.0])
    pair = evaluate_points(model, pts, (x, y), batch_size=128)
    listed = evaluate_points(model, pts, [(x[:100], y[:100]), (x[100:], y[100:])])
    gen = evaluate_points(model, pts, ((x[i : i + 50], y[i : i + 50]) for i in range(0, 300, 50)))
    for other in (listed, gen):
        np.testing.assert_allclose(other.losses, pair.losses, atol=1e-6)
        np.testing.assert_array_equal(other.errors, pair.errors)


def test_multi_returns_each_data_set(data):
    model, (a, b, _) = _states("mlp", data)
    sets = {"test": data.tensors("test", 100), "train": data.tensors("train", 200)}
    out = evaluate_points_multi(model, Points.line(a, b, [0, 1]), sets)
    assert set(out) == {"test", "train"}
    assert out["test"].samples == 100 and out["train"].samples == 200
    alone = evaluate_points(model, Points.line(a, b, [0, 1]), sets["train"])
    np.testing.assert_allclose(out["train"].losses, alone.losses, atol=1e-7)


def test_model_modes_and_momenta_are_restored(data):
    model, (a, _, _) = _states("cnn1d", data)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    bns[0].momentum = 0.3
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = data.tensors("test", 64)
    evaluate_points(model, Points.states([a]), (x, y), bn_data=[(x, y)])
    assert model.training and all(m.training for m in model.modules())
    assert bns[0].momentum == 0.3 and bns[1].momentum == 0.1
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"the skeleton's {k} changed"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bn_policy": "average"}, "bn_policy"),
        ({"mode": "fast"}, "mode"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_say_what_to_do(data, kwargs, match):
    model, (a, _, _) = _states("mlp", data)
    with pytest.raises(ValueError, match=match):
        evaluate_points(model, Points.states([a]), data.tensors("test", 10), **kwargs)


def test_bad_data_says_what_to_do():
    x = torch.zeros(5, 40)
    with pytest.raises(ValueError, match="differ in length"):
        as_batches((x, torch.zeros(4, dtype=torch.long)), 10)
    with pytest.raises(ValueError, match="no batches"):
        as_batches([], 10)
    with pytest.raises(ValueError, match="tensor pair"):
        as_batches([x, x, x], 10)
    with pytest.raises(ValueError, match="0 samples"):
        as_batches((x[:0], torch.zeros(0, dtype=torch.long)), 10)


def test_points_validate_their_shape(data):
    _, (a, b, _) = _states("mlp", data)
    with pytest.raises(ValueError, match="one column per basis state"):
        Points.combine([a, b], np.ones((3, 3)))


def test_auto_mode_choice(data):
    mlp = create_model("mlp", data.in_shape, 10)
    cnn = create_model("cnn1d", data.in_shape, 10)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_mode("auto", mlp, cpu) == "loop"
    assert resolve_mode("auto", cnn, cpu) == "loop"
    assert resolve_mode("auto", cnn, cuda) == "vmap"
    assert resolve_mode("vmap", mlp, cpu) == "vmap"
