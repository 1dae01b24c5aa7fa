"""Bench: time to the Hessian's top-5 eigenvalues, trace and density, ours vs PyHessian.

Run by hand (never in the test suite); every number in bench/RESULTS.md comes
from a command of this form:

    python3 bench/bench_hessian.py --case mlp
    python3 bench/bench_hessian.py --case resnet20 --samples 4096 --parts eigen
    python3 bench/bench_hessian.py --case resnet20 --device cuda          # on a GPU

Cases: ``mlp`` — the MNIST-1D MLP (40-100-100-10) trained with the mlp-mnist1d
preset's optimiser for 36 epochs, on its 4000 training samples; ``resnet20`` —
ResNet-20 at initialisation on ``synthetic-cifar`` (3×32×32, 4096 samples).

Contestants, all over the same samples, model in eval mode:

- ``pyhessian-loader``: PyHessian 0.1 as its README shows, over a DataLoader
  (``hessian(model, criterion, dataloader=...)``, ``eigenvalues(top_n=5)`` with its
  defaults maxIter=100, tol=1e-3; ``trace(maxIter=100, tol=0)`` so it does 100 probes;
  ``density(iter=100, n_v=1)``);
- ``pyhessian-batch``: the same with one big batch (``data=(x, y)``); it holds the
  whole gradient graph, so it is skipped where that does not fit (``--batch-max``);
- ``ours``: ``landscape.hessian.spectrum`` (Lanczos with ``tol=1e-3``, Hutchinson,
  SLQ), ``method="auto"``, plus each HVP method forced, for the record.

Accuracy: the top-5 from each contestant against a reference (our Lanczos with a
residual bound of 1e-7 in float64 on the MLP, 1e-5 in float32 on ResNet-20), as the
largest relative error.
Speed claims are ratios against PyHessian's DataLoader path measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.analysis.hessian import HessianOperator, spectrum, top_eigen
from landscape.data import load_data
from landscape.models import create_model

# ----------------------------------------------------------------------------- settings
TOP_K = 5
TOL = 1e-3  # our relative residual bound; PyHessian's tol is on successive iterates
TRACE_PROBES = 100
DENSITY_STEPS = 100
LOADER_BATCH = {"mlp": 100, "resnet20": 128}  # PyHessian's DataLoader batch (measurements on a 2-core CPU)
# ------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def build(case: str, samples: int, device: torch.device):
    if case == "mlp":
        from landscape.hparams import PRESETS, RunConfig
        from landscape.training import train

        data = load_data("mnist1d", device=str(device))
        cfg = RunConfig().replace(**{k: v for k, v in PRESETS["mlp-mnist1d"].items()})
        model = create_model("mlp", data.in_shape, data.num_classes, seed=0).to(device)
        steps = 36 * data.steps_per_epoch(cfg.data.batch_size)
        train(model, data, cfg.train, cfg.data.batch_size, stop=steps, show_progress=False)
    elif case == "resnet20":
        data = load_data("synthetic-cifar", device=str(device))
        model = create_model("resnet20", data.in_shape, data.num_classes, seed=0).to(device)
    else:
        raise SystemExit(f"unknown case {case!r}: use mlp or resnet20")
    x, y = data.tensors("train", samples)
    return model.eval(), x, y


def rel_err(values, ref) -> float:
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1][: len(ref)]
    return float(np.max(np.abs(v - ref) / np.abs(ref)))


HVPS = [0]  # PyHessian's Hessian-vector products, counted by the wrappers below


def pyhessian_comp(model, x, y, mode: str, batch: int, device: torch.device):
    import sys

    import pyhessian  # noqa: F401  (its package attribute `hessian` is the class, not the module)

    ph = sys.modules["pyhessian.hessian"]

    if not getattr(ph, "_counted", False):  # count products without changing them
        inner = ph.hessian_vector_product

        def counted(*a, **kw):
            HVPS[0] += 1
            return inner(*a, **kw)

        ph.hessian_vector_product, ph._counted = counted, True
    cuda = device.type == "cuda"
    if mode == "batch":
        comp = ph.hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=cuda)
    else:
        loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=False)
        comp = ph.hessian(model, nn.CrossEntropyLoss(), dataloader=loader, cuda=cuda)
        inner_dl = comp.dataloader_hv_product

        def counted_dl(v):
            HVPS[0] += 1
            return inner_dl(v)

        comp.dataloader_hv_product = counted_dl
    HVPS[0] = 0
    return comp


def _clear_grads(model: nn.Module) -> None:
    for p in model.parameters():  # PyHessian leaves graph-holding tensors in .grad
        p.grad = None


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=("mlp", "resnet20"), default="mlp")
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--parts", default="eigen,trace,density", help="comma-separated subset")
    ap.add_argument("--probes", type=int, default=TRACE_PROBES, help="trace probes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--batch-max", type=int, default=4096,
                    help="largest sample count for pyhessian-batch (its graph must fit memory)")  # fmt: skip
    ap.add_argument("--skip-methods", action="store_true", help="do not time each HVP method")
    ap.add_argument("--out", default="", help="write the measurements as JSON here")
    ap.add_argument("--reference", default="",
                    help="reuse the reference eigenvalues of an earlier --out JSON (same case, samples)")  # fmt: skip
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    parts = set(args.parts.split(","))
    model, x, y = build(args.case, args.samples, device)
    n = int(x.shape[0])
    batch = LOADER_BATCH[args.case]
    rec = {"case": args.case, "samples": n, "device": str(device), "date": str(date.today()),
           "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "rows": []}  # fmt: skip
    rows = rec["rows"]

    def log(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    if "eigen" in parts:
        ref_model = model if args.case == "resnet20" else _double(model)
        rx = x if args.case == "resnet20" else x.double()
        # float64 reaches 1e-7; float32 products carry ~1e-6 roundoff, so 1e-5 there (the
        # eigenvalue error is ~ residual²/gap, far below the 1e-3 being compared).
        ref_tol = 1e-5 if args.case == "resnet20" else 1e-7
        if args.reference:  # the same seeded computation, from an earlier run's JSON
            ref_row = next(r for r in json.loads(Path(args.reference).read_text())["rows"]
                           if r["part"] == "reference")  # fmt: skip
            ref_vals = np.asarray(ref_row["eigenvalues"])
            log({**ref_row, "from": args.reference})
        else:
            ref, sec = _timed(
                lambda: top_eigen(HessianOperator(ref_model, (rx, y)), _dim(model), TOP_K, tol=ref_tol,
                                  max_steps=300, dtype=next(ref_model.parameters()).dtype, device=device),
                device,
            )  # fmt: skip
            ref_vals = ref.values
            log({"part": "reference", "eigenvalues": ref_vals.tolist(), "seconds": sec,
                 "hvps": ref.steps, "converged": ref.converged, "samples": n})  # fmt: skip
        methods = ["auto"] + (
            [] if args.skip_methods else ["cached", "double-backward", "forward-over-reverse"]
        )
        for method in methods:
            if method == "cached" and n > args.batch_max:
                log({"part": "eigen", "who": "ours-cached", "skipped": f"graph of {n} samples"})
                continue
            res, sec = _timed(
                lambda m=method: spectrum(model, (x, y), top_k=TOP_K, tol=TOL, method=m), device
            )
            log({"part": "eigen", "who": f"ours-{method}", "seconds": sec, "hvps": res.hvp_count["total"],
                 "hvp_method": res.hvp_method, "rel_err": rel_err(res.eigenvalues, ref_vals),
                 "eigenvalues": res.eigenvalues.tolist()})  # fmt: skip
        for mode in ("loader", "batch"):
            if mode == "batch" and n > args.batch_max:
                log({"part": "eigen", "who": "pyhessian-batch", "skipped": f"graph of {n} samples"})
                continue
            torch.manual_seed(0)

            def run(mode=mode):
                comp = pyhessian_comp(model, x, y, mode, batch, device)
                return comp.eigenvalues(top_n=TOP_K)[0]

            vals, sec = _timed(run, device)
            _clear_grads(model)
            log({"part": "eigen", "who": f"pyhessian-{mode}", "seconds": sec, "hvps": HVPS[0],
                 "rel_err": rel_err(vals, ref_vals), "eigenvalues": list(map(float, vals))})  # fmt: skip

    if "trace" in parts:
        op_res, sec = _timed(
            lambda: spectrum(model, (x, y), top_k=0, trace_probes=args.probes), device
        )
        log({"part": "trace", "who": "ours-auto", "seconds": sec, "hvps": op_res.hvp_count["total"],
             "trace": op_res.trace, "stderr": op_res.trace_stderr, "hvp_method": op_res.hvp_method})  # fmt: skip
        for mode in ("loader", "batch"):
            if mode == "batch" and n > args.batch_max:
                log({"part": "trace", "who": "pyhessian-batch", "skipped": f"graph of {n} samples"})
                continue
            torch.manual_seed(0)

            def run(mode=mode):
                comp = pyhessian_comp(model, x, y, mode, batch, device)
                return np.array(comp.trace(maxIter=args.probes, tol=0.0))

            s, sec = _timed(run, device)
            _clear_grads(model)
            log({"part": "trace", "who": f"pyhessian-{mode}", "seconds": sec, "hvps": HVPS[0],
                 "trace": float(s.mean()), "stderr": float(s.std(ddof=1) / math.sqrt(len(s)))})  # fmt: skip

    if "density" in parts:
        res, sec = _timed(lambda: spectrum(model, (x, y), top_k=0, density=True,
                                           density_steps=DENSITY_STEPS), device)  # fmt: skip
        log({"part": "density", "who": "ours-auto", "seconds": sec, "hvps": res.hvp_count["total"],
             "hvp_method": res.hvp_method})  # fmt: skip
        torch.manual_seed(0)
        comp = pyhessian_comp(model, x, y, "loader", batch, device)
        t0 = time.perf_counter()
        try:
            comp.density(iter=DENSITY_STEPS, n_v=1)
            outcome = "ok"
        except Exception as exc:  # PyHessian 0.1 calls torch.eig, removed from torch
            outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        _clear_grads(model)
        log({"part": "density", "who": "pyhessian-loader", "seconds": time.perf_counter() - t0,
             "hvps": HVPS[0], "outcome": outcome})  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(rec, indent=1) + "\n")
    _table(rec)


def _dim(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _double(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).double()


def _table(rec: dict) -> None:
    base = {r["part"]: r["seconds"] for r in rec["rows"] if r.get("who") == "pyhessian-loader"}
    print(f"\n{rec['case']}, {rec['samples']} samples, {rec['device']}, {rec['threads']} threads, "
          f"torch {rec['torch']}, {rec['date']}")  # fmt: skip
    print("| part | who | seconds | HVPs | rel. err top-5 | speed-up vs pyhessian-loader | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rec["rows"]:
        if r["part"] == "reference":
            continue
        if "skipped" in r:
            print(f"| {r['part']} | {r['who']} | — | — | — | — | skipped: {r['skipped']} |")
            continue
        speed = base.get(r["part"])
        ratio = f"{speed / r['seconds']:.2f}×" if speed and r["part"] != "density" else "—"
        err = f"{r['rel_err']:.1e}" if "rel_err" in r else "—"
        note = r.get("outcome") or r.get("hvp_method") or ""
        if "trace" in r:
            note = f"{r['trace']:.4g} ± {r['stderr']:.2g} " + note
        print(f"| {r['part']} | {r['who']} | {r['seconds']:.2f} | {r.get('hvps', '—')} | {err} | "
              f"{ratio} | {note} |")  # fmt: skip


if __name__ == "__main__":
    main()
