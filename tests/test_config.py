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


@pytest.mark.parametrize(
    ("settings", "digest"),
    [
        ({}, "44136fa355"),
        ({"lr": 0.05}, "4c10784a78"),
        ({"method": "imp", "levels": 3, "retrain_schedule": "allr"}, "3d072ed202"),
        ({"method": "bimp", "levels": 2, "budget_epochs": 30}, "7889c91333"),
        ({"method": "swamp", "particles": 2, "swa_lr": 0.01}, "68ffcdfa2e"),
        ({"method": "dense", "levels": 0, "data": "synthetic"}, "bdbf849dc8"),
    ],
)
def test_hashes_of_existing_settings_are_unchanged(settings, digest):
    assert RunConfig().replace(**settings).hash() == digest


@pytest.mark.parametrize("method", ["imp-wr", "imp-lrr", "imp-ft", "swamp"])
def test_levels_do_not_name_an_extendable_run(method):
    names = {RunConfig().replace(method=method, levels=n).run_name() for n in (0, 3, 5, 10)}
    assert len(names) == 1
    assert RunConfig().replace(method=method, levels=3).non_default()["levels"] == 3


@pytest.mark.parametrize("method", ["imp", "bimp"])
def test_levels_name_a_phase_based_run(method):
    assert (
        RunConfig().replace(method=method, levels=2).hash()
        != RunConfig().replace(method=method, levels=3).hash()
    )


def test_every_method_named_by_a_setting_exists():
    from dataclasses import fields

    from landscape.hparams import PruneHparams
    from landscape.runners import METHODS

    for f in fields(PruneHparams):
        assert set(f.metadata["methods"] or ()) <= set(METHODS.names()), f.name


def _options(method: str | None) -> set[str]:
    p = argparse.ArgumentParser()
    add_config_args(p, method=method)
    return {s for a in p._actions for s in a.option_strings}


SWAMP_FLAGS = {"--particles", "--swa-start", "--swa-lr", "--swamp-plus", "--particle-mode"}
PHASE_FLAGS = {"--retrain-schedule", "--retrain-epochs", "--goal-sparsity"}


def test_a_method_gets_only_its_own_flags():
    wr, lrr, swamp, imp, bimp = (_options(m) for m in ("imp-wr", "imp-lrr", "swamp", "imp", "bimp"))
    assert not (SWAMP_FLAGS | PHASE_FLAGS | {"--budget-epochs", "--from"}) & wr
    assert {"--rewind-step", "--prune-fraction", "--levels", "--lr", "--preset"} <= wr
    assert "--rewind-step" not in lrr and "--prune-fraction" in lrr
    assert SWAMP_FLAGS | {"--rewind-step"} <= swamp and not PHASE_FLAGS & swamp
    assert PHASE_FLAGS | {"--from"} <= imp and not (SWAMP_FLAGS | {"--rewind-step"}) & imp
    assert {"--budget-epochs", "--retrain-epochs"} <= bimp and "--retrain-schedule" not in bimp
    assert wr | swamp | imp | bimp <= _options(None)


def test_without_a_method_every_flag_is_listed_in_sections_by_method():
    p = argparse.ArgumentParser()
    add_config_args(p)
    titles = {g.title: {s for a in g._group_actions for s in a.option_strings}
              for g in p._action_groups}  # fmt: skip
    assert "--levels" in titles["prune settings"]
    assert titles["prune settings of --method swamp"] >= SWAMP_FLAGS
    assert titles["prune settings of --method imp-wr or swamp"] == {"--rewind-step"}
    assert titles["prune settings of --method bimp"] == {"--budget-epochs"}


def test_check_method_flags_names_the_flag_and_its_method():
    from landscape.hparams import check_method_flags

    p = argparse.ArgumentParser()
    add_config_args(p)
    check_method_flags(p.parse_args(["--particles", "3"]), "swamp")
    with pytest.raises(ValueError, match=r"--particles \(a setting of --method swamp\)"):
        check_method_flags(p.parse_args(["--particles", "3"]), "imp-wr")


def test_prune_help_for_a_method_shows_only_its_flags(capsys):
    from landscape.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["prune", "--method", "imp-wr", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--rewind-step" in out and "prune settings of --method imp-wr" in out
    for flag in SWAMP_FLAGS | PHASE_FLAGS | {"--budget-epochs", "--from"}:
        assert flag not in out, flag
    with pytest.raises(SystemExit):
        main(["prune", "--method=swamp", "--help"])
    out = capsys.readouterr().out
    assert "--particles" in out and "--retrain-schedule" not in out
    with pytest.raises(SystemExit):
        main(["prune", "--help"])
    out = capsys.readouterr().out
    assert all(flag in out for flag in SWAMP_FLAGS | PHASE_FLAGS)


def test_a_flag_of_another_method_is_refused_by_name(tmp_path, capsys):
    from landscape.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["prune", "--method", "imp-wr", "--particles", "3", "--out", str(tmp_path / "a")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--particles is not a setting of --method imp-wr" in err and "swamp" in err
    # Without --method the flags parse; the default method (imp-wr) then refuses it.
    assert main(["prune", "--swa-lr", "0.1", "--out", str(tmp_path / "b")]) == 2
    assert "--swa-lr (a setting of --method swamp)" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_settings_of_other_methods_never_name_a_run():
    """A SWAMP setting (or its default changing) leaves an IMP run's name alone."""
    plain = RunConfig().replace(method="imp-wr")
    old = RunConfig.from_dict({"prune": {"method": "imp-wr", "swa_lr": 0.05, "particles": 8}})
    assert old.hash() == plain.hash()
    swamp = RunConfig().replace(method="swamp")
    assert swamp.replace(swa_lr=0.05).hash() != swamp.hash()
