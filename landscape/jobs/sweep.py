"""``sweep(grid)``: a grid of runs (methods × settings × seeds), each run an independent job.

A :class:`Grid` names pruning methods, seeds (each sets both ``seed`` and
``data_seed``), an optional preset, and settings with one or more values each; every
combination is one run, made exactly as ``landscape prune`` makes it, into the same
``<root>/<method>_<hash>`` directory (so a sweep and a hand-made run share directories)::

    from landscape.jobs.sweep import Grid, sweep

    grid = Grid(method=("imp-wr", "imp-lrr"), seeds=(0, 1, 2), preset="mlp-mnist1d",
                settings={"lr": (0.05, 0.1), "levels": 5})
    res = sweep(grid, workers=2)          # or sweep("grid.toml", workers=2)
    print(res.table())                    # per setting: mean ± std across seeds
    res.failed                            # the jobs that failed, each with its log's tail

The same grid as a TOML file (``landscape sweep grid.toml``)::

    preset = "mlp-mnist1d"
    method = ["imp-wr", "imp-lrr"]
    seeds = [0, 1, 2]
    [set]
    lr = [0.05, 0.1]
    levels = 5

A setting that applies to some of the methods only (``particles``: SWAMP's) is used
for those methods and left out of the others' runs, as ``landscape prune`` would
refuse it. A value of the wrong type or an unknown setting is an error before
anything runs; a value the settings refuse (``lr = -1``) makes its job fail, and
the others go on.

**Jobs.** Each job is a subprocess ``python -m landscape prune ... --quiet`` (a crash
in one cannot take the others down), its output appended to
``<sweep dir>/logs/<run name>.log``. A run whose ``config.json`` is there and whose
levels ``0..levels`` are all finished is skipped without starting a process; the
others resume by themselves (the runners skip finished levels), so a killed sweep
is resumed by running it again. With ``nproc_per_job = N > 1`` each job is one
torchrun of N processes on one node::

    python -m torch.distributed.run --standalone --nproc-per-node N -m landscape prune ... --quiet

which is what SWAMP's ``--particle-mode distributed`` needs (with
``slurm_gpus_per_job = N`` on a cluster); nothing else in a job is multi-process.

**Executors.** ``local`` runs ``workers`` jobs at once on this machine, each with
``threads`` CPU threads (default: cores // (workers · nproc_per_job), at least 1);
``gpus = "0,1"`` hands each running job one of those GPUs. ``slurm`` submits the
jobs as one SLURM job array through ``submitit`` (an optional dependency: ``pip
install submitit``), at most ``workers`` running at once, and waits for them; the
Python environment and the root must be on a file system the nodes share.

**Summary.** Per setting (everything but the seed): the mean ± standard deviation
across seeds of the final level's test accuracy and density and of the dense
level's test accuracy, read from the runs' ``metrics.json``; written (atomically)
as ``<sweep dir>/summary.json`` and ``summary.md``. The sweep directory is
``<root>/sweep_<digest of the grid>`` unless ``out`` names one.

Only the standard library and torch-free modules are used here; torch runs in the jobs.
"""

from __future__ import annotations

import itertools
import os
import queue
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import landscape
from landscape import paths
from landscape.errors import LandscapeError
from landscape.hparams import PRESETS, SECTIONS, RunConfig, applies_to
from landscape.io import atomic_write_text, level_metrics, load_json, save_json
from landscape.locks import LOCK_NAME, LockedError, hold
from landscape.runners import METHODS
from landscape.settings import digest
from landscape.specs import SweepSpec
from landscape.tables import format_table, plus_minus

__all__ = ["Grid", "Job", "Point", "SweepResult", "load_grid", "run_job", "summarize", "sweep"]

_FIELDS = {f.name: f for klass in SECTIONS.values() for f in fields(klass)}
#: Settings a grid sets through its own keys, not through ``set``.
_RESERVED = {"method": "method (--method)", "seed": "seeds (--seeds)",
             "data_seed": "seeds (--seeds, which set both seed and data_seed)",
             "threads": "the sweep's threads (--threads)"}  # fmt: skip
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_GRID_KEYS = ("preset", "method", "seeds", "set")
_TAIL_LINES = 20
_POLL_SECONDS = 10.0  # how often the SLURM executor looks at its jobs


# ------------------------------------------------------------------------------------------
# The grid


def _kind(key: str) -> str:
    """The type of setting ``key``, as written in its dataclass (``"float"``, ...)."""
    return str(_FIELDS[key].type)


def _value(key: str, value: Any) -> Any:
    """``value`` (text from a flag, or a TOML value) as setting ``key``'s type."""
    kind = _kind(key)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = value.strip() if isinstance(value, str) else None
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
        elif kind == "int":
            if number and float(value).is_integer():
                return int(value)
            if text is not None:
                return int(text)
        elif kind == "float":
            if number:
                return float(value)
            if text is not None:
                return float(text)
        elif kind == "str":
            if text is not None:
                return text
            if number:
                return str(value)
        else:  # a type this module does not know: `landscape prune` checks the value
            return value
    except ValueError:
        pass
    word = {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(kind, "text")
    raise ValueError(f"setting {key}: {value!r} is not {word}")


def _split_values(text: str) -> list[str]:
    """``"a,b"`` → ``[a, b]``; with a ``;`` anywhere the values are split on ``;`` instead,
    for values that hold commas themselves (``"20ep,30ep;10ep,15ep"``, or ``"20ep,30ep;"``)."""
    parts = text.split(";") if ";" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def _parse_seeds(seeds: Any) -> tuple[int, ...]:
    """Seeds from an int, ``"0,1,2"``, ``"0-4"`` or a list, in order, without repeats."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return (seeds,)
    items: list[Any] = []
    if isinstance(seeds, str):
        for part in _split_values(seeds):
            lo, dash, hi = part.partition("-")
            if dash and lo.strip().isdigit() and hi.strip().isdigit():
                items += range(int(lo), int(hi) + 1)
            else:
                items.append(part)
    elif isinstance(seeds, Sequence):
        items = list(seeds)
    out = []
    for s in items:
        v = None
        if isinstance(s, int) and not isinstance(s, bool):
            v = s
        elif isinstance(s, str) and s.strip().lstrip("-").isdigit():
            v = int(s)
        if v is None:
            raise ValueError(f"seeds: {s!r} is not a whole number; write e.g. 0,1,2 or 0-4")
        out.append(v)
    if not out:
        raise ValueError("seeds: give at least one seed, e.g. --seeds 0,1,2")
    return tuple(dict.fromkeys(out))


def _parse_methods(method: Any) -> tuple[str, ...]:
    """Method names from ``"a,b"`` or a list; each a known `landscape prune` method."""
    names = _split_values(method) if isinstance(method, str) else list(method or ())
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError("method: name at least one pruning method, e.g. --method imp-wr,imp-lrr")
    names = [m.strip() for m in names]
    for m in names:
        if m == "dense":
            raise ValueError("method dense: a sweep runs `landscape prune` methods; the IMP "
                             "methods train (and share) their dense network themselves")  # fmt: skip
        if m not in METHODS:
            valid = ", ".join(n for n in METHODS.names() if n != "dense")
            raise ValueError(f"unknown method {m!r}; valid: {valid}")
    return tuple(dict.fromkeys(names))


def _applies(key: str, method: str) -> bool:
    """Whether setting ``key`` is one of ``method``'s."""
    return applies_to(_FIELDS[key], method)


def _parse_settings(settings: Any, methods: Sequence[str]) -> tuple[tuple[str, tuple], ...]:
    """``((key, values), ...)`` from a mapping or pairs, each value of its setting's type."""
    pairs = settings.items() if isinstance(settings, Mapping) else list(settings or ())
    out: dict[str, tuple] = {}
    for key, values in pairs:
        key = str(key).strip().replace("-", "_")
        if key in _RESERVED:
            raise ValueError(f"setting {key} is set by the grid's {_RESERVED[key]}, not by set")
        if key not in _FIELDS:
            raise ValueError(f"no setting named {key!r}; the settings are those of "
                             "`landscape prune --help`, e.g. lr, levels, batch_size")  # fmt: skip
        if key in out:
            raise ValueError(f"setting {key} is given twice; list its values once: {key}=V1,V2")
        if not any(_applies(key, m) for m in methods):
            raise ValueError(f"setting {key} is one of --method "
                             f"{', '.join(_FIELDS[key].metadata['methods'])} only, and the grid "
                             f"has {', '.join(methods)}")  # fmt: skip
        listed = list(values) if isinstance(values, (list, tuple)) else [values]
        if not listed:
            raise ValueError(f"setting {key}: give at least one value")
        out[key] = tuple(dict.fromkeys(_value(key, v) for v in listed))
    return tuple(out.items())


@dataclass(frozen=True)
class Point:
    """One run of a grid: a method, a seed, and its value of each setting that applies to it."""

    method: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = ()
    preset: str | None = None

    def values(self) -> dict[str, Any]:
        """The run's flat settings: the preset's, then the grid's, then method and seeds."""
        return {**PRESETS.get(self.preset or "", {}), **dict(self.settings),
                "method": self.method, "seed": self.seed, "data_seed": self.seed}  # fmt: skip

    def config(self) -> RunConfig:
        """The run's settings (``ValueError`` when they refuse a value, e.g. ``lr = -1``)."""
        return RunConfig().replace(**self.values())

    def levels(self) -> int:
        """The run's last level."""
        return int(self.values().get("levels", _FIELDS["levels"].default))

    def flags(self) -> list[str]:
        """The ``landscape prune`` flags of this run (a preset stays a ``--preset``)."""
        out = ["--method", self.method]
        if self.preset:
            out += ["--preset", self.preset]
        for key, value in self.settings:
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag if value else "--no-" + flag[2:])
            else:
                out.append(f"{flag}={value}")
        return [*out, f"--seed={self.seed}", f"--data-seed={self.seed}"]


@dataclass(frozen=True)
class Grid:
    """Methods × settings × seeds. Fields are normalised: ``method`` may be ``"a,b"``,
    ``seeds`` an int, ``"0,1"`` or ``"0-4"``, ``settings`` a mapping of a name to a value
    or a list of values (one grid axis each), in any of the forms a flag or TOML gives.

    Raises:
        ValueError: an unknown method, preset or setting, or a value of the wrong type.
    """

    method: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    preset: str | None = None
    settings: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __post_init__(self) -> None:
        methods = _parse_methods(self.method)
        object.__setattr__(self, "method", methods)
        object.__setattr__(self, "seeds", _parse_seeds(self.seeds))
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; valid: {', '.join(sorted(PRESETS))}")
        object.__setattr__(self, "settings", _parse_settings(self.settings, methods))

    @classmethod
    def from_flags(
        cls,
        method: str | Sequence[str] | None,
        seeds: str | Sequence[int] | None = None,
        preset: str | None = None,
        sets: Sequence[str] = (),
    ) -> Grid:
        """The grid of ``--method LIST --seeds LIST --preset P --set KEY=V1,V2 ...``."""
        settings: list[tuple[str, list[str]]] = []
        for item in sets:
            key, eq, text = item.partition("=")
            if not eq or not key.strip() or not _split_values(text):
                raise ValueError(f"--set {item!r}: write KEY=V1,V2 (e.g. --set lr=0.05,0.1)")
            settings.append((key, _split_values(text)))
        return cls(method=method or (), seeds=seeds if seeds is not None else (0,),
                   preset=preset, settings=tuple(settings))  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """The grid of a mapping with the keys of a grid file: preset, method, seeds, set."""
        unknown = sorted(set(d) - set(_GRID_KEYS))
        if unknown:
            raise ValueError(f"unknown grid keys {unknown}; a grid has {', '.join(_GRID_KEYS)}")
        if "method" not in d:
            raise ValueError('the grid names no method: method = ["imp-wr", ...]')
        sets = d.get("set", {})
        if not isinstance(sets, Mapping):
            raise ValueError("set must be a table of settings: [set] then lr = [0.05, 0.1]")
        return cls(method=d["method"], seeds=d.get("seeds", (0,)), preset=d.get("preset"),
                   settings=tuple(sets.items()))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The normalised grid, in the form of a grid file."""
        return {"preset": self.preset, "method": list(self.method), "seeds": list(self.seeds),
                "set": {k: list(v) for k, v in self.settings}}  # fmt: skip

    def digest(self) -> str:
        """Ten hex digits naming the grid (the sweep directory ``sweep_<digest>``)."""
        return digest(self.to_dict())

    def varied(self) -> list[str]:
        """The settings with more than one value (the columns of the summary)."""
        return [k for k, v in self.settings if len(v) > 1]

    def points(self) -> list[Point]:
        """Every run: for each method, each combination of its settings, each seed."""
        out = []
        for method in self.method:
            axes = [(k, v) for k, v in self.settings if _applies(k, method)]
            for combo in itertools.product(*(v for _, v in axes)):
                chosen = tuple(zip((k for k, _ in axes), combo))
                out += [Point(method, seed, chosen, self.preset) for seed in self.seeds]
        return out

    def describe(self) -> str:
        """One line: the methods, seeds, preset and settings."""
        sets = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in self.settings)
        preset = f"preset {self.preset}; " if self.preset else ""
        return (f"methods {', '.join(self.method)}; seeds {', '.join(map(str, self.seeds))}; "
                f"{preset}{sets or 'no settings set'}")  # fmt: skip


def load_grid(path: str | Path) -> Grid:
    """The grid of a TOML file (keys ``preset``, ``method``, ``seeds``, table ``[set]``).

    Raises:
        LandscapeError: no TOML reader (Python 3.10 without ``tomli``), or no such file.
        ValueError: the file is not TOML, or not a grid.
    """
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise LandscapeError(
                "reading a grid file needs Python 3.11 (tomllib) or the tomli package (pip "
                "install tomli); or give the grid as flags: --method LIST --seeds LIST "
                "--set KEY=V1,V2"
            ) from None
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"{path}: no such grid file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    try:
        return Grid.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def as_grid(grid: Grid | Mapping[str, Any] | str | Path) -> Grid:
    """A :class:`Grid`, from a grid, a grid file's mapping, or a TOML file's path."""
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, Mapping):
        return Grid.from_dict(grid)
    return load_grid(grid)


# ------------------------------------------------------------------------------------------
# Jobs


@dataclass
class Job:
    """One run directory's job: the grid points it serves, its command, and how it went.

    ``status``: ``pending`` (to run), ``finished`` (was finished before; skipped), ``done``
    (ran and finished) or ``failed`` (``returncode``, ``tail``: the end of its log, or
    ``error``: what went wrong around it).
    """

    name: str
    points: tuple[Point, ...]
    run_dir: Path | None
    run_hash: str | None
    levels: int
    command: tuple[str, ...]
    log: Path
    status: str = "pending"
    returncode: int | None = None
    seconds: float = 0.0
    tail: str = ""
    error: str = ""

    def finished(self) -> bool:
        """Whether the run directory holds this run with levels ``0..levels`` all finished."""
        if self.run_dir is None or not paths.config(self.run_dir).exists():
            return False
        try:
            meta = load_json(paths.config(self.run_dir))
        except LandscapeError:
            return False
        if not isinstance(meta, dict) or meta.get("hash") != self.run_hash:
            return False
        return set(range(self.levels + 1)) <= set(paths.levels(self.run_dir))

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON (``summary.json``'s ``jobs``)."""
        return {"name": self.name, "run_dir": str(self.run_dir) if self.run_dir else None,
                "status": self.status, "returncode": self.returncode,
                "seconds": round(self.seconds, 3), "log": str(self.log),
                "command": shlex.join(self.command), "error": self.error,
                "tail": self.tail if self.status == "failed" else ""}  # fmt: skip


def _cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _threads(spec: SweepSpec) -> int:
    """CPU threads per job process (0: let the job choose)."""
    if spec.threads:
        return spec.threads
    if spec.executor == "slurm":
        return 0
    return max(1, _cores() // (spec.workers * spec.nproc_per_job))


def _command(point: Point, spec: SweepSpec, root: Path, threads: int) -> tuple[str, ...]:
    head = [sys.executable, "-m"]
    if spec.nproc_per_job > 1:
        head += ["torch.distributed.run", "--standalone",
                 f"--nproc-per-node={spec.nproc_per_job}", "-m"]  # fmt: skip
    tail = [f"--threads={threads}"] if threads else []
    return (*head, "landscape", "prune", *point.flags(), f"--root={root}", *tail, "--quiet")


def plan(grid: Grid, spec: SweepSpec, root: Path, folder: Path) -> list[Job]:
    """The jobs of ``grid``: one per run directory (the points of an IMP-WR/LRR/FT or SWAMP
    run that differ only in ``levels`` share a directory, and one job trains the most)."""
    threads = _threads(spec)
    members: dict[str, list[tuple[Point, RunConfig | None]]] = {}
    for p in grid.points():
        try:
            cfg: RunConfig | None = p.config()
            name = cfg.run_name()
        except ValueError:  # the job itself says why (landscape prune exits 2)
            cfg, name = None, f"invalid_{p.method}_{digest(p.values())}"
        members.setdefault(name, []).append((p, cfg))
    jobs = []
    for name, group in members.items():
        lead, cfg = max(group, key=lambda pc: pc[0].levels())
        jobs.append(Job(
            name=name, points=tuple(p for p, _ in group),
            run_dir=root / name if cfg is not None else None,
            run_hash=cfg.hash() if cfg is not None else None, levels=lead.levels(),
            command=_command(lead, spec, root, threads), log=folder / "logs" / f"{name}.log",
        ))  # fmt: skip
    return jobs


def _environment(threads: int) -> dict[str, str]:
    """What a job's environment adds: this package importable, unbuffered output, threads."""
    here = str(Path(landscape.__file__).resolve().parents[1])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _start(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None
) -> tuple[subprocess.Popen, Any, int]:
    """Start ``command`` with its output appended to ``log``: (process, open log, offset of
    this attempt's output in the log)."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "ab")  # noqa: SIM115 (closed by the caller once the process has ended)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fh.write(f"==== {stamp} on {socket.gethostname()}: {shlex.join(command)}\n".encode())
    fh.flush()
    offset = fh.tell()
    try:
        proc = subprocess.Popen(list(command), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})  # fmt: skip
    except BaseException:
        fh.close()
        raise
    return proc, fh, offset


def run_job(command: Sequence[str], log: str | Path, env: Mapping[str, str] | None = None) -> int:
    """Run one job's command, its output appended to ``log``; its exit status (what a SLURM
    task of the sweep runs)."""
    proc, fh, _ = _start(command, Path(log), env)
    try:
        return proc.wait()
    finally:
        fh.close()


def _tail(log: Path, offset: int, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of ``log`` from ``offset`` on (one attempt's output)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _size(path: Path) -> int:
    """The size of ``path`` in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _conclude(job: Job, rc: int | None, seconds: float, offset: int, error: str = "") -> None:
    """Record how ``job`` ended: done only when it exited 0 and its levels are finished."""
    job.returncode, job.seconds, job.error = rc, seconds, error
    if rc == 0 and job.finished():
        job.status = "done"
        return
    job.status = "failed"
    job.tail = _tail(job.log, offset)
    if rc == 0 and not error:
        job.error = f"exited 0, but levels 0..{job.levels} of {job.run_dir} are not all finished"


def _report(job: Job, i: int, n: int, say: Callable[[str], object]) -> None:
    """One line per finished job; a failed one with the tail of its log."""
    if job.status == "done":
        say(f"[{i}/{n}] done    {job.name} ({job.seconds:.1f}s)")
        return
    why = job.error or f"exit status {job.returncode}"
    say(f"[{i}/{n}] FAILED  {job.name}: {why}; log {job.log}")
    for line in job.tail.splitlines():
        say(f"    | {line}")


def _run_local(jobs: list[Job], spec: SweepSpec, env: dict[str, str], say) -> None:
    """Run ``jobs`` as subprocesses, ``spec.workers`` at a time; on an interrupt, stop them."""
    workers = min(spec.workers, len(jobs))
    gpus = spec.gpu_list()
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(workers):
        slots.put(i)
    live: dict[int, subprocess.Popen] = {}
    guard = threading.Lock()
    stopping = threading.Event()

    def execute(job: Job) -> None:  # in a worker thread: one subprocess, on a free slot
        slot = slots.get()
        try:
            job_env = {**env, **({"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]} if gpus else {})}
            t0 = time.perf_counter()
            with guard:
                if stopping.is_set():
                    return
                proc, fh, offset = _start(job.command, job.log, job_env)
                live[slot] = proc
            try:
                rc = proc.wait()
            finally:
                fh.close()
                with guard:
                    live.pop(slot, None)
            _conclude(job, rc, time.perf_counter() - t0, offset)
        finally:
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
    futures = {pool.submit(execute, job): job for job in jobs}
    try:
        for i, fut in enumerate(as_completed(futures), 1):
            fut.result()
            _report(futures[fut], i, len(jobs), say)
    except BaseException:
        with guard:
            stopping.set()
            running = list(live.values())
        for fut in futures:
            fut.cancel()
        for proc in running:
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


def _submitit() -> Any:
    """The submitit module (an optional dependency), or a clear error."""
    try:
        import submitit
    except ImportError:
        raise LandscapeError(
            "--executor slurm needs submitit, which is not installed: pip install submitit "
            "(or run the sweep here with --executor local)"
        ) from None
    return submitit


def _run_slurm(jobs: list[Job], spec: SweepSpec, env: dict[str, str], folder: Path, say) -> None:
    """Submit ``jobs`` as one SLURM job array through submitit and wait for them."""
    submitit = _submitit()
    threads = _threads(spec)
    executor = submitit.AutoExecutor(folder=folder / "slurm" / "%j")
    params: dict[str, Any] = {"name": f"landscape-{folder.name}", "timeout_min": spec.slurm_time,
                              "nodes": 1, "tasks_per_node": 1,
                              "slurm_array_parallelism": spec.workers}  # fmt: skip
    if spec.slurm_partition:
        params["slurm_partition"] = spec.slurm_partition
    if spec.slurm_gpus_per_job:
        params["gpus_per_node"] = spec.slurm_gpus_per_job
    if threads:
        params["cpus_per_task"] = threads * spec.nproc_per_job
    executor.update_parameters(**params)
    offsets = {job.name: _size(job.log) for job in jobs}
    with executor.batch():
        handles = [executor.submit(run_job, list(job.command), str(job.log), env) for job in jobs]
    for job, handle in zip(jobs, handles):
        say(f"submitted {job.name}: SLURM job {handle.job_id}")
    pending = list(zip(handles, jobs))
    t0, done = time.perf_counter(), 0
    try:
        while pending:
            for handle, job in [hj for hj in pending if hj[0].done()]:
                pending.remove((handle, job))
                done += 1
                try:
                    rc, error = int(handle.result()), ""
                except Exception as exc:  # the task died: timeout, memory, node failure, cancel
                    rc, error = None, f"SLURM job {handle.job_id}: {str(exc).strip()[-500:]}"
                _conclude(job, rc, time.perf_counter() - t0, offsets[job.name], error)
                _report(job, done, len(jobs), say)
            if pending:
                time.sleep(_POLL_SECONDS)
    except BaseException:
        for handle, _ in pending:  # an interrupted sweep cancels what it submitted
            try:
                handle.cancel(check=False)
            except Exception as exc:
                say(f"could not cancel SLURM job {handle.job_id}: {exc}")
        raise


# ------------------------------------------------------------------------------------------
# The summary


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
            if job.run_dir is None or not paths.config(job.run_dir).exists():
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


def _write_summary(res: SweepResult) -> None:
    """``summary.json`` and ``summary.md``, each written atomically."""
    save_json(res.folder / "summary.json", res.to_dict())
    atomic_write_text(res.folder / "summary.md", _markdown(res))


@contextmanager
def _sweep_lock(folder: Path) -> Iterator[None]:
    """Hold the sweep directory's lock: one process runs a sweep at a time."""
    stack = ExitStack()
    try:
        stack.enter_context(hold(folder, what="sweep"))
    except LockedError:
        try:
            holder = (folder / LOCK_NAME).read_text().strip() or "another process"
        except OSError:
            holder = "another process"
        raise LockedError(
            f"the sweep {folder} is running in another process ({holder}); wait for it to end, "
            "or stop it (running the sweep again then resumes it)"
        ) from None
    with stack:
        yield


def sweep(
    grid: Grid | Mapping[str, Any] | str | Path,
    spec: SweepSpec | None = None,
    *,
    root: str | Path | None = None,
    out: str | Path | None = None,
    dry_run: bool = False,
    summary_only: bool = False,
    log: Callable[[str], object] = print,
    **options: Any,
) -> SweepResult:
    """Run every job of ``grid`` that is not finished, then summarise; the result.

    Args:
        grid: a :class:`Grid`, a grid file's mapping, or the path of a TOML grid file.
        spec: how the jobs run (:class:`~landscape.specs.SweepSpec`); ``options`` override
            its fields, e.g. ``sweep(grid, workers=2)``.
        root: where run directories go (default: ``$LANDSCAPE_ROOT`` or ``./runs``).
        out: the sweep directory (default: ``<root>/sweep_<digest of the grid>``).
        dry_run: list the jobs (and the summary of what is finished); run and write nothing.
        summary_only: run nothing; write the summary of what is finished.
        log: where progress lines go.

    A failed job does not stop the others: see :attr:`SweepResult.failed`.

    Raises:
        ValueError: a bad grid or option.
        LandscapeError: submitit missing for ``executor="slurm"``; another process is
            running the same sweep (``LockedError``).
    """
    grid = as_grid(grid)
    if dry_run and summary_only:
        raise ValueError("--dry-run writes nothing and --summary-only writes the summary: pick one")
    unknown = sorted(set(options) - {f.name for f in fields(SweepSpec)})
    if unknown:
        raise ValueError(f"unknown sweep options {unknown}; known: "
                         f"{', '.join(f.name for f in fields(SweepSpec))}")  # fmt: skip
    spec = replace(spec or SweepSpec(), **options)
    root = Path(root or paths.default_root()).absolute()
    folder = Path(out).absolute() if out else root / f"sweep_{grid.digest()}"
    jobs = plan(grid, spec, root, folder)
    for job in jobs:
        if job.finished():
            job.status = "finished"
    todo = [j for j in jobs if j.status == "pending"]
    if dry_run or summary_only:
        if dry_run:
            for j in jobs:
                state = "finished" if j.status == "finished" else "to run"
                log(f"{state:8s}  {j.name}: {shlex.join(j.command)}")
        res = SweepResult(folder, grid, tuple(jobs), tuple(summarize(grid, jobs, log)))
        if summary_only:
            with _sweep_lock(folder):
                _write_summary(res)
        return res
    if spec.executor == "slurm":
        _submitit()  # missing: say so before anything is written
    with _sweep_lock(folder):  # one process per sweep; each run has its own lock too
        save_json(folder / "grid.json", grid.to_dict())
        threads = _threads(spec)
        how = (f"{spec.workers} worker(s) × {threads or 'auto'} thread(s)"
               if spec.executor == "local" else f"SLURM, {spec.workers} at once")  # fmt: skip
        log(f"sweep {folder}: {len(jobs)} run(s), {len(jobs) - len(todo)} finished already, "
            f"{len(todo)} to run ({how})")  # fmt: skip
        if todo:
            env = _environment(threads)
            if spec.executor == "slurm":
                _run_slurm(todo, spec, env, folder, log)
            else:
                _run_local(todo, spec, env, log)
        res = SweepResult(folder, grid, tuple(jobs), tuple(summarize(grid, jobs, log)))
        _write_summary(res)
    return res
