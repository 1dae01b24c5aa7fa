"""Pruning semantics (docs/science.md): exact counts, one global threshold, masks only shrink."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import CheckpointError
from landscape.functional import prunable_names
from landscape.models import create_model
from landscape.pruning import apply_mask, check_mask, density, ones_mask, prune


@pytest.fixture
def net():
    return create_model("cnn1d", (40,), 10, seed=0)


def kept(mask):
    return sum(int(m.sum()) for m in mask.values())


def test_scope_selects_conv_and_linear_weights_only(net):
    names = prunable_names(net, "conv+linear")
    assert all(n.endswith(".weight") for n in names)
    assert len(names) == 4  # three convs + the classifier; BatchNorm is never prunable
    assert len(prunable_names(net, "conv")) == 3


@pytest.mark.parametrize("strategy", ["global", "layerwise", "random"])
def test_each_level_removes_exactly_the_fraction_of_kept_weights(net, strategy):
    w = {n: p.detach() for n, p in net.named_parameters()}
    mask = ones_mask(net)
    for _ in range(6):
        before = kept(mask)
        new = prune(w, mask, 0.2, strategy, seed=1)
        if strategy == "layerwise":
            expected = sum(int(m.sum()) - round(0.2 * int(m.sum())) for m in mask.values())
        else:
            expected = before - round(0.2 * before)
        assert kept(new) == expected
        for n in mask:  # masks only shrink
            assert not bool((new[n] & ~mask[n]).any())
        mask = new


def test_global_magnitude_uses_one_threshold(net):
    w = {n: p.detach() for n, p in net.named_parameters()}
    mask = prune(w, ones_mask(net), 0.5)
    kept_mags = torch.cat([w[n][mask[n]].abs() for n in mask])
    gone_mags = torch.cat([w[n][~mask[n]].abs() for n in mask])
    assert kept_mags.min() >= gone_mags.max()


def test_ties_are_broken_deterministically_by_position():
    w = {"a": torch.ones(10), "b": torch.ones(10)}
    m = {"a": torch.ones(10, dtype=torch.bool), "b": torch.ones(10, dtype=torch.bool)}
    out = prune(w, m, 0.25)
    assert kept(out) == 15
    assert out["a"][:5].sum() == 0 and out["a"][5:].all() and out["b"].all()
    assert all(torch.equal(out[k], prune(w, m, 0.25)[k]) for k in out)


def test_random_pruning_is_seeded(net):
    w = {n: p.detach() for n, p in net.named_parameters()}
    a = prune(w, ones_mask(net), 0.3, "random", seed=3)
    b = prune(w, ones_mask(net), 0.3, "random", seed=3)
    c = prune(w, ones_mask(net), 0.3, "random", seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_apply_mask_and_density(net):
    w = {n: p.detach() for n, p in net.named_parameters()}
    mask = prune(w, ones_mask(net), 0.2)
    apply_mask(net, mask)
    for n, p in net.named_parameters():
        if n in mask:
            assert bool((p[~mask[n]] == 0).all())
    assert density(mask) == pytest.approx(0.8, abs=1e-4)


def test_mask_of_another_shape_is_rejected(net):
    mask = ones_mask(net)
    first = next(iter(mask))
    mask[first] = torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(CheckpointError, match="does not fit the model"):
        check_mask(mask, net, "m.safetensors")


def test_prune_ignore_leaves_a_module_dense_at_every_level(tmp_path, capsys):
    """--prune-ignore (open_lth leaves a CIFAR ResNet's classifier unpruned)."""
    from landscape import paths
    from landscape.checkpoint import load_state
    from landscape.cli import main

    flags = ["prune", "--method", "imp-lrr", "--data", "synthetic", "--model", "mlp", "--levels",
             "2", "--length", "1ep", "--batch-size", "128", "--eval-every", "1ep", "--quiet"]  # fmt: skip
    assert main([*flags, "--prune-ignore", "9", "--out", str(tmp_path / "bad")]) == 2
    assert "no prunable tensor" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*flags, "--prune-ignore", "5", "--out", str(tmp_path / "run")]) == 0
    for level in (0, 1, 2):
        mask = load_state(paths.mask(tmp_path / "run", level))
        assert set(mask) == {"1.weight", "3.weight"}
    w = load_state(paths.weights(tmp_path / "run", 2))
    assert bool((w["5.weight"] != 0).all()) and bool((w["1.weight"] == 0).any())
