"""Data sets and models: shapes, registries with helpful errors, user factories."""

from __future__ import annotations

import textwrap

import pytest
import torch

from landscape.data import load_data
from landscape.data.cifar import crop_flip
from landscape.errors import RegistryError
from landscape.models import create_model


def test_mnist1d_is_generated_locally_with_the_standard_split():
    d = load_data("mnist1d")
    assert (d.train_x.shape, d.test_x.shape, d.num_classes) == ((4000, 40), (1000, 40), 10)
    assert d.steps_per_epoch(100) == 40
    again = load_data("mnist1d")  # from the cache this time
    assert torch.equal(d.train_x, again.train_x)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (40,)), ("cnn1d", (40,)), ("resnet20", (3, 32, 32)), ("resnet18", (3, 32, 32)),
     ("vgg11", (3, 32, 32)), ("wrn-10-1", (3, 32, 32))],
)  # fmt: skip
def test_models_build_and_run(name, shape):
    model = create_model(name, shape, 7, seed=0)
    assert model(torch.randn(2, *shape)).shape == (2, 7)


def test_same_seed_same_init_and_global_rng_untouched():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = create_model("mlp", (40,), 10, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = create_model("mlp", (40,), 10, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(RegistryError, match=r"Did you mean 'resnet\d+'.*Valid models.*resnet20"):
        create_model("resnet21", (3, 32, 32), 10)
    with pytest.raises(RegistryError, match="Valid data sets.*mnist1d"):
        load_data("mnist2d")


def test_user_model_factory(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(
        textwrap.dedent("""
        from torch import nn
        def tiny(num_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(40, num_classes))
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = create_model("my_nets:tiny", (40,), 3)
    assert model(torch.randn(5, 40)).shape == (5, 3)
    with pytest.raises(RegistryError, match="cannot import"):
        create_model("my_nets:nothere", (40,), 3)


def test_crop_flip_keeps_shape_and_content():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    y = crop_flip(x, g)
    assert y.shape == x.shape
    # with no padding the crop is the identity and only the flip remains
    z = crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    for i in range(2):
        assert torch.equal(z[i], x[i]) or torch.equal(z[i], x[i].flip(-1))
