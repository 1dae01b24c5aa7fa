"""CUDA checks (``pytest -m gpu``): the same run on the GPU as on the CPU, and bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from landscape.data import load_data
from landscape.hparams import TrainHparams
from landscape.models import create_model
from landscape.pruning import apply_mask, ones_mask, prune
from landscape.training import evaluate, train

pytestmark = pytest.mark.gpu

HP = TrainHparams(lr=0.05, schedule="constant", milestones="", length="50")


@pytest.fixture(scope="module")
def cuda():
    if not torch.cuda.is_available():
        pytest.fail("the gpu marker was selected but no CUDA device is visible")
    return torch.device("cuda")


def test_masked_training_on_cuda_matches_cpu(cuda):
    results = {}
    for dev in ("cpu", "cuda"):
        data = load_data("synthetic", device=dev)
        model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0).to(dev)
        mask = prune({n: p.detach() for n, p in model.named_parameters()}, ones_mask(model), 0.5)
        apply_mask(model, mask)
        train(model, data, HP, 64, stop=50, mask=mask, show_progress=False)
        for n, m in mask.items():
            assert bool((dict(model.named_parameters())[n][~m] == 0).all())
        results[dev] = evaluate(model, data, "test")
    assert results["cuda"]["loss"] == pytest.approx(results["cpu"]["loss"], rel=1e-3)


def test_bf16_autocast_trains(cuda):
    data = load_data("synthetic", device="cuda")
    model = create_model("cnn1d", data.in_shape, data.num_classes, seed=0).to(cuda)
    before = evaluate(model, data, "train")["loss"]
    hp = TrainHparams(lr=0.05, schedule="constant", milestones="", length="50", precision="bf16")
    train(model, data, hp, 64, stop=50, show_progress=False)
    assert evaluate(model, data, "train")["loss"] < before
