"""``robustness(run, spec, level=L)``: robustness of the pruned rewind point to perturbations
inside the kept subspace [PAUL §3.2] (docs/science.md, section 11).

For an IMP-WR run and level ``L``, ``d_L = ‖m_L⊙w_τ − m_{L+1}⊙w_τ‖`` is the distance the next
pruning step moves the rewind point. For each radius ``r`` and each seed ``s``, the pruned
rewind point ``m_{L+1}⊙w_τ`` is perturbed by ``δ``, ``‖δ‖ = r·d_L``, a Gaussian direction on
the prunable weights that ``m_{L+1}`` keeps (zero on pruned coordinates and on tensors the
mask does not cover; :mod:`landscape.analysis.robustness`). The perturbed point and the
unperturbed one are trained as level ``L+1`` is trained (steps ``τ .. T`` of the run's
schedule under ``m_{L+1}``: :func:`landscape.jobs.common.start_point` of level ``L+1``)
with different SGD noise, and the error barrier between the two solutions is recorded:
its mean ± standard deviation over the seeds against ``r``.

Seeds (*ours*): seed ``s = 0 .. S−1`` draws its direction from seed ``s`` and trains the
perturbed point with data seed ``D + 1 + 2s`` and the unperturbed one with ``D + 2 + 2s``
(``D``: the run's ``--data-seed``). One direction per seed serves every radius (scaled),
and one unperturbed network per seed serves every radius, so the radii of a seed differ
only in ``r``. ``r = 0`` is the stability test of level ``L+1``: with seed 0 its two
networks are exactly ``landscape instability RUN --level L+1``'s copies (default seeds),
whose files are reused when that test has run.

Each trained network is saved under ``level_LL/analysis/robustness-nets_<start>/`` named by
a hash of its start (the rewind point's and both masks' bytes, ``r``, the direction seed,
the data seed, the step range), so a re-run with other evaluation settings only
re-measures, and ``force`` retrains. ``spec.workers > 1`` trains in that many processes
(``spawn``), with the same numbers as one. Under ``torchrun`` the ranks are the workers
(network ``i`` trains on rank ``i mod R``, rank 0 saves them all) and every barrier's
path points are split over the ranks.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape import distributed, paths
from landscape.analysis.connectivity import barrier as barrier_curve
from landscape.analysis.engine import Points, evaluate_points
from landscape.analysis.robustness import perturb, spread, step_distance
from landscape.checkpoint import load_state, save_state
from landscape.errors import LandscapeError
from landscape.functional import state_of
from landscape.io import file_digest
from landscape.jobs.common import Log, StartPoint, start_point
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import resolve_run, use_threads
from landscape.lifetime import worker_pool
from landscape.locks import hold
from landscape.runs import Run, open_run
from landscape.settings import digest
from landscape.specs import RobustnessSpec
from landscape.training import lr_schedule, train

__all__ = ["Net", "data_seeds", "robustness"]


@dataclass(frozen=True)
class Net:
    """One network the analysis trains: from ``m_{L+1}⊙w_τ + δ(radius, direction_seed)``
    with SGD noise ``data_seed``; ``path`` is where it is saved (named by its start)."""

    radius: float
    direction_seed: int | None
    data_seed: int
    path: Path


def data_seeds(run_data_seed: int, seeds: int) -> list[tuple[int, int]]:
    """The data seeds (perturbed, unperturbed) of each seed ``s``: ``(D+1+2s, D+2+2s)``."""
    return [(run_data_seed + 1 + 2 * s, run_data_seed + 2 + 2 * s) for s in range(seeds)]


def robustness(
    run: str | Path | Run,
    spec: RobustnessSpec,
    *,
    level: int,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The barrier between the trained perturbed and unperturbed rewind point against ``r``.

    Args:
        run: an IMP-WR run directory (or an open :class:`Run`) with levels ``L`` and ``L+1``.
        spec: radii, seeds, path points, split, workers and evaluation settings.
        level: ``L``: the perturbation's unit is ``d_L``; the networks train as level
            ``L+1`` does.
        force: retrain every network and recompute the result.
        wait: wait for another process computing the same result instead of stopping.
        quiet: no progress bars.

    Returns:
        a :class:`Result` of kind ``robustness``: ``radii``, ``step_distance`` (``d_L``),
        ``error_barriers``/``loss_barriers`` (``[radius][seed]``), their ``*_mean`` and
        ``*_std`` per radius, ``errors_perturbed`` (``[radius][seed]``) and
        ``errors_unperturbed`` (``[seed]``) of the trained networks as trained.

    Raises:
        LandscapeError: not an IMP-WR run, level ``L+1`` not trained, or ``d_L = 0`` with
            a radius above 0.
    """
    run_ = resolve_run(run, spec.engine.device)
    cfg = run_.config
    if cfg.prune.method != "imp-wr":
        raise LandscapeError(
            f"robustness perturbs the rewind point of IMP-WR levels [PAUL §3.2]; {run_.path} is "
            f"a {cfg.prune.method!r} run: prune with --method imp-wr"
        )
    have = run_.levels()
    if level < 0 or level + 1 not in have:
        raise LandscapeError(
            f"robustness of level {level} trains networks as level {level + 1} is trained and "
            f"needs both levels; {run_.path} has levels {have}: pass --level between 0 and "
            f"{max(have, default=0) - 1}, or extend the run with a larger --levels"
        )
    use_threads(run_, spec.engine.threads)
    sp = start_point(run_, level + 1)  # m_{L+1} ⊙ w_τ over τ .. T
    rewind_file, mask_file = paths.rewind(run_.path), paths.mask(run_.path, level)
    d_l = step_distance(run_.rewind(), run_.mask(level), run_.mask(level + 1))
    radii = spec.radius_list()
    if d_l == 0.0 and any(r > 0 for r in radii):
        raise LandscapeError(
            f"levels {level} and {level + 1} of {run_.path} have the same mask (d_L = 0), so a "
            "radius r·d_L is 0: pick a level the next pruning step changes, or --radii 0"
        )
    pairs = data_seeds(cfg.data.data_seed, spec.seeds)
    start = file_digest(rewind_file, mask_file, *sp.sources[1:])
    settings = {
        "kind": "robustness", "level": level, "radii": radii, "seeds": spec.seeds,
        "data_seeds": [list(p) for p in pairs], "direction_seeds": list(range(spec.seeds)),
        "perturbed": "prunable weights kept by m_(L+1)", "start": start,
        "points": spec.points, "split": spec.split, **spec.engine.hashed(),
    }  # fmt: skip
    folder = paths.analysis_dir(run_.path, level, "robustness", digest(settings))
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        return _compute(run_, spec, level, sp, d_l, radii, pairs, start, settings, folder,
                        force=force, quiet=quiet)  # fmt: skip


def _compute(
    run_: Run,
    spec: RobustnessSpec,
    level: int,
    sp: StartPoint,
    d_l: float,
    radii: list[float],
    pairs: list[tuple[int, int]],
    start: str,
    settings: dict[str, Any],
    folder: Path,
    *,
    force: bool,
    quiet: bool,
) -> Result:
    from landscape.plotting.robustness import plot_robustness

    eng = spec.engine
    nets_dir = paths.analysis_dir(run_.path, level, "robustness-nets", start)
    unperturbed = [_net(nets_dir, start, sp, 0.0, None, b) for _, b in pairs]
    perturbed = [[_net(nets_dir, start, sp, r, s if r > 0 else None, a)
                  for s, (a, _) in enumerate(pairs)] for r in radii]  # fmt: skip
    every = unperturbed + [n for row in perturbed for n in row]
    # What exists is decided by rank 0 (the one that holds the locks) under torchrun.
    copies = distributed.on_primary(
        lambda: {} if force else _instability_copies(run_, level + 1, sp, pairs)
    )
    found = {n: copies[n.data_seed] for n in every if n.radius == 0 and n.data_seed in copies}
    todo = distributed.on_primary(
        lambda: [
            n for n in dict.fromkeys(every) if (force or not n.path.exists()) and n not in found
        ]
    )
    t0 = time.perf_counter()
    # The networks are shared by every evaluation of them: one process trains them.
    with distributed.primary_context(lambda: hold(nets_dir, wait=True, what="robustness networks")):
        missing = distributed.on_primary(lambda: [n for n in todo if force or not n.path.exists()])
        _train_all(run_, level, sp, d_l, missing, spec.workers, quiet)
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    states: dict[Net, dict[str, Tensor]] = {}
    for n in dict.fromkeys(every):
        states[n] = load_state(found.get(n, n.path), run_.device)
    data = eval_data(run_, spec.split, eng.eval_samples)
    bn = bn_batches(run_, eng)
    curves = [[barrier_curve(run_.model(), states[p], states[u], data, spec.points, eng.bn_policy,
                             bn, **eng.speed())
               for p, u in zip(row, unperturbed)] for row in perturbed]  # fmt: skip
    own = evaluate_points(run_.model(), Points.states(list(states.values())), data,
                          bn_policy="none", **eng.speed()).errors.tolist()  # fmt: skip
    own_of = dict(zip(states, own))
    eb = np.array([[c.error_barrier for c in row] for row in curves])
    lb = np.array([[c.loss_barrier for c in row] for row in curves])
    (eb_mean, eb_std), (lb_mean, lb_std) = spread(eb), spread(lb)
    kept = sum(int(v.sum()) for v in run_.mask(level + 1).values())
    first = curves[0][0]
    record = {
        "kind": "robustness",
        "title": f"{run_.path.name}: level {level} → {level + 1}, rewind point perturbed by "
                 f"r·d_L, {spec.seeds} seed{'s' if spec.seeds > 1 else ''}",
        "settings": settings, "run": str(run_.path), "level": level, "next_level": level + 1,
        "radii": radii, "step_distance": d_l, "perturbation_norms": [r * d_l for r in radii],
        "start_norm": _norm(sp.state, run_.mask(level + 1)), "kept_weights": kept,
        "error_barriers": eb.tolist(), "loss_barriers": lb.tolist(),
        "error_barrier_mean": eb_mean.tolist(), "error_barrier_std": eb_std.tolist(),
        "loss_barrier_mean": lb_mean.tolist(), "loss_barrier_std": lb_std.tolist(),
        "errors_perturbed": [[own_of[n] for n in row] for row in perturbed],
        "errors_unperturbed": [own_of[n] for n in unperturbed],
        "alphas": first.alphas.tolist(), "split": spec.split,
        "bn_policy": first.bn_policy, "has_batchnorm": first.has_batchnorm,
        "train_steps": [sp.start, sp.stop],
        "networks": {"unperturbed": [str(found.get(n, n.path)) for n in unperturbed],
                     "perturbed": [[str(found.get(n, n.path)) for n in row] for row in perturbed]},
        "trained": len(todo), "reused_instability_copies": len(found),
        "workers": spec.workers, "train_seconds": train_seconds,
        "seconds": time.perf_counter() - t0, **stamp(),
    }  # fmt: skip
    w = Writer(folder)
    w.arrays({
        "radii": radii, "error_barriers": eb, "loss_barriers": lb,
        "error_barrier_mean": eb_mean, "error_barrier_std": eb_std,
        "loss_barrier_mean": lb_mean, "loss_barrier_std": lb_std, "alphas": first.alphas,
        "path_errors": [[c.errors for c in row] for row in curves],
        "path_losses": [[c.losses for c in row] for row in curves],
    })  # fmt: skip
    w.figure("robustness.png", lambda: plot_robustness(record))
    w.text("report.md", _report(record))
    return w.finish(record)


def _net(nets_dir: Path, start: str, sp: StartPoint, radius: float, direction: int | None,
         data_seed: int) -> Net:  # fmt: skip
    key = {"start": start, "steps": [sp.start, sp.stop], "radius": radius,
           "direction_seed": direction, "data_seed": data_seed}  # fmt: skip
    return Net(radius, direction, data_seed, nets_dir / f"net_{digest(key)}.safetensors")


def _instability_copies(
    run_: Run, level: int, sp: StartPoint, pairs: list[tuple[int, int]]
) -> dict[int, Path]:
    """``{data seed: file}`` of the copies ``instability(run, level=L+1, seeds=pair)`` already
    trained for a pair of ours: the same start, steps and data seeds as our ``r = 0``
    networks. Their folder is named as :mod:`landscape.jobs.instability` names it (if that
    naming changes, nothing is found and the networks are trained here)."""
    out: dict[int, Path] = {}
    src = file_digest(*sp.sources)
    for pair in pairs:
        key = {"kind": "instability", "level": level, "seeds": list(pair), "start": src}
        copies = paths.analysis_dir(run_.path, level, "instability-copies", digest(key))
        files = [copies / f"copy_{i}.safetensors" for i in (0, 1)]
        if all(f.exists() for f in files):
            out.update(zip(pair, files))
    return out


def _train_all(run_: Run, level: int, sp: StartPoint, d_l: float, todo: list[Net],
               workers: int, quiet: bool) -> None:  # fmt: skip
    """Train and save every network of ``todo``: here, or in ``workers`` spawned processes,
    or under ``torchrun`` network ``i`` on rank ``i mod R`` (``workers`` unused), saved by rank 0."""
    if not todo:
        return
    if distributed.shard_world()[1] > 1:
        _train_on_ranks(run_, level, sp, d_l, todo, quiet)
        return
    if workers <= 1 or len(todo) == 1:
        for net in todo:
            _train_net(run_, level, sp, d_l, net, quiet)
        return
    # Workers die with this process, which holds the lock they write under.
    with worker_pool(min(workers, len(todo))) as pool:
        futures = [pool.submit(_train_in_worker, str(run_.path), str(run_.device), level, d_l,
                               net, torch.get_num_threads()) for net in todo]  # fmt: skip
        for f in concurrent.futures.as_completed(futures):
            f.result()  # a worker's error is raised here


def _train_on_ranks(run_: Run, level: int, sp: StartPoint, d_l: float, todo: list[Net],
                    quiet: bool) -> None:  # fmt: skip
    """Each rank trains its share of ``todo``; rank 0 saves all, then every rank goes on."""
    mine = []
    for i in distributed.my_indices(len(todo)):
        with distributed.alone():
            state = _trained(run_, level, sp, d_l, todo[i], quiet)
        mine.append({k: v.cpu() for k, v in state.items()})
    states = distributed.assemble(len(todo), mine)
    if distributed.is_primary():
        for net, state in zip(todo, states):
            _save_net(net, state, d_l)
    distributed.barrier()  # the files exist before any rank reads them


def _train_in_worker(run_path: str, device: str, level: int, d_l: float, net: Net,
                     threads: int) -> None:  # fmt: skip
    """One training in a worker process: reopens the run (the parent process has built its
    model, so any consent a user model factory needs was given: ``trusted``), with the
    parent's CPU thread count (so every process computes the same numbers)."""
    run_ = open_run(run_path, device)
    run_.trusted = True
    torch.set_num_threads(threads)
    _train_net(run_, level, start_point(run_, level + 1), d_l, net, quiet=True)


def _train_net(run_: Run, level: int, sp: StartPoint, d_l: float, net: Net, quiet: bool) -> None:
    """Train one network (:func:`_trained`) and save it."""
    _save_net(net, _trained(run_, level, sp, d_l, net, quiet), d_l)


def _save_net(net: Net, state: dict[str, Tensor], d_l: float) -> None:
    save_state(net.path, state, metadata={
        "radius": repr(net.radius), "direction_seed": str(net.direction_seed),
        "data_seed": str(net.data_seed), "step_distance": repr(d_l),
    })  # fmt: skip


def _trained(
    run_: Run, level: int, sp: StartPoint, d_l: float, net: Net, quiet: bool
) -> dict[str, Tensor]:
    """One network trained from ``m_{L+1}⊙w_τ + δ`` over ``τ .. T`` as the runner trains level
    ``L+1`` (its schedule, mask and augmentation), with data seed ``net.data_seed``."""
    cfg = run_.config
    mask = run_.mask(level + 1)
    state = (perturb(sp.state, mask, net.radius * d_l, net.direction_seed)
             if net.radius > 0 and net.direction_seed is not None else sp.state)  # fmt: skip
    model = run_.model()
    model.load_state_dict(state)
    spe = run_.data.steps_per_epoch(cfg.data.batch_size)
    what = f"r={net.radius:g}" + ("" if net.direction_seed is None else
                                  f", direction {net.direction_seed}")  # fmt: skip
    train(
        model, run_.data, cfg.train, cfg.data.batch_size, start=sp.start, stop=sp.stop,
        mask=mask, lr_at=lr_schedule(cfg.train, spe), data_seed=net.data_seed,
        augment=cfg.data.augment, desc=f"{what}, seed {net.data_seed}",
        show_progress=not quiet, context=f"{run_.path}, robustness network {what}",
    )  # fmt: skip
    return state_of(model)


def _norm(state: dict[str, Tensor], mask: dict[str, Tensor]) -> float:
    return float(sum(float((state[k].double() ** 2).sum()) for k in mask) ** 0.5)


def _report(rec: dict[str, Any]) -> str:
    from landscape.tables import format_table, plus_minus, sig

    rows = [(f"{r:g}", sig(n), plus_minus(m, s), plus_minus(lm, ls),
             f"{float(np.mean(e)):.4f}")
            for r, n, m, s, lm, ls, e in zip(
                rec["radii"], rec["perturbation_norms"], rec["error_barrier_mean"],
                rec["error_barrier_std"], rec["loss_barrier_mean"], rec["loss_barrier_std"],
                rec["errors_perturbed"])]  # fmt: skip
    table = format_table(("r", "‖δ‖", f"{rec['split']} error barrier", "loss barrier",
                          "perturbed nets' error"), rows, markdown=True)  # fmt: skip
    return (
        f"# {rec['title']}\n\nd_L = {sig(rec['step_distance'])} "
        f"(‖m_(L+1)⊙w_τ‖ = {sig(rec['start_norm'])}); mean ± std over seeds\n\n{table}\n"
    )
