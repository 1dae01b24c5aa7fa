"""The summary of a sweep: per setting (everything but the seed), the mean ± standard
deviation across seeds of the final level's test accuracy and density and of the dense
level's test accuracy, read from the runs' ``metrics.json`` (:func:`summarize`); written
atomically as ``<sweep dir>/summary.json`` and ``summary.md`` (:func:`write_summary`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.errors import LandscapeError
from landscape.io import atomic_write_text, level_metrics, save_json
from landscape.jobs.sweep.grid import Grid, Point
from landscape.jobs.sweep.job import Job
from landscape.tables import format_table, plus_minus

__all__ = ["SweepResult", "summarize", "write_summary"]


def _stats(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None below two values), count and the values."""
    n = len(values)
    return {"mean": statistics.fmean(values) if n else None,
            "std": statistics.stdev(values) if n > 1 else None, "n": n, "values": values}  # fmt: skip


def _accuracy(m: Mapping[str, Any]) -> float:
    """A level's test accuracy from its metrics."""
    return float(m["test_accuracy"]) if "test_accuracy" in m else 1.0 - float(m["test_error"])


def summarize(grid: Grid, jobs: Sequence[Job], say: Callable[[str], object] = print) -> list[dict]:
    """Per setting (everything but the seed), mean ± std across seeds of the final level's test
    accuracy and density and of the dense level's test accuracy, from the runs' metrics."""
    groups: dict[tuple, list[tuple[Point, Job]]] = {}
    for job in jobs:
        for p in job.points:
            groups.setdefault((p.method, p.settings), []).append((p, job))
    order = {p: i for i, p in enumerate(grid.points())}
    rows = []
    for (method, settings), members in sorted(groups.items(), key=lambda g: order[g[1][0][0]]):
        acc, dens, dense, finished, runs = [], [], [], [], {}
        for p, job in sorted(members, key=lambda pj: pj[0].seed):
            if not paths.config(job.run_dir).exists():
                continue
            runs[str(p.seed)] = str(job.run_dir)
            try:
                levels = {m["level"]: m for m in level_metrics(job.run_dir)}
            except LandscapeError as exc:
                say(f"warning: {exc}")
                continue
            if 0 in levels:
                dense.append(_accuracy(levels[0]))
            final = levels.get(p.levels())
            if final is not None:
                acc.append(_accuracy(final))
                dens.append(float(final["density"]))
                finished.append(p.seed)
        rows.append({"method": method, "settings": dict(settings), "level": members[0][0].levels(),
                     "seeds": sorted(p.seed for p, _ in members), "finished": finished,
                     "runs": runs, "accuracy": _stats(acc), "density": _stats(dens),
                     "dense_accuracy": _stats(dense)})  # fmt: skip
    return rows


def _table(grid: Grid, rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """The summary rows as a table: method, the varied settings, mean ± std columns."""
    varied = grid.varied()
    headers = ("method", *varied, "level", "seeds", "dense acc", "final acc", "density")
    cells = [(r["method"], *(r["settings"].get(k, "—") for k in varied), r["level"],
              f"{len(r['finished'])}/{len(r['seeds'])}",
              *(plus_minus(r[k]["mean"], r[k]["std"])
                for k in ("dense_accuracy", "accuracy", "density")))
             for r in rows]  # fmt: skip
    return format_table(headers, cells, markdown=markdown)


def _markdown(res: SweepResult) -> str:
    """``summary.md``: the grid, the table, what its columns mean, the failed jobs."""
    lines = [f"# Sweep {res.folder.name}", "", res.grid.describe(), "", _table(res.grid, res.rows,
             markdown=True), "",
             "Mean ± standard deviation across seeds (sample std, n − 1; none for one seed). "
             "seeds: seeds whose final level is finished / seeds asked; dense acc: test accuracy "
             "of level 0; final acc, density: test accuracy and fraction of prunable weights "
             "kept at the final level."]  # fmt: skip
    if res.failed:
        lines += ["", "## Failed jobs", ""]
        lines += [f"- `{j.name}`: {j.error or f'exit status {j.returncode}'}; log "
                  f"`{j.log.relative_to(res.folder) if j.log.is_relative_to(res.folder) else j.log}`"
                  for j in res.failed]  # fmt: skip
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: its folder, its grid, its jobs (each with its status) and the
    summary rows (one per setting: ``accuracy``, ``density``, ``dense_accuracy``, each a
    ``{"mean", "std", "n", "values"}``)."""

    folder: Path
    grid: Grid
    jobs: tuple[Job, ...]
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[Job, ...]:
        """The jobs that failed (each with ``returncode``, ``error``, ``tail`` and ``log``)."""
        return tuple(j for j in self.jobs if j.status == "failed")

    @property
    def ok(self) -> bool:
        """No job failed."""
        return not self.failed

    def table(self, markdown: bool = False) -> str:
        """The summary as a plain-text (or Markdown) table."""
        return _table(self.grid, self.rows, markdown=markdown)

    def to_dict(self) -> dict[str, Any]:
        """The record written as ``summary.json``."""
        return {"kind": "sweep", "folder": str(self.folder), "grid": self.grid.to_dict(),
                "rows": list(self.rows), "jobs": [j.to_dict() for j in self.jobs],
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}  # fmt: skip


def write_summary(res: SweepResult) -> None:
    """``summary.json`` and ``summary.md``, each written atomically."""
    save_json(res.folder / "summary.json", res.to_dict())
    atomic_write_text(res.folder / "summary.md", _markdown(res))
