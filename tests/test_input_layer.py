"""Input-layer factoring in the engine's loop mode (landscape/analysis/input_layer.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis import engine
from landscape.analysis.engine import Points, evaluate_points, evaluate_points_multi
from landscape.analysis.input_layer import FactoredInput, InputLayer, find_input_layer
from landscape.data import load_data
from landscape.models import create_model
from tests.test_engine import _reference, _states


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


class _MaskedLinear(nn.Linear):
    """A subclass may use more than weight and bias: it must not be factored."""


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (create_model("mlp", (40,), 10), InputLayer("1", ("0",))),
        (create_model("cnn1d", (40,), 10), InputLayer("1", ("0",))),
        # Nested Sequentials are followed into, the prefix collected on the way.
        (
            nn.Sequential(nn.Sequential(nn.Flatten(), nn.Conv1d(1, 2, 3)), nn.ReLU()),
            InputLayer("0.1", ("0.0",)),
        ),
        (
            nn.Sequential(nn.Flatten(), nn.Sequential(nn.Identity(), nn.Linear(4, 2))),
            InputLayer("1.1", ("0", "1.0")),
        ),
        (nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)), None),
        (nn.Sequential(_MaskedLinear(4, 2)), None),
        (create_model("resnet20", (3, 32, 32), 10), None),
    ],
)
def test_only_layers_linear_in_their_weights_are_found(model, expected):
    assert find_input_layer(model) == expected


def _mlp_states(data, n):
    model = create_model("mlp", data.in_shape, data.num_classes)
    return model, [
        create_model("mlp", data.in_shape, data.num_classes, seed=s).state_dict() for s in range(n)
    ]


def test_factored_mlp_equals_separate_evaluations_on_a_plane(data):
    model, basis = _mlp_states(data, 3)
    x, y = data.tensors("test", 300)
    # In-plane, extrapolated (negative, > 1) and single-state points.
    coeffs = np.array([[1, 0, 0], [0.2, 0.5, 0.3], [-0.4, 1.3, 0.1], [0, 0, 1], [2.0, -1.5, 0.5]])
    pts = Points.combine(basis, coeffs)
    assert FactoredInput.build(model, basis, pts.coeffs, {0: x}, 2**20) is not None
    # batch_size 128: three batches of different sizes go through the cache.
    ev = evaluate_points(model, pts, (x, y), batch_size=128, mode="loop")
    ref = _reference(model, basis, coeffs, [0] * len(coeffs), x, y, "none", [])
    np.testing.assert_allclose(ev.losses, ref[:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ev.errors, ref[:, 1], rtol=0, atol=1e-12)


def test_factoring_changes_nothing_but_rounding(data):
    """A barrier-matrix-like basis (each point uses 2 of 5 states), BN recompute through
    the cache, two data sets: factored and plain loop agree."""
    model, basis = _states("cnn1d", data, n=5)
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    coeffs = np.zeros((len(pairs) * 3, 5))
    for p, (i, j) in enumerate(pairs):
        for q, a in enumerate((0.25, 0.5, 0.75)):
            coeffs[3 * p + q, [i, j]] = 1 - a, a
    pts = Points.combine(basis, coeffs)
    sets = {"test": data.tensors("test", 200), "train": data.tensors("train", 150)}
    bn = list(data.train_batches(0, 2, 64, seed=0, augment=False))
    runs = [
        evaluate_points_multi(
            model, pts, sets, bn_data=bn, batch_size=64, mode="loop", factor_input=f
        )
        for f in (True, False)
    ]
    for name in sets:
        np.testing.assert_allclose(runs[0][name].losses, runs[1][name].losses, atol=1e-5)
        np.testing.assert_array_equal(runs[0][name].errors, runs[1][name].errors)


def test_over_budget_falls_back_to_the_plain_forward(data, monkeypatch):
    model, basis = _mlp_states(data, 2)
    x, y = data.tensors("test", 100)
    pts = Points.line(basis[0], basis[1], np.linspace(0, 1, 4))
    assert FactoredInput.build(model, basis, pts.coeffs, {0: x}, budget_bytes=1) is None
    expected = evaluate_points(model, pts, (x, y), mode="loop")
    monkeypatch.setattr(engine, "_FACTOR_BYTES_CPU", 1)
    built = []
    original = FactoredInput.build.__func__

    def spy(cls, *args, **kwargs):
        built.append(original(cls, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(FactoredInput, "build", classmethod(spy))
    got = evaluate_points(model, pts, (x, y), mode="loop")
    assert built == [None]
    np.testing.assert_allclose(got.losses, expected.losses, atol=1e-5)


def test_stand_in_refuses_an_unpicked_batch(data):
    model, basis = _mlp_states(data, 2)
    x, _ = data.tensors("test", 16)
    coeffs = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    cache = FactoredInput.build(model, basis, coeffs, {"a": x}, 2**20)
    mixed = {k: 0.5 * basis[0][k] + 0.5 * basis[1][k] for k in basis[0]}
    replica = create_model("mlp", data.in_shape, data.num_classes)
    replica.load_state_dict(mixed)
    pick = cache.install(replica)
    with pytest.raises(RuntimeError, match="picked"):
        replica(x)
    pick.key, pick.row = "a", cache.rows(coeffs)[0]
    with torch.no_grad():
        plain = torch.func.functional_call(model, mixed, (x,))
        torch.testing.assert_close(replica(x), plain, atol=1e-5, rtol=0)
