"""The command line as a whole: no abbreviations, one-line errors with the near match, the
one engine group ``--threads/--device`` on every verb that computes (and its value reaching
torch), and the tables' named quantities and number formats (issue 19, items 1, 2, 7)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import torch

from landscape.cli import build_parser, main, verbs
from landscape.settings import ENGINE_TITLE
from landscape.tables import plus_minus, sig
from tests._runs import run_method

# A run of two levels in seconds: 20 steps a level (MNIST-1D MLP).
TINY = dict(method="imp-wr", levels=1, length="20", milestones="10", eval_every="20",
            rewind_step="5")  # fmt: skip
TINY_FLAGS = ["--levels", "1", "--length", "20", "--milestones", "10", "--eval-every", "20"]


def _verb_parsers(argv: list[str] | None = None) -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(argv or [])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err  # one line, no usage block
    return err.strip()


# ------------------------------------------------------------------------ flags and errors


def test_no_parser_takes_an_abbreviation():
    parsers = _verb_parsers()
    plot_sub = next(a for a in parsers["plot"]._actions
                    if isinstance(a, argparse._SubParsersAction))  # fmt: skip
    every = [build_parser([]), *parsers.values(), *plot_sub.choices.values()]
    assert all(p.allow_abbrev is False for p in every)


@pytest.mark.parametrize(
    "argv, line",
    [
        (["prune", "--levle", "3"], "landscape prune: error: unknown flag --levle (did you mean --levels?)"),
        # an abbreviation of --levels is refused, not taken
        (["prune", "--level", "2"], "landscape prune: error: unknown flag --level (did you mean --levels?)"),
        (["prune", "--method", "imp-wr", "--level=2"],
         "landscape prune: error: unknown flag --level (did you mean --levels?)"),
        (["connectivity", "RUN", "--level", "2"],
         "landscape connectivity: error: unknown flag --level (did you mean --levels?)"),
        # the typo is reported, not the required --level it hid
        (["instability", "RUN", "--levle", "2"],
         "landscape instability: error: unknown flag --levle (did you mean --level?)"),
        (["plot", "result", "--outt", "x"],
         "landscape plot result: error: unknown flag --outt (did you mean --out?)"),
        (["--verison"], "landscape: error: unknown flag --verison (did you mean --version?)"),
        (["hessian", "RUN", "--zzz"],
         "landscape hessian: error: unknown flag --zzz; `landscape hessian --help` lists the flags"),
    ],
)  # fmt: skip
def test_an_unknown_flag_is_one_line_naming_verb_flag_and_near_match(argv, line, capsys):
    assert _error(argv, capsys) == line


def test_an_invalid_choice_names_the_flag_and_the_near_match(capsys):
    err = _error(["prune", "--preset", "mlp-mnist"], capsys)
    assert err.startswith("landscape prune: error: --preset 'mlp-mnist' is not a choice "
                          "(did you mean mlp-mnist1d?); choose from ")  # fmt: skip
    err = _error(["slice", "X", "--bn-policy", "recompte"], capsys)
    assert "--bn-policy 'recompte' is not a choice (did you mean recompute?)" in err
    assert _error(["prun"], capsys).startswith(
        "landscape: error: unknown verb 'prun' (did you mean prune?)"
    )
    assert _error(["plot", "reslt"], capsys).startswith(
        "landscape plot: error: unknown kind 'reslt' (did you mean result?)"
    )


def test_other_argparse_errors_are_one_line_too(capsys):
    assert _error(["hessian"], capsys) == (
        "landscape hessian: error: the following arguments are required: TARGET"
    )
    assert _error(["hessian", "X", "--top-k", "x"], capsys) == (
        "landscape hessian: error: --top-k: invalid int value: 'x'"
    )
    assert _error(["barrier", "a", "b", "c"], capsys).startswith(
        "landscape barrier: error: unexpected argument 'c'"
    )
    # a flag of another pruning method keeps its own message
    assert "belongs to --method swamp" in _error(
        ["prune", "--method", "imp-wr", "--particles", "3"], capsys
    )


# ------------------------------------------------------------------------ the engine group


def _engine(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        s: a for a in parser._actions for s in a.option_strings if s in ("--threads", "--device")
    }


def test_every_verb_that_computes_has_the_one_engine_group():
    parsers = _verb_parsers()
    parsers["prune --method swamp"] = _verb_parsers(["prune", "--method", "swamp"])["prune"]
    computing = {m.VERB for m in verbs() if getattr(m, "COMPUTES", True)}
    assert {"train", "prune", "sweep", "demo", "connectivity", "barrier", "instability", "slice",
            "robustness", "hessian", "bound", "curvature", "reequilibration"} <= computing  # fmt: skip
    helps = set()
    for name, parser in parsers.items():
        engine = _engine(parser)
        if name.split()[0] not in computing:
            continue
        assert set(engine) == {"--threads", "--device"}, name
        titles = {g.title for g in parser._action_groups for a in g._group_actions
                  if a in engine.values()}  # fmt: skip
        assert titles == {ENGINE_TITLE}, (name, titles)  # one group, both flags in it
        helps.add(tuple(engine[f].help for f in ("--threads", "--device")))
        assert [engine[f].dest for f in ("--threads", "--device")] == ["threads", "device"]
    assert len(helps) == 1  # the same help text everywhere


def _field_names(cls: type) -> set[str]:
    """The field names of a spec, its nested specs' included."""
    names = set()
    for f in dataclasses.fields(cls):
        nested = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        names |= _field_names(nested) if dataclasses.is_dataclass(nested) else {f.name}
    return names


def test_every_spec_holds_device_and_threads_together():
    """A spec with ``device`` shows the whole engine group, so its ``--threads`` must land
    in a field of the spec, or the flag would be taken and ignored."""
    import landscape.specs

    for name in landscape.specs.__all__:
        cls = getattr(landscape.specs, name)
        if dataclasses.is_dataclass(cls):
            names = _field_names(cls)
            assert ("device" in names) == ("threads" in names), name


class _Reached(Exception):
    """Raised where a job sets torch's threads, with what torch then has."""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    _, run_dir = run_method(tmp_path_factory.mktemp("runs") / "imp-wr", **TINY)
    return run_dir


@pytest.fixture
def reached(monkeypatch):
    """Every thread setting stops the job and reports torch's count and the device."""
    import importlib

    import landscape.devices

    jobs_prune = importlib.import_module("landscape.jobs.prune")  # the module, not the function
    original = landscape.devices.configure_threads

    def stop(device, num_params, threads=0):
        original(device, num_params, threads)
        raise _Reached(torch.get_num_threads(), str(device))

    monkeypatch.setattr(landscape.devices, "configure_threads", stop)
    monkeypatch.setattr(jobs_prune, "configure_threads", stop)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", *TINY_FLAGS[2:], "--root", "{tmp}"],
        ["prune", "--method", "imp-lrr", *TINY_FLAGS, "--root", "{tmp}"],
        ["demo", "--quick", "--out", "{tmp}/demo"],
        ["connectivity", "{run}"],
        ["barrier", "{run}", "{run}", "--level-a", "0", "--level-b", "1"],
        ["instability", "{run}", "--level", "1"],
        ["slice", "{run}", "--level", "0"],
        ["robustness", "{run}", "--level", "0"],
        ["hessian", "{run}"],
        ["bound", "{run}"],
        ["curvature", "{run}", "--level", "0"],
        ["reequilibration", "{run}"],
    ],
    ids=lambda argv: argv[0],
)
def test_threads_reach_torch_in_every_computing_verb(argv, tiny_run, tmp_path, reached):
    argv = [a.format(run=tiny_run, tmp=tmp_path) for a in argv] + [
        "--threads",
        "2",
        "--device",
        "cpu",
    ]
    with pytest.raises(_Reached) as got:
        main(argv)
    assert got.value.args == (2, "cpu")


def test_a_sweep_hands_its_engine_flags_to_every_job(tmp_path, capsys):
    argv = ["sweep", "--method", "imp-wr", "--seeds", "0,1", "--set", "levels=1", "--root",
            str(tmp_path), "--threads", "2", "--device", "cpu", "--dry-run"]  # fmt: skip
    assert main(argv) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if "landscape prune" in line]
    assert len(commands) == 2
    assert all("--threads=2" in c and "--device=cpu" in c for c in commands)


# ------------------------------------------------------------------------ tables and output


def test_one_number_format_per_quantity():
    assert [sig(v) for v in (3.8102, 3.386, 12.0, 0.001234)] == [
        "3.810",
        "3.386",
        "12.00",
        "0.001234",
    ]
    # the estimate rounded where its error's second digit falls
    assert plus_minus(91.121, 3.7) == "91.1 ± 3.7"
    assert plus_minus(70.473, 3.0) == "70.5 ± 3.0"
    assert plus_minus(0.51234, 0.0123) == "0.512 ± 0.012"
    assert plus_minus(2.5, None) == "2.500" and plus_minus(None, None) == "—"


def test_the_dimension_columns_name_their_quantity():
    from landscape.jobs.bound import LEVEL_HEADERS
    from landscape.jobs.hessian import summary_headers

    assert "dim: all params" in summary_headers(3, masked=False)
    assert "dim: kept params" in summary_headers(3, masked=True)
    assert "kept prunable weights" in LEVEL_HEADERS and "kept" not in LEVEL_HEADERS


def test_a_default_is_printed_once(capsys):
    with pytest.raises(SystemExit):
        main(["prune", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("~/.cache/landscape") == 1
    assert "(default ~/.cache/landscape)" in out


def test_imp_prints_level_zero_once_when_it_trains_the_dense_network(tmp_path, capsys):
    common = [*TINY_FLAGS, "--root", str(tmp_path)]
    assert main(["prune", "--method", "imp-wr", "--rewind-step", "5", *common]) == 0
    said = capsys.readouterr().err  # the runners' per-level lines go to stderr
    assert "training the dense network first" in said
    assert sum(line.startswith("level  0") for line in said.splitlines()) == 1
    # the next IMP run shares that dense network and says so on its level-0 line
    assert main(["prune", "--method", "imp-ft", *common]) == 0
    assert "(the dense network of" in capsys.readouterr().err


def test_progress_off_a_terminal_is_plain_lines(monkeypatch, capsys):
    import landscape.progress

    monkeypatch.setattr(landscape.progress, "EVERY", 0.0)  # a line at every update
    with landscape.progress.progress(total=4, desc="HVPs (level 2, slq)", unit="hvp") as bar:
        bar.update(2)
        bar.set_description("HVPs (level 3, slq)")
        bar.update(2)
    with landscape.progress.progress(total=4, desc="quiet", disable=True) as bar:
        bar.update(4)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" after ")[0] for line in lines] == [
        "HVPs (level 2, slq): 2/4",
        "HVPs (level 3, slq): 4/4",
    ]
