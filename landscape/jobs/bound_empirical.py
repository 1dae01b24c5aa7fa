"""``bound(..., spec.empirical=True)``: the bound's empirical check by one-shot retraining
(:func:`empirical`, called by :func:`landscape.jobs.bound.bound`).

With ``spec.empirical`` each level is also pruned one-shot by each of ``spec.ratios``
(global magnitude over ``m_L``'s kept weights, :func:`landscape.pruning.prune`, and a
random mask of the same count) and retrained as the run's runner would train level
``L + 1`` (IMP-WR: ``m ⊙ w_τ`` over ``τ..T``; IMP-LRR: ``m ⊙ w^(L)`` over ``0..T``;
IMP-FT: ``m ⊙ w^(L)`` over ``T..2T`` at the final LR; through
:meth:`landscape.runners.common.RunContext.train`). Each retrained network is saved in
``level_LL/analysis/bound-retrain_<digest>/`` under a hash of its starting files
(weights, mask, rewind point) and settings, and reused by later calls (``force``
retrains). The result (``bound-empirical_<digest>/``) reports the test error, whether
it stays matching (error ≤ ``w^(L)``'s + ``spec.tolerance``), whether it is linearly
connected to ``w^(L)`` (error barrier ≤ ``spec.tolerance``), and the empirical maximal
ratio per mask kind, drawn against the prediction. Under ``torchrun`` the ranks share
the retrainings (task ``i`` on rank ``i mod R``, rank 0 saves) and the paths' points.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from landscape import distributed, paths
from landscape.analysis.bound import KINDS
from landscape.analysis.connectivity import barrier as barrier_curve
from landscape.analysis.engine import Points, evaluate_points
from landscape.checkpoint import load_state, save_state
from landscape.errors import LandscapeError
from landscape.functional import state_of
from landscape.io import file_digest
from landscape.jobs.common import Log, runner_start
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import level_ident
from landscape.lifetime import worker_pool
from landscape.locks import hold
from landscape.pruning import apply_mask, prune
from landscape.runs import Run, open_run
from landscape.settings import digest
from landscape.specs import BoundSpec
from landscape.tables import format_table

__all__ = [
    "EMPIRICAL_HEADERS",
    "PATH_POINTS",
    "RETRAIN_METHODS",
    "RetrainTask",
    "empirical",
    "empirical_lines",
    "empirical_max",
    "empirical_rows",
    "retrain_task",
]

#: The runners whose level ``L + 1`` training the check repeats.
RETRAIN_METHODS = ("imp-wr", "imp-lrr", "imp-ft")
#: Points on each path from w^(L) to a retrained network (the barrier's resolution).
PATH_POINTS = 11


@dataclass(frozen=True)
class RetrainTask:
    """One one-shot pruning and retraining (picklable, for worker processes).

    Attributes:
        run: the run directory.
        device: where to train.
        level: the level ``L`` whose solution is pruned.
        kind: ``"magnitude"`` (global) or ``"random"`` (seeded by ``seed``).
        ratio: the fraction of ``m_L``'s kept weights pruned.
        file: where the retrained weights go (its mask beside it, ``*.mask.safetensors``).
        threads: CPU threads (the same in every process, so results are equal).
        trusted: model factories the user consented to (``landscape.models.trust``).
    """

    run: str
    device: str
    level: int
    kind: str
    ratio: float
    seed: int
    file: str
    threads: int
    quiet: bool = True
    trusted: tuple[str, ...] = ()


def _start(ctx: Any, level: int) -> tuple[dict[str, torch.Tensor], int, int, bool, Path]:
    """Where the runner trains level ``level + 1`` from: state, step range, constant LR, file."""
    return runner_start(ctx, level + 1)


def _retrain(ctx: Any, task: RetrainTask) -> str:
    """Prune ``w^(L)`` by ``task`` and retrain it as the runner would; save it; return its path."""
    state, mask = _retrained(ctx, task)
    return _save(task, state, mask)


def _save(task: RetrainTask, state: dict[str, torch.Tensor], mask: dict[str, torch.Tensor]) -> str:
    """Save a retrained network and its mask under ``task.file``; return the path."""
    file = Path(task.file)
    save_state(file.with_name(file.name.replace(".safetensors", ".mask.safetensors")),
               {k: v.to(torch.uint8) for k, v in mask.items()})  # fmt: skip
    save_state(file, state, metadata={"kind": task.kind, "ratio": str(task.ratio)})
    return str(file)


def _retrained(
    ctx: Any, task: RetrainTask
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``w^(L)`` pruned by ``task`` and retrained as the runner would: (weights, mask)."""
    from landscape.training import constant, lr_schedule

    weights, mask = ctx.weights(task.level), ctx.mask(task.level)
    rule = "global" if task.kind == "magnitude" else "random"
    new = prune(weights, mask, task.ratio, rule, task.seed)
    state, start, stop, const, _ = _start(ctx, task.level)
    state = {k: v.clone() for k, v in state.items()}
    apply_mask(state, new)
    model = ctx.model()
    model.load_state_dict(state)
    schedule = lr_schedule(ctx.config.train, ctx.steps_per_epoch)
    lr_at = constant(schedule(start - 1)) if const else schedule
    ctx.train(model, start=start, stop=stop, mask=new, lr_at=lr_at, eval_every=0,
              desc=f"level {task.level}: {task.kind} {task.ratio:g}")  # fmt: skip
    return state_of(model), new


def _retrain_on_ranks(ctx: Any, todo: Sequence[RetrainTask]) -> None:
    """Under ``torchrun``: task ``i`` retrains on rank ``i mod R``; rank 0 saves them all."""
    mine = []
    for i in distributed.my_indices(len(todo)):
        with distributed.alone():
            state, mask = _retrained(ctx, todo[i])
        mine.append(({k: v.cpu() for k, v in state.items()}, {k: v.cpu() for k, v in mask.items()}))
    done = distributed.assemble(len(todo), mine)
    if distributed.is_primary():
        for task, (state, mask) in zip(todo, done):
            _save(task, state, mask)
    distributed.barrier()  # the files exist before any rank reads them


def retrain_task(task: RetrainTask) -> str:
    """:func:`_retrain` in a fresh process (a worker of ``--workers N``)."""
    from landscape import models
    from landscape.runners.common import RunContext

    torch.set_num_threads(task.threads)
    for name in task.trusted:
        models.trust(name)
    run = open_run(task.run, task.device)
    ctx = RunContext(run.config, run.path, run.device, show_progress=not task.quiet,
                     log=lambda _: None)  # fmt: skip
    return _retrain(ctx, task)


def _file(folder: Path, kind: str, ratio: float) -> Path:
    return folder / f"{kind}_{ratio:.6g}.safetensors"


def empirical_max(ratios: Sequence[float], ok: Sequence[bool]) -> float | None:
    """The largest tested ratio up to which every tested ratio passes (``None``: not even the first)."""
    best = None
    for r, good in zip(ratios, ok):
        if not good:
            break
        best = r
    return best


def empirical(
    run: Run,
    level: int,
    spec: BoundSpec,
    pred: Result,
    *,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """Prune level ``level`` one-shot by each of ``spec.ratios``, retrain, and measure
    (module docstring); the ``bound-empirical`` Result. ``pred`` is the level's ``bound``."""
    from landscape import models
    from landscape.plotting.bound import plot_bound_empirical
    from landscape.runners.common import RunContext

    cfg, eng = run.config, spec.engine
    if cfg.prune.method not in RETRAIN_METHODS:
        raise LandscapeError(
            f"--empirical retrains as the run's runner does, for {', '.join(RETRAIN_METHODS)} runs; "
            f"{run.path} is a {cfg.prune.method!r} run"
        )
    ctx = RunContext(cfg, run.path, run.device, show_progress=not quiet, log=log)
    ctx.__dict__["data"] = run.data  # share the loaded data (cached_property slot)
    _, start, stop, _, source = _start(ctx, level)
    ratios = spec.ratio_list()
    seed = spec.curvature.seed
    train_settings = {
        "kind": "bound-retrain", "level": level, "method": cfg.prune.method,
        "start": file_digest(paths.weights(run.path, level), paths.mask(run.path, level), source),
        "steps": [start, stop], "random_mask_seed": seed, "magnitude": "global",
    }  # fmt: skip
    retrain_dir = paths.analysis_dir(run.path, level, "bound-retrain", digest(train_settings))
    settings = {
        "kind": "bound-empirical", "weights": level_ident(level), "retrain": train_settings,
        "ratios": ratios, "tolerance": spec.tolerance, "points": PATH_POINTS, "split": "test",
        "prediction": pred.folder.name, **eng.hashed(),
    }  # fmt: skip
    folder = paths.analysis_dir(run.path, level, "bound-empirical", digest(settings))
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        tasks = [RetrainTask(str(run.path), str(run.device), level, kind, r, seed,
                             str(_file(retrain_dir, kind, r)), torch.get_num_threads(),
                             quiet=quiet, trusted=tuple(sorted(models._TRUSTED)))
                 for r in ratios for kind in KINDS]  # fmt: skip
        t0 = time.perf_counter()
        # The retrainings are shared by every evaluation of them: one process trains them
        # (the list of what is missing is taken under the lock).
        # Under torchrun rank 0 holds the lock and decides, and the ranks are the workers.
        with distributed.primary_context(
            lambda: hold(retrain_dir, wait=True, what="one-shot retrainings")
        ):
            todo = distributed.on_primary(
                lambda: [t for t in tasks if force or not Path(t.file).exists()]
            )
            if todo and distributed.shard_world()[1] > 1:
                _retrain_on_ranks(ctx, todo)
            elif todo and spec.workers > 1 and len(todo) > 1:
                # Workers die with this process, which holds the lock they write under.
                with worker_pool(min(spec.workers, len(todo))) as pool:
                    list(pool.map(retrain_task, todo))
            else:
                for task in todo:
                    _retrain(ctx, task)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        record = _measure(run, level, spec, pred, tasks, ratios)
        record.update(
            title=f"{run.path.name}: level {level}, one-shot pruning and retraining",
            settings=settings, retrained=[t.file for t in tasks], retrained_now=len(todo),
            train_steps=[start, stop], train_seconds=train_seconds,
            seconds=time.perf_counter() - t0, **stamp(),
        )  # fmt: skip
        w = Writer(folder)
        w.arrays({"ratios": ratios,
                  **{f"{k}_{q}": record[k][q] for k in KINDS
                     for q in ("test_error", "test_loss", "error_barrier", "loss_barrier")}})  # fmt: skip
        w.figure("empirical.png", lambda: plot_bound_empirical(record))
        w.text("report.md", _empirical_report(record))
        done = w.finish(record)
        log(f"level {level}: empirical maximal ratio magnitude "
                f"{_fmt(record['empirical_max']['magnitude'])}, random "
                f"{_fmt(record['empirical_max']['random'])} (predicted "
                f"{record['predicted']['magnitude']:.4f} / {record['predicted']['random']:.4f}) "
                f"→ {folder}")  # fmt: skip
        return done


def _fmt(v: float | None) -> str:
    return "< smallest ratio" if v is None else f"{v:g}"


def _measure(run: Run, level: int, spec: BoundSpec, pred: Result, tasks: Sequence[RetrainTask],
             ratios: Sequence[float]) -> dict[str, Any]:  # fmt: skip
    """Test error and barrier to ``w^(L)`` of every retrained network."""
    eng = spec.engine
    model = run.model()
    data = eval_data(run, "test", eng.eval_samples)
    ref_state = run.weights(level)
    states = [load_state(Path(t.file), run.device) for t in tasks]
    masks = [load_state(Path(t.file.replace(".safetensors", ".mask.safetensors")), run.device)
             for t in tasks]  # fmt: skip
    own = evaluate_points(model, Points.states([ref_state, *states]), data, bn_policy="none",
                          **eng.speed())  # fmt: skip
    ref_error, ref_loss = float(own.errors[0]), float(own.losses[0])
    bn = bn_batches(run, eng)
    threshold = ref_error + spec.tolerance
    out: dict[str, Any] = {"kind": "bound-empirical", "run": str(run.path), "level": level,
                           "ratios": list(ratios), "reference_error": ref_error,
                           "reference_loss": ref_loss, "threshold": threshold,
                           "tolerance": spec.tolerance, "bn_policy": eng.bn_policy}  # fmt: skip
    for kind in KINDS:
        rows: dict[str, list] = {q: [] for q in ("test_error", "test_loss", "error_barrier",
                                                 "loss_barrier", "matching", "connected", "kept")}  # fmt: skip
        for i, t in enumerate(tasks):
            if t.kind != kind:
                continue
            res = barrier_curve(model, ref_state, states[i], data, PATH_POINTS, eng.bn_policy, bn,
                                **eng.speed())  # fmt: skip
            err = float(own.errors[i + 1])
            rows["test_error"].append(err)
            rows["test_loss"].append(float(own.losses[i + 1]))
            rows["error_barrier"].append(res.error_barrier)
            rows["loss_barrier"].append(res.loss_barrier)
            rows["matching"].append(bool(err <= threshold))
            rows["connected"].append(bool(res.error_barrier <= spec.tolerance))
            out["has_batchnorm"] = res.has_batchnorm
            rows["kept"].append(sum(int(m.sum()) for m in masks[i].values()))
        out[kind] = rows
    out["empirical_max"] = {k: empirical_max(ratios, out[k]["matching"]) for k in KINDS}
    out["connected_max"] = {k: empirical_max(ratios, out[k]["connected"]) for k in KINDS}
    p = pred.record
    out["predicted"] = dict(p["p_star"])
    out["predicted_epsilon"] = {"factors": p["epsilon_factors"], **p["p_star_epsilon"]}
    out["epsilon"], out["epsilon_rule"] = p["epsilon"], p["epsilon_rule"]
    out["actual_ratio"] = p["actual_ratio"]
    out["num_kept"] = p["num_kept"]
    return out


def empirical_rows(record: dict[str, Any]) -> list[tuple]:
    """One printed row per (ratio, kind) of a ``bound-empirical`` record."""
    rows = []
    for i, r in enumerate(record["ratios"]):
        for k in KINDS:
            q = record[k]
            rows.append((f"{r:g}", k, q["kept"][i], f"{q['test_error'][i]:.4f}",
                         "yes" if q["matching"][i] else "no", f"{q['error_barrier'][i]:.4f}",
                         "yes" if q["connected"][i] else "no"))  # fmt: skip
    return rows


EMPIRICAL_HEADERS = (
    "ratio",
    "mask",
    "kept prunable weights",
    "test error",
    "matching",
    "error barrier",
    "connected",
)


def _empirical_report(rec: dict[str, Any]) -> str:
    lines = [f"# One-shot pruning and retraining — {rec['title']}", "",
             f"w^(L) test error {rec['reference_error']:.4f}; matching means ≤ "
             f"{rec['threshold']:.4f} (+{rec['tolerance']:g}); connected means an error barrier "
             f"≤ {rec['tolerance']:g} to w^(L) (BatchNorm: {rec['bn_policy']}). Retrained over "
             f"steps {rec['train_steps'][0]}..{rec['train_steps'][1]}.", "",
             format_table(EMPIRICAL_HEADERS, empirical_rows(rec), markdown=True), "",
             format_table(("mask", "empirical max (matching)", "empirical max (connected)",
                           "predicted p*"),
                          [(k, _fmt(rec["empirical_max"][k]), _fmt(rec["connected_max"][k]),
                            f"{rec['predicted'][k]:.4f}") for k in KINDS], markdown=True), "",
             "![empirical](empirical.png)", "",
             "Settings: `" + json.dumps(rec["settings"], sort_keys=True) + "`", ""]  # fmt: skip
    return "\n".join(lines)


def empirical_lines(res: Result) -> list[str]:
    """The lines ``landscape bound`` prints for a ``bound-empirical`` Result: the per-ratio
    table, the empirical maximal ratio against ``p*`` per mask kind, the folder."""
    rec = res.record
    lines = ["", f"level {rec['level']}: one-shot pruning and retraining (w^(L) test error "
             f"{rec['reference_error']:.4f}, tolerance {rec['tolerance']:g})",
             format_table(EMPIRICAL_HEADERS, empirical_rows(rec))]  # fmt: skip
    for k in KINDS:
        emp = rec["empirical_max"][k]
        lines.append(f"{k}: empirical maximal ratio "
                     f"{'< ' + str(rec['ratios'][0]) if emp is None else f'{emp:g}'}, predicted "
                     f"p* {rec['predicted'][k]:.4f}")  # fmt: skip
    lines.append(f"→ {res.folder}")
    return lines
