"""The listing side of the package imports without torch (importing torch takes seconds).

``landscape.models`` / ``landscape.data`` list their entries lazily, ``landscape.io``
reads result records, and no plot module reaches torch or the run-reading code. Each
check runs in a fresh interpreter, since this one has torch loaded already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.errors import CheckpointError, LandscapeError

ROOT = Path(__file__).resolve().parents[1]

LIGHT = [
    "landscape",
    "landscape.errors",
    "landscape.registry",
    "landscape.paths",
    "landscape.hparams",
    "landscape.io",
    "landscape.models",
    "landscape.data",
]
_PLOT_STEMS = sorted(p.stem for p in (ROOT / "landscape" / "plotting").glob("*.py"))
PLOTTING = [f"landscape.plotting.{s}".removesuffix(".__init__") for s in _PLOT_STEMS]
# What a plot must not reach: torch, and the code that reads run directories or builds models.
NOT_FOR_PLOTS = (
    "torch",
    "landscape.checkpoint",
    "landscape.data",
    "landscape.models",
    "landscape.runners",
    "landscape.runs",
    "landscape.training",
)

BUILTIN_MODELS = {
    "mlp", "cnn1d", "resnet18", "resnet20", "resnet32", "resnet56", "resnet110",
    "vgg11", "vgg16", "vgg19",
}  # fmt: skip


def _python(code: str) -> object:
    """Run ``code`` in a fresh interpreter and return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _first_offender(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import ``modules`` in order; the first that loads a forbidden package, and which ones."""
    code = f"""
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
    loaded = [f for f in {forbidden!r} if any(m == f or m.startswith(f + ".") for m in sys.modules)]
    if loaded:
        print(json.dumps({{name: loaded}}))
        break
else:
    print("{{}}")
"""
    return _python(code)


def test_library_modules_import_without_torch():
    offender = _first_offender(LIGHT, ("torch",))
    assert not offender, f"this module imports torch: {offender}"


def test_plot_modules_import_neither_torch_nor_run_reading_code():
    assert "landscape.plotting.levels" in PLOTTING
    offender = _first_offender(PLOTTING, NOT_FOR_PLOTS)
    assert not offender, f"this plot module imports what plots must not: {offender}"


def test_registries_list_their_entries_without_torch():
    code = """
import json, sys
from landscape.data import DATASETS
from landscape.models import MODELS, model_names
print(json.dumps({
    "models": {n: MODELS.help(n) for n in MODELS.names()},
    "model_names": model_names(),
    "data": DATASETS.names(),
    "torch": "torch" in sys.modules,
}))
"""
    res = _python(code)
    assert not res["torch"]
    assert set(res["models"]) == BUILTIN_MODELS
    assert all(res["models"].values()), res["models"]  # every entry has its one-line help
    assert {"wrn-D-K", "tv:NAME"} <= set(res["model_names"])
    assert {"mnist1d", "cifar10", "synthetic"} <= set(res["data"])


def test_lazy_entries_resolve_to_their_factories():
    from landscape.models import MODELS, cifar, mnist1d

    assert MODELS.get("mlp") is mnist1d.mlp
    assert MODELS.get("resnet56") is cifar.resnet56
    assert all(callable(MODELS.get(n)) for n in MODELS.names())


def test_lazy_reexports_are_the_originals():
    import landscape.checkpoint as checkpoint
    import landscape.io as io
    from landscape.data import DataSet, ResidentData, base, cache_dir

    assert (DataSet, ResidentData, cache_dir) == (base.DataSet, base.ResidentData, base.cache_dir)
    for name in ("atomic_write_bytes", "atomic_write_text", "load_json", "save_json"):
        assert getattr(checkpoint, name) is getattr(io, name)
    with pytest.raises(ImportError):
        from landscape.data import NoSuchName  # noqa: F401


def test_level_metrics_reads_finished_levels(tmp_path):
    from landscape import io, paths

    run_dir = tmp_path / "imp_x"
    io.save_json(paths.config(run_dir), {"method": "imp-wr"})
    for level, finished in ((0, True), (1, True), (2, False)):
        m = {"level": level, "density": 0.8**level, "curve": [1], "layers": {}}
        io.save_json(paths.metrics(run_dir, level), m)
        if finished:
            paths.weights(run_dir, level).write_bytes(b"")
    rows = io.level_metrics(run_dir)
    assert [r["level"] for r in rows] == [0, 1]
    assert all("curve" not in r and "layers" not in r for r in rows)
    assert rows[1] == {"level": 1, "density": 0.8}

    paths.metrics(run_dir, 1).write_text('{"level": 1,')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        io.level_metrics(run_dir)
    with pytest.raises(LandscapeError, match="not a run directory"):
        io.level_metrics(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        io.load_json(tmp_path / "missing.json")


def test_metric_plot_reads_a_run_directory(tmp_path):
    from landscape import io, paths
    from landscape.plotting.levels import plot_metric_vs_sparsity

    run_dir = tmp_path / "run"
    io.save_json(paths.config(run_dir), {})
    for level in (0, 1):
        io.save_json(paths.metrics(run_dir, level), {"density": 0.5**level, "test_error": 0.1})
        paths.weights(run_dir, level).write_bytes(b"")
    _, ax = plot_metric_vs_sparsity({"imp": run_dir}, metric="test_accuracy")
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.9, 0.9])


# What jobs may import from ``landscape.jobs``: the support modules every job shares. A job
# importing a sibling job would make one job's change another's (docs/architecture.md).
_JOB_SUPPORT = {"store", "targets", "evaluation", "common", "aligning", "schedules"}
# Composites that run other jobs by design: the demo (a study of several jobs), and the
# bound, whose empirical half lives in its own module.
_COMPOSITES = {"demo": None, "bound": {"bound_empirical"}, "__init__": None}


def _imported_modules(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_job_imports_a_sibling_job():
    jobs_dir = ROOT / "landscape" / "jobs"
    offenders = {}
    for path in sorted(jobs_dir.glob("*.py")):
        stem = path.stem
        allowed = _COMPOSITES.get(stem, set())
        if allowed is None:
            continue
        bad = sorted(
            m for m in _imported_modules(path)
            if m.startswith("landscape.jobs.")
            and m.split(".")[2] not in _JOB_SUPPORT | allowed | {stem}
        )  # fmt: skip
        if bad:
            offenders[stem] = bad
    assert offenders == {}


def test_nothing_imports_the_command_line():
    pkg = ROOT / "landscape"
    offenders = sorted(
        str(p.relative_to(ROOT)) for p in pkg.rglob("*.py")
        if pkg / "cli" not in p.parents and p != pkg / "__main__.py"  # the entry point
        and any(m == "landscape.cli" or m.startswith("landscape.cli.") for m in _imported_modules(p))
    )  # fmt: skip
    assert offenders == []
