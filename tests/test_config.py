"""Hyperparameters: hashing, presets, flag generation, validation."""

from __future__ import annotations

import argparse

import pytest

from landscape.hparams import PRESETS, RunConfig, add_config_args, config_from_args, parse_duration


def _parse(*argv: str) -> RunConfig:
    p = argparse.ArgumentParser()
    add_config_args(p)
    return config_from_args(p.parse_args(list(argv)))


def test_default_hash_is_stable_and_settings_change_it():
    a, b = RunConfig(), RunConfig()
    assert a.hash() == b.hash()
    assert a.non_default() == {}
    c = a.replace(lr=0.05)
    assert c.hash() != a.hash()
    assert c.non_default() == {"lr": 0.05}


def test_unhashed_fields_do_not_change_the_run_name():
    a = RunConfig()
    assert a.replace(device="cpu", data_root="/x", particle_mode="sequential").hash() == a.hash()


def test_preset_then_flags_precedence():
    cfg = _parse("--preset", "resnet20-cifar10", "--lr", "0.2")
    assert cfg.train.lr == 0.2  # the flag wins
    assert cfg.train.milestones == PRESETS["resnet20-cifar10"]["milestones"]
    assert cfg.data.data == "cifar10"
    assert cfg.prune.rewind_step == "2000"


def test_flags_are_generated_for_every_field():
    cfg = _parse(
        "--model",
        "cnn1d",
        "--no-augment",
        "--levels",
        "3",
        "--from",
        "x/y",
        "--prune-strategy",
        "random",
    )
    assert (cfg.model.model, cfg.data.augment, cfg.prune.levels) == ("cnn1d", False, 3)
    assert (cfg.prune.from_run, cfg.prune.prune_strategy) == ("x/y", "random")


def test_round_trip_through_dict():
    cfg = RunConfig().replace(lr=0.3, levels=4, data="synthetic")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_in_config_is_rejected():
    with pytest.raises(ValueError, match="unknown train settings"):
        RunConfig.from_dict({"train": {"learning_rate": 1.0}})


@pytest.mark.parametrize(
    ("text", "steps"), [("200", 200), ("200it", 200), ("3ep", 120), ("0.5ep", 20), (7, 7)]
)
def test_parse_duration(text, steps):
    assert parse_duration(text, 40) == steps


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prune_fraction", 1.5, "prune-fraction"),
        ("lr", -1.0, "--lr"),
        ("length", "ten epochs", "--length"),
        ("particles", 0, "--particles"),
    ],
)
def test_bad_settings_say_which_flag(field, value, message):
    with pytest.raises(ValueError, match=message):
        RunConfig().replace(**{field: value})


def test_step_schedule_needs_milestones():
    with pytest.raises(ValueError, match="--milestones"):
        RunConfig().replace(schedule="step", milestones="")
