"""Barriers, paths and the barrier matrix ([PAUL Def. 2.1, Fig. 2]; docs/science.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.analysis.engine import Points, evaluate_points
from landscape.connectivity import (
    barrier,
    barrier_from_curve,
    connectivity,
    path_alphas,
)
from landscape.data import load_data
from landscape.errors import CheckpointError
from landscape.hparams import TrainHparams
from landscape.models import create_model
from landscape.models.mnist1d import mlp as mlp_of_width
from landscape.training import train


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


@pytest.fixture(scope="module")
def trained_mlp(data):
    """An MLP trained for 80 steps on the synthetic task (test error well below chance)."""
    model = create_model("mlp", data.in_shape, data.num_classes)
    train(model, data, TrainHparams(lr=0.1, momentum=0.9), 64, stop=80, show_progress=False)
    return model, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _permuted(state: dict, seed: int = 0) -> dict:
    """The same function with both hidden layers' units permuted (weights only reordered)."""
    g = torch.Generator().manual_seed(seed)
    p1, p2 = torch.randperm(100, generator=g), torch.randperm(100, generator=g)
    out = dict(state)
    out["1.weight"], out["1.bias"] = state["1.weight"][p1], state["1.bias"][p1]
    out["3.weight"], out["3.bias"] = state["3.weight"][p2][:, p1], state["3.bias"][p2]
    out["5.weight"] = state["5.weight"][:, p2]
    return out


def test_barrier_definition_on_hand_computed_curves():
    # Def. 2.1: max over γ of the curve minus the straight line between its ends.
    a = np.array([0.0, 0.5, 1.0])
    assert barrier_from_curve(a, np.array([1.0, 3.0, 2.0])) == (1.5, 1.5)
    b, b_mean = barrier_from_curve(a, np.array([2.0, 1.0, 0.0]))
    assert b == 0.0 and b_mean == 1.0  # on the line: no barrier; the mean-ends variant differs
    with pytest.raises(ValueError, match="both ends"):
        barrier_from_curve(np.array([0.0, 0.5]), np.array([1.0, 2.0]))


def test_barrier_of_a_network_with_itself_is_zero(data, trained_mlp):
    model, state = trained_mlp
    res = barrier(model, state, state, data.tensors("test"), points=5)
    assert res.error_barrier == 0.0
    assert abs(res.loss_barrier) < 1e-6
    assert np.ptp(res.losses) < 1e-6


def test_barrier_with_batchnorm_recompute_of_itself_is_zero(data):
    model = create_model("cnn1d", data.in_shape, 10)
    state = model.state_dict()
    bn = list(data.train_batches(0, 2, 64, seed=0, augment=False))
    res = barrier(model, state, state, data.tensors("test", 200), points=3, bn_data=bn)
    assert res.error_barrier == 0.0 and abs(res.loss_barrier) < 1e-6
    assert res.has_batchnorm and res.bn_policy == "recompute"


def test_permuted_copy_has_equal_ends_and_a_positive_barrier(data, trained_mlp):
    model, state = trained_mlp
    res = barrier(model, state, _permuted(state), data.tensors("test"), points=11)
    # Permuting hidden units does not change the function: the ends agree ...
    assert abs(res.losses[0] - res.losses[-1]) < 1e-5
    assert res.errors[0] == res.errors[-1]
    assert res.errors[0] < 0.6  # trained (chance is 0.9)
    # ... but the straight path between the two copies leaves the basin.
    assert res.loss_barrier > 0.05
    assert res.error_barrier > 0.0
    # The curve's maximum sits inside the path, and the barrier is measured from it.
    i = int(np.argmax(res.losses))
    assert 0 < i < 10
    assert res.loss_barrier == pytest.approx(res.losses[i] - res.losses[0], abs=1e-5)


def test_barrier_matches_a_brute_force_loop(data, trained_mlp):
    model, state = trained_mlp
    other = _permuted(state, seed=3)
    x, y = data.tensors("test")
    res = barrier(model, state, other, (x, y), points=6)
    losses = []
    for g in np.linspace(0, 1, 6):
        sd = {k: (1 - g) * state[k] + g * other[k] for k in state}
        model.load_state_dict(sd)
        with torch.no_grad():
            losses.append(torch.nn.functional.cross_entropy(model(x), y).item())
    np.testing.assert_allclose(res.losses, losses, atol=1e-5)
    expected = max(v - ((1 - g) * losses[0] + g * losses[-1]) for g, v in zip(res.alphas, losses))
    assert res.loss_barrier == pytest.approx(expected, abs=1e-5)


def test_matrix_equals_pairwise_barriers(data, trained_mlp):
    model, state = trained_mlp
    states = [state, _permuted(state, 1), _permuted(state, 2)]
    x, y = data.tensors("test", 256)
    res = connectivity(model, states, (x, y), points=5, labels=[0, 1, 2])
    assert res.error_matrix.shape == (3, 3)
    np.testing.assert_array_equal(res.error_matrix, res.error_matrix.T)
    assert np.all(np.diag(res.error_matrix) == 0) and np.all(np.diag(res.loss_matrix) == 0)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        pair = barrier(model, states[i], states[j], (x, y), points=5)
        assert res.loss_matrix[i, j] == pytest.approx(pair.loss_barrier, abs=1e-6)
        assert res.error_matrix[i, j] == pytest.approx(pair.error_barrier, abs=1e-12)
    for i, seg in enumerate(res.segments):
        assert seg.loss_barrier == pytest.approx(res.loss_matrix[i, i + 1], abs=1e-12)


def test_piecewise_path_concatenates_segments(data, trained_mlp):
    model, state = trained_mlp
    states = [state, _permuted(state, 1), state]
    res = connectivity(model, states, data.tensors("test", 128), points=4, matrix=False)
    pos, losses, errors = res.path()
    assert len(pos) == 2 * 3 + 1
    np.testing.assert_allclose(pos, [0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert losses[0] == pytest.approx(losses[-1], abs=1e-7)  # same state at both ends
    np.testing.assert_allclose(losses[[0, 3, 6]], res.endpoint_losses, atol=1e-12)
    assert res.error_matrix is None
    assert len(res.to_dict()["path"]["position"]) == 7


def test_different_architectures_fail_with_a_clear_message(data):
    mlp = create_model("mlp", data.in_shape, 10)
    cnn = create_model("cnn1d", data.in_shape, 10)
    with pytest.raises(CheckpointError, match=r"state_b does not fit the model .*architecture"):
        barrier(mlp, mlp.state_dict(), cnn.state_dict(), data.tensors("test", 10))
    wide = mlp_of_width(data.in_shape, 10, width=64)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        barrier(mlp, mlp.state_dict(), wide.state_dict(), data.tensors("test", 10))


def test_bad_arguments_say_what_to_do(data, trained_mlp):
    model, state = trained_mlp
    with pytest.raises(ValueError, match="at least 2"):
        path_alphas(1)
    with pytest.raises(ValueError, match="bn_policy"):
        barrier(model, state, state, data.tensors("test", 10), bn_policy="mean")
    with pytest.raises(ValueError, match="at least two states"):
        connectivity(model, [state], data.tensors("test", 10))


def test_none_policy_ends_keep_their_own_statistics(data):
    """Under ``none`` the path's ends are the networks as they are (docs/science.md: E(w_a), E(w_b))."""
    model = create_model("cnn1d", data.in_shape, data.num_classes)
    states = []
    for seed in (0, 1):
        sd = create_model("cnn1d", data.in_shape, data.num_classes, seed=seed).state_dict()
        g = torch.Generator().manual_seed(seed)
        for k, v in sd.items():
            if k.endswith("running_mean"):
                v.copy_(torch.randn(v.shape, generator=g))
        states.append(sd)
    xy = data.tensors("test", 128)
    res = barrier(model, states[0], states[1], xy, points=3, bn_policy="none")
    own = evaluate_points(model, Points.states(states), xy, bn_policy="none")
    np.testing.assert_allclose(res.losses[[0, -1]], own.losses, rtol=0, atol=1e-6)
    # connectivity() stores the same curve for the pair as barrier() does.
    path = connectivity(model, states, xy, points=3, bn_policy="none", matrix=False)
    np.testing.assert_allclose(path.segments[0].losses, res.losses, rtol=0, atol=1e-6)
