"""The masked training loop: pruned weights and momentum stay 0, NaN stops with a clear error."""

from __future__ import annotations

import pytest
import torch

from landscape.data import load_data
from landscape.errors import DivergenceError
from landscape.hparams import TrainHparams
from landscape.models import create_model
from landscape.pruning import apply_mask, ones_mask, prune
from landscape.training import evaluate, recompute_bn, train

HP = TrainHparams(
    lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="constant", milestones="", length="60"
)


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


def test_pruned_weights_gradients_and_momentum_stay_zero(data, monkeypatch):
    model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0)
    w = {n: p.detach() for n, p in model.named_parameters()}
    mask = prune(w, ones_mask(model), 0.5)
    apply_mask(model, mask)
    made = []
    real_sgd = torch.optim.SGD

    class RecordingSGD(real_sgd):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(torch.optim, "SGD", RecordingSGD)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, data, HP, 32, stop=60, mask=mask, show_progress=False)
    params = dict(model.named_parameters())
    opt = made[0]
    for n, m in mask.items():
        assert bool((params[n][~m] == 0).all()), n
        assert bool((params[n].grad[~m] == 0).all()), n
        assert bool((opt.state[params[n]]["momentum_buffer"][~m] == 0).all()), n
        assert not torch.equal(params[n][m], before[n][m])  # the kept weights did train


def test_training_lowers_the_loss(data):
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    before = evaluate(model, data, "train")["loss"]
    train(model, data, HP, 32, stop=60, show_progress=False)
    assert evaluate(model, data, "train")["loss"] < before


def test_same_seeds_give_identical_weights(data):
    def fresh():
        return create_model("mlp", data.in_shape, data.num_classes, seed=0)

    a, b = fresh(), fresh()
    train(a, data, HP, 32, stop=40, show_progress=False)
    train(b, data, HP, 32, stop=40, show_progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_nan_loss_raises_divergence_error(data):
    model = create_model("mlp", data.in_shape, data.num_classes, seed=0)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(DivergenceError, match="diverged"):
        train(model, data, HP, 32, stop=10, show_progress=False, context="unit test")


def test_batches_are_a_function_of_the_step(data):
    whole = list(data.train_batches(0, 70, 32, seed=5))
    tail = list(data.train_batches(40, 70, 32, seed=5))
    for (x1, y1), (x2, y2) in zip(whole[40:], tail):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    other = next(iter(data.train_batches(0, 1, 32, seed=6)))
    assert not torch.equal(other[1], whole[0][1])


def test_recompute_bn_is_the_exact_mean_over_batches(data):
    model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0)
    batches = list(data.eval_batches("train", 256))
    recompute_bn(model, batches)
    bn = model[2]
    first = model[1]
    with torch.no_grad():
        means = [first(model[0](x)).mean(dim=(0, 2)) for x, _ in batches]
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0), rtol=1e-5, atol=1e-6)
