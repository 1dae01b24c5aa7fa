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


# ---------------------------------------------------------------- MNIST-1D test-set size


def test_mnist1d_raw_draws_are_the_packages_own_samples():
    """The larger test sets reuse the package's sampler before its per-set normalisation;
    normalised by their own statistics, the draws are the package's set bit for bit."""
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    from landscape.data.mnist1d import _raw

    args = get_dataset_args()
    args.num_samples = 200
    reference = make_dataset(args)
    x, y = _raw(200, args.seed)
    x = (x - x.mean()) / x.std()
    assert np.array_equal(x[:160], reference["x"]) and np.array_equal(x[160:], reference["x_test"])
    assert np.array_equal(y[:160], reference["y"]) and np.array_equal(y[160:], reference["y_test"])


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """One fresh cache folder for this module's generation tests (the default set is
    generated once, ~4 s, then read from the cache)."""
    return tmp_path_factory.mktemp("mnist1d_cache")


def test_mnist1d_test_samples_replace_the_test_set_and_keep_the_training_set(mnist1d_cache):
    import numpy as np

    tmp_path = mnist1d_cache
    default = load_data("mnist1d", str(tmp_path))
    larger = load_data("mnist1d", str(tmp_path), test_samples=200)
    assert torch.equal(default.train_x, larger.train_x)
    assert torch.equal(default.train_y, larger.train_y)
    assert larger.num_test == 200 and default.num_test == 1000
    assert np.bincount(larger.test_y.numpy()).tolist() == [20] * 10
    # another seed than the default set's: no test sample is a training or default test sample
    pool = torch.cat([default.train_x, default.test_x])
    assert torch.cdist(larger.test_x, pool).min() > 1e-3
    # normalised with the default set's statistics, not its own
    assert abs(float(larger.test_x.mean())) < 0.1 and 0.9 < float(larger.test_x.std()) < 1.1
    again = load_data("mnist1d", str(tmp_path), test_samples=200)  # from the cache
    assert torch.equal(again.test_x, larger.test_x)
    assert (tmp_path / "mnist1d_test200_seed1042.npz").exists()


@pytest.mark.parametrize("bad", [-10, 15])
def test_mnist1d_test_samples_refuses_counts_the_generator_cannot_balance(tmp_path, bad):
    with pytest.raises(ValueError, match="--test-samples"):
        load_data("mnist1d", str(tmp_path), test_samples=bad)


def test_test_samples_is_refused_for_data_that_is_not_generated(tmp_path):
    from landscape.hparams import RunConfig

    with pytest.raises(ValueError, match="--test-samples applies to generated data"):
        load_data("synthetic", str(tmp_path), test_samples=100)
    with pytest.raises(ValueError, match="--test-samples applies to generated data"):
        RunConfig().replace(data="cifar10", test_samples=1000).validate()


def test_paul_preset_has_10000_test_samples_and_the_old_form_keeps_its_run_names():
    from landscape.hparams import PRESETS, RunConfig

    assert PRESETS["paul-mnist1d"]["test_samples"] == 10000
    settings = {**PRESETS["paul-mnist1d-test1k"], "levels": 2}
    old = RunConfig().replace(**settings, method="imp-wr", seed=1, data_seed=1)
    # the name of a run made before --test-samples existed (seed 1, two levels)
    assert old.hash() == "b25a500ee6"
    new = old.replace(test_samples=10000)
    assert new.hash() != old.hash() and new.non_default()["test_samples"] == 10000


def test_generated_data_records_its_digest_and_generator_versions(mnist1d_cache):
    """The same command gives other numbers where the generator's output differs: each
    level's metrics.json records the arrays' digest and the generator's versions."""
    tmp_path = mnist1d_cache
    default = load_data("mnist1d", str(tmp_path))
    larger = load_data("mnist1d", str(tmp_path), test_samples=200)
    assert default.provenance["generator"]["mnist1d"] != "absent"
    assert len(default.provenance["digest"]) == 16
    assert larger.provenance["digest"] != default.provenance["digest"]
    assert load_data("mnist1d", str(tmp_path)).provenance == default.provenance


def test_a_test_set_cache_of_the_wrong_size_is_regenerated_and_rewritten(mnist1d_cache):
    import numpy as np

    cache = mnist1d_cache / "mnist1d_test200_seed1042.npz"
    good = load_data("mnist1d", str(mnist1d_cache), test_samples=200)
    np.savez(cache, x_test=good.test_x.numpy()[:100], y_test=good.test_y.numpy()[:100])
    again = load_data("mnist1d", str(mnist1d_cache), test_samples=200)
    assert torch.equal(again.test_x, good.test_x)
    with np.load(cache) as z:
        assert len(z["y_test"]) == 200  # the regenerated set replaced the wrong cache
