"""``align(a, b, spec)``: network B permuted onto network A, and the barrier before and after
[Ainsworth et al. 2023, §3; Jordan et al. 2023, §4].

The targets are any two checkpoints of one architecture (as ``barrier``'s). The result
folder ``align_<digest>/`` goes into A's level ``analysis/`` (the run's ``analysis/`` for a
file in no level, ``<stem>_analysis/`` beside a bare file) or ``out``, and holds
``aligned.safetensors`` (B with its hidden units permuted: the same function as B),
``aligned_mask.safetensors`` (B's mask permuted with it, when B has one), ``result.npz``
(the curves, and ``perm_<group>``: new unit ``i`` of B is its old unit ``perm[i]``),
``alignment.png`` and, last, ``result.json``: the method, every permutation group's size,
the L2 distance between A and B before and after, the error and loss barriers of the
straight path before (A → B) and after (A → π(B)) — both REPAIRed when ``spec.repair`` —
and, when both have masks, their overlap (IoU) before and after.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from landscape.checkpoint import save_state
from landscape.jobs.aligning import (
    align_states,
    alignment_record,
    check_repair,
    mask_iou,
    path_barrier,
    run_permutation_spec,
)
from landscape.jobs.common import Log, pair
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import Checkpoint, short_label
from landscape.settings import digest
from landscape.specs import AlignSpec

__all__ = ["align"]


def _mask(ckpt: Checkpoint) -> dict[str, Any] | None:
    """The checkpoint's mask, or ``None`` when it has none (a rewind point, a bare file)."""
    if ckpt.mask_file is None and ckpt.level is None:
        return None
    return ckpt.mask()


def align(
    a: Any,
    b: Any,
    spec: AlignSpec = AlignSpec(),
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    log: Log = print,
) -> Result:
    """Permute ``b``'s hidden units onto ``a``'s by ``spec.method`` and measure what it changes.

    Returns:
        a :class:`Result` whose record holds ``method``, ``groups`` (units per permutation
        group), ``distance_before``/``distance_after``, ``before``/``after`` (barrier
        records: ``error_barrier``, ``loss_barrier``, the curves), ``mask_iou_before``/
        ``mask_iou_after`` (``None`` without masks) and ``files`` (the aligned checkpoint
        and mask); ``Result.folder / "aligned.safetensors"`` loads like any state dict.
    """
    eng = spec.engine
    ca, cb, ident_b = pair(a, b, eng.device)
    settings = {"kind": "align", "a": ca.ident, "b": ident_b, "points": spec.points,
                "split": spec.split, **eng.hashed(), **spec.alignment()}  # fmt: skip
    folder = Path(out) if out else ca.result_dir("align", digest(settings))
    run = ca.run
    model = run.model()
    check_repair(model, eng, spec.repair)  # before anything is written
    pspec = run_permutation_spec(run, model)  # an untraceable model is refused here
    mask_a, mask_b = _mask(ca), _mask(cb)
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        t0 = time.perf_counter()
        state_b = {k: v.to(run.device) for k, v in cb.state.items()}
        aligned = align_states(run, model, ca.state, state_b, spec.method, eng.bn_samples,
                               mask_b, spec=pspec)  # fmt: skip
        match_seconds = time.perf_counter() - t0
        kw = {"points": spec.points, "split": spec.split, "engine": eng, "repair": spec.repair,
              "spec": pspec}  # fmt: skip
        before = path_barrier(run, model, ca.state, state_b, **kw)
        after = path_barrier(run, model, ca.state, aligned.state, **kw)
        both = mask_a is not None and mask_b is not None
        b_label = cb.label if cb.bare else short_label(ident_b)
        record = {
            "kind": "align", "title": f"{run.path.name}: {b_label} aligned onto {ca.label}",
            "settings": settings, "run": str(run.path),
            **alignment_record(spec.method, spec.repair, model), **aligned.summary(),
            "before": before.to_dict(), "after": after.to_dict(),
            "error_barrier_before": before.error_barrier, "error_barrier_after": after.error_barrier,
            "loss_barrier_before": before.loss_barrier, "loss_barrier_after": after.loss_barrier,
            "mask_iou_before": mask_iou(mask_a, mask_b) if both else None,
            "mask_iou_after": mask_iou(mask_a, aligned.mask) if both else None,  # type: ignore[arg-type]
            "files": {"aligned": str(folder / "aligned.safetensors"),
                      "aligned_mask": str(folder / "aligned_mask.safetensors")
                      if aligned.mask is not None else None},
            "match_seconds": match_seconds, "seconds": time.perf_counter() - t0, **stamp(),
        }  # fmt: skip
        from landscape.plotting.alignment import plot_alignment

        w = Writer(folder)
        if w.writes:
            save_state(folder / "aligned.safetensors", aligned.state,
                       metadata={"aligned_onto": ca.ident, "method": spec.method})  # fmt: skip
            if aligned.mask is not None:
                save_state(folder / "aligned_mask.safetensors", aligned.mask)
        w.arrays({"alphas": before.alphas, "errors_before": before.errors,
                  "losses_before": before.losses, "errors_after": after.errors,
                  "losses_after": after.losses,
                  **{f"perm_{g}": p.numpy() for g, p in aligned.matching.perm.items()}})  # fmt: skip
        w.figure("alignment.png", lambda: plot_alignment(record))
        return w.finish(record)
