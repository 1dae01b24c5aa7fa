"""Bench: time to the Hessian's top-5 eigenvalues, trace and density, ours vs PyHessian,
hessian-eigenthings 1.0 and curvlinops 3.

Run by hand (never in the test suite); every number in bench/RESULTS.md comes
from a command of this form:

    python3 bench/bench_hessian.py --case mlp
    python3 bench/bench_hessian.py --case resnet20 --samples 4096 --parts eigen
    python3 bench/bench_hessian.py --case resnet20 --device cuda          # on a GPU
    PYTHONPATH=$PWD:/tmp/curvbench python3 bench/bench_hessian.py --case mlp --threads 1 \
        --contestants ours,eigenthings,curvlinops --trace-reference 3000
    PYTHONPATH=$PWD:/tmp/curvbench python3 bench/bench_hessian.py --case mlp --threads 1 \
        --contestants ours,eigenthings,curvlinops --feed loader --feed-batch 125
    PYTHONPATH=$PWD:/tmp/curvbench python3 bench/bench_hessian.py --case mlp --threads 1 \
        --contestants ours,eigenthings,curvlinops --parts pass   # one pass of each kind

hessian-eigenthings and curvlinops are optional development installs, not dependencies
(``pip install hessian-eigenthings curvlinops-for-pytorch``, or ``pip install --target
/tmp/curvbench --no-deps`` them with backpack-for-pytorch, einconv, einops, opt-einsum and
linear_operator to leave the environment alone); a contestant that does not import is
skipped with the reason printed.

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
  SLQ), ``method="auto"``, plus each HVP method forced, for the record;
- ``eigenthings``: hessian-eigenthings 1.0 (``HessianOperator`` over the samples as
  ``--feed`` gives them): ``lanczos(k=5)`` with its default 10 steps (``2k``) and
  with 20 and 30; ``hutchinson`` and ``hutch_plus_plus`` with the same products;
  ``spectral_density(num_runs=1, lanczos_steps=100)``;
- ``curvlinops``: curvlinops 3 (``HessianLinearOperator`` over the samples as ``--feed``
  gives them): SciPy's ``eigsh(k=5, which="LA")`` on ``to_scipy()`` with ``tol=1e-3`` (ARPACK's
  relative residual, our tolerance) and ``tol=0`` (its default, machine precision);
  ``hutchinson_trace`` and ``hutchpp_trace`` with the same products;
  ``lanczos_approximate_spectrum(ncv=100)`` (Papyan 2020, as its docs show).

Feeding (``--feed``): ``tensors`` (default) gives ours, hessian-eigenthings and
curvlinops the samples as one pre-collated batch (the libraries' fastest set-up for the
MLP's rows except curvlinops' trace, which is faster from a loader);
``loader`` gives each of them the same ``DataLoader(TensorDataset(x, y),
batch_size=--feed-batch)``, as their documentation shows it. Ours reads a loader once and
merges its batches into large chunks; the others iterate it on every product.

Accuracy: the top-5 from each contestant against a reference (our Lanczos with a
residual bound of 1e-7 in float64 on the MLP, 1e-5 in float32 on ResNet-20), as the
largest relative error.
The trace: for a network piecewise linear in each weight (both cases) its exact value is
the exact diagonal summed (``ours-exact``, analysis/hessian/diagonal.py); the reference is
that sum in float64 (``--trace-reference exact``, the default), or our Hutch++ in float64
over ``N`` products (``--trace-reference N``; 0: none), and each row reports its distance.
Speed claims are ratios against PyHessian's DataLoader path, and against ours (the
``× ours`` column: how many times longer the contestant took), measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
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

from landscape.analysis.hessian import (
    HessianOperator,
    exact_trace,
    hutchpp,
    linearity_obstacle,
    spectrum,
    top_eigen,
)
from landscape.data import load_data
from landscape.models import create_model

# ----------------------------------------------------------------------------- settings
TOP_K = 5
TOL = 1e-3  # our relative residual bound; PyHessian's tol is on successive iterates
TRACE_PROBES = 100
DENSITY_STEPS = 100
LOADER_BATCH = {
    "mlp": 100,
    "resnet20": 128,
}  # PyHessian's DataLoader batch (measurements on a 2-core CPU)
# ------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CPU = [0.0]  # the process's CPU seconds of the last _timed call


def _timed(fn, device):
    """``fn()`` and its wall seconds; its process CPU seconds go to ``CPU[0]`` (with one
    thread, the work itself, whatever else the shared machine runs)."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    CPU[0] = time.process_time() - c0
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
    ap.add_argument("--parts", default="eigen,trace,density",
                    help="comma-separated subset of eigen, trace, density, pass (the cost of one "
                    "forward + backward and of one product of each kind, alone)")  # fmt: skip
    ap.add_argument("--probes", type=int, default=TRACE_PROBES, help="trace probes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--batch-max", type=int, default=4096,
                    help="largest sample count for pyhessian-batch (its graph must fit memory)")  # fmt: skip
    ap.add_argument("--skip-methods", action="store_true", help="do not time each HVP method")
    ap.add_argument("--out", default="", help="write the measurements as JSON here")
    ap.add_argument("--contestants", default="ours,pyhessian",
                    help="comma-separated: ours, pyhessian, eigenthings, curvlinops")  # fmt: skip
    ap.add_argument("--trace-reference", default="exact", type=_trace_reference,
                    help="the trace's reference: exact (float64 exact diagonal), or N products "
                    "of a float64 Hutch++ (0: none)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each new contestant's row this many times, keep the fastest")  # fmt: skip
    ap.add_argument("--feed", choices=("tensors", "loader"), default="tensors",
                    help="what ours, hessian-eigenthings and curvlinops are given: the samples "
                    "as one (inputs, targets) pair, or one DataLoader of --feed-batch")  # fmt: skip
    ap.add_argument("--feed-batch", type=int, default=125,
                    help="the DataLoader's batch size with --feed loader")  # fmt: skip
    ap.add_argument("--reference", default="",
                    help="reuse the reference eigenvalues of an earlier --out JSON (same case, samples)")  # fmt: skip
    args = ap.parse_args()
    if args.feed_batch < 1:
        ap.error(f"--feed-batch must be positive, got {args.feed_batch}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    parts = set(args.parts.split(","))
    who = set(args.contestants.split(","))
    args.trace_ref = None
    model, x, y = build(args.case, args.samples, device)
    n = int(x.shape[0])
    batch = LOADER_BATCH[args.case]
    rec = {"case": args.case, "samples": n, "device": str(device), "date": str(date.today()),
           "torch": torch.__version__, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "feed": args.feed,
           "feed_batch": args.feed_batch if args.feed == "loader" else None, "rows": []}  # fmt: skip
    rows = rec["rows"]

    def log(row):
        if "seconds" in row and "cpu_seconds" not in row:
            row["cpu_seconds"] = CPU[0]
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
            res, sec = _best(
                lambda m=method: spectrum(model, fed(x, y, args), top_k=TOP_K, tol=TOL, method=m),
                device,
                args.repeat,
            )
            log({"part": "eigen", "who": f"ours-{method}", "seconds": sec, "hvps": res.hvp_count["total"],
                 "hvp_method": res.hvp_method, "rel_err": rel_err(res.eigenvalues, ref_vals),
                 "eigenvalues": res.eigenvalues.tolist()})  # fmt: skip
        # ours-unmerged: the loader's batches as given, one pass each (ours before 81ea94f)
        if args.feed == "loader":
            res, sec = _best(lambda: spectrum(model, fed(x, y, args), top_k=TOP_K, tol=TOL,
                                              chunk_size=args.feed_batch), device, args.repeat)  # fmt: skip
            log({"part": "eigen", "who": "ours-unmerged", "seconds": sec,
                 "hvps": res.hvp_count["total"], "hvp_method": res.hvp_method,
                 "rel_err": rel_err(res.eigenvalues, ref_vals), "eigenvalues": res.eigenvalues.tolist()})  # fmt: skip
        for mode in ("loader", "batch") if "pyhessian" in who else ():
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
        args.ref_vals = ref_vals
        for name in ("eigenthings", "curvlinops"):
            if name in who:
                CONTESTANTS[name](model, x, y, device, "eigen", log, args)

    if "trace" in parts:
        obstacle = linearity_obstacle(model)  # the exact diagonal needs piecewise linearity
        if obstacle is not None and args.trace_reference == "exact":
            args.trace_reference = 0
            log({"part": "trace-reference", "skipped": f"no exact diagonal: {obstacle}"})
        if args.trace_reference == "exact":
            op = HessianOperator(_double(model), (x.double(), y))
            value, sec = _timed(lambda: exact_trace(op), device)
            args.trace_ref = (value, 0.0)
            log({"part": "trace-reference", "trace": value, "stderr": 0.0, "seconds": sec,
                 "hvps": 0, "how": "float64 exact diagonal"})  # fmt: skip
        elif args.trace_reference:
            ref_model = _double(model)
            op = HessianOperator(ref_model, (x.double(), y))
            products = args.trace_reference
            est, sec = _timed(lambda: hutchpp(op, op.dim, products, seed=12345,
                                              dtype=torch.float64, device=device), device)  # fmt: skip
            args.trace_ref = (est.value, est.stderr)
            log({"part": "trace-reference", "trace": est.value, "stderr": est.stderr,
                 "seconds": sec, "hvps": products})  # fmt: skip
        if obstacle is None:
            op_res, sec = _best(lambda: spectrum(model, fed(x, y, args), top_k=0, trace_method="exact",
                                                 trace_probes=1), device, args.repeat)  # fmt: skip
            log({"part": "trace", "who": "ours-exact", "seconds": sec,
                 "hvps": op_res.hvp_count["total"], "trace": op_res.trace, "stderr": 0.0,
                 **_trace_err(op_res.trace, args)})  # fmt: skip
        else:
            log({"part": "trace", "who": "ours-exact", "skipped": obstacle})
        for tm in ("hutchinson", "hutchpp"):
            op_res, sec = _best(lambda tm=tm: spectrum(model, fed(x, y, args), top_k=0, trace_method=tm,
                                                       trace_probes=_products(tm, args)),
                                device, args.repeat)  # fmt: skip
            log({"part": "trace", "who": "ours-auto" if tm == "hutchinson" else "ours-hutchpp",
                 "seconds": sec, "hvps": op_res.hvp_count["total"], "trace": op_res.trace,
                 "stderr": op_res.trace_stderr, "hvp_method": op_res.hvp_method,
                 **_trace_err(op_res.trace, args)})  # fmt: skip
        for name in ("eigenthings", "curvlinops"):
            if name in who:
                CONTESTANTS[name](model, x, y, device, "trace", log, args)
        for mode in ("loader", "batch") if "pyhessian" in who else ():
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
        res, sec = _best(lambda: spectrum(model, fed(x, y, args), top_k=0, density=True,
                                          density_steps=DENSITY_STEPS), device, args.repeat)  # fmt: skip
        log({"part": "density", "who": "ours-auto", "seconds": sec, "hvps": res.hvp_count["total"],
             "hvp_method": res.hvp_method})  # fmt: skip
        if "pyhessian" in who:
            _pyhessian_density(model, x, y, batch, device, log)
        for name in ("eigenthings", "curvlinops"):
            if name in who:
                CONTESTANTS[name](model, x, y, device, "density", log, args)
    if "pass" in parts:
        pass_rows(model, x, y, device, log, args)
        for name in ("eigenthings", "curvlinops"):
            if name in who:
                CONTESTANTS[name](model, x, y, device, "pass", log, args)
    if args.out:
        Path(args.out).write_text(json.dumps(rec, indent=1) + "\n")
    _table(rec)
    _table_vs_ours(rec)


PASS_LOOP = 20  # calls per timing of one pass


def _per_call(fn, device, args) -> tuple[float, float]:
    """Wall and CPU seconds of one ``fn()``: the fastest of ``--repeat`` loops of
    :data:`PASS_LOOP` calls, after one call to warm up."""
    fn()
    _, sec = _best(lambda: [fn() for _ in range(PASS_LOOP)], device, args.repeat)
    return sec / PASS_LOOP, CPU[0] / PASS_LOOP


def _probe(model: nn.Module, device: torch.device) -> torch.Tensor:
    return torch.randn(_dim(model), generator=torch.Generator().manual_seed(0)).to(device)


def pass_rows(model, x, y, device, log, args) -> None:
    """One forward + backward of the loss, and one of our products by each method, alone
    (always on the samples as one batch): what a product costs in passes."""
    params = [p for p in model.parameters() if p.requires_grad]
    v = _probe(model, device)
    calls = {
        "fwd+bwd": lambda: torch.autograd.grad(nn.functional.cross_entropy(model(x), y), params)
    }
    for m in ("cached", "double-backward", "forward-over-reverse"):
        op = HessianOperator(model, (x, y), method=m)
        calls[f"ours-{m}"] = lambda op=op: op(v)
    for who, fn in calls.items():
        sec, cpu = _per_call(fn, device, args)
        CPU[0] = cpu
        log({"part": "pass", "who": who, "seconds": sec, "loop": PASS_LOOP})


def fed(x, y, args, listed: bool = False):
    """The samples as a contestant gets them: one pair (in a one-element list where the
    library wants an iterable of batches), or a DataLoader of ``--feed-batch`` (``--feed
    loader``: each library as its documentation shows it, collating on every pass it makes)."""
    if args.feed == "loader":
        return DataLoader(TensorDataset(x, y), batch_size=args.feed_batch)
    return [(x, y)] if listed else (x, y)


def _best(fn, device, repeat: int):
    """The result and the fastest of ``repeat`` timed calls (the machine is shared); the
    least CPU seconds of them go to ``CPU[0]``."""
    best, cpu = None, None
    for _ in range(max(1, repeat)):
        out, sec = _timed(fn, device)
        best = sec if best is None else min(best, sec)
        cpu = CPU[0] if cpu is None else min(cpu, CPU[0])
    CPU[0] = cpu
    return out, best


def _products(method: str, args) -> int:
    """The trace's products: ``--probes``, rounded down to a multiple of 3 for Hutch++ (its
    three equal parts; curvlinops requires it), the same for every contestant."""
    return args.probes if method == "hutchinson" else 3 * (args.probes // 3)


def _trace_reference(text: str) -> str | int:
    """``--trace-reference``: ``exact`` or a number of products (refused at parse time)."""
    if text == "exact":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"exact or a number of products, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"a number of products ≥ 0, got {n}")
    return n


def _trace_err(value: float, args) -> dict:
    if args.trace_ref is None:
        return {}
    ref, ref_se = args.trace_ref
    return {"abs_err": abs(value - ref), "ref_stderr": ref_se}


def _pyhessian_density(model, x, y, batch, device, log) -> None:
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


def _optional(module: str, pip_name: str):
    """The contestant's module, or ``None`` and why (printed in its row)."""
    try:
        return importlib.import_module(module), ""
    except Exception as exc:  # not installed, or it fails to import with this torch
        return None, (f"{module} does not import ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:80]}); pip install {pip_name}")  # fmt: skip


def eigenthings_rows(model, x, y, device, part: str, log, args) -> None:
    """hessian-eigenthings 1.0 on the same samples, fed as ``--feed`` says."""
    he, why = _optional("hessian_eigenthings", "hessian-eigenthings")
    if he is None:
        log({"part": part, "who": "eigenthings", "skipped": why})
        return
    count = [0]

    def operator():
        op = he.HessianOperator(
            model, fed(x, y, args, listed=True), he.supervised_loss(nn.functional.cross_entropy)
        )
        inner = op.matvec

        def counted(v):
            count[0] += 1
            return inner(v)

        op.matvec = counted
        return op

    ver = f"eigenthings {he.__version__}"
    if part == "eigen":
        for steps in (10, 20, 30):  # 10 = its default max_iter = 2k
            count[0] = 0
            res, sec = _best(lambda s=steps: he.lanczos(operator(), k=TOP_K, max_iter=s, which="LA",
                                                        seed=0), device, args.repeat)  # fmt: skip
            vals = res.eigenvalues.double().cpu().numpy()
            log({"part": "eigen", "who": f"eigenthings-lanczos-{steps}", "seconds": sec,
                 "hvps": count[0] // max(1, args.repeat), "rel_err": rel_err(vals, args.ref_vals),
                 "eigenvalues": vals.tolist(), "version": ver})  # fmt: skip
    elif part == "trace":
        for method in ("hutchinson", "hutch++"):
            count[0] = 0
            res, sec = _best(lambda m=method: he.trace(operator(), num_matvecs=_products(m, args),
                                                       method=m, seed=0), device, args.repeat)  # fmt: skip
            log({"part": "trace", "who": f"eigenthings-{method}", "seconds": sec,
                 "hvps": count[0] // max(1, args.repeat), "trace": float(res.estimate),
                 "stderr": float(res.stderr), "version": ver, **_trace_err(float(res.estimate), args)})  # fmt: skip
    elif part == "pass":
        op, v = operator(), _probe(model, device)
        sec, CPU[0] = _per_call(lambda: op.matvec(v), device, args)
        log(
            {
                "part": "pass",
                "who": "eigenthings",
                "seconds": sec,
                "loop": PASS_LOOP,
                "version": ver,
            }
        )
    else:
        count[0] = 0
        _, sec = _best(lambda: he.spectral_density(operator(), num_runs=1, lanczos_steps=DENSITY_STEPS,
                                                   num_grid_points=1000, seed=0), device, args.repeat)  # fmt: skip
        log({"part": "density", "who": "eigenthings-slq", "seconds": sec,
             "hvps": count[0] // max(1, args.repeat), "version": ver})  # fmt: skip


def curvlinops_rows(model, x, y, device, part: str, log, args) -> None:
    """curvlinops 3 on the same samples, fed as ``--feed`` says."""
    cl, why = _optional("curvlinops", "curvlinops-for-pytorch")
    if cl is None:
        log({"part": part, "who": "curvlinops", "skipped": why})
        return
    from importlib.metadata import version

    ver = f"curvlinops {version('curvlinops-for-pytorch')}"
    count = [0]

    def operator():
        params = [p for p in model.parameters() if p.requires_grad]
        op = cl.HessianLinearOperator(model, nn.CrossEntropyLoss(), params,
                                      fed(x, y, args, listed=True),
                                      check_deterministic=False)  # fmt: skip
        inner = op._matmat

        def counted(m):
            count[0] += int(m[0].shape[-1])
            return inner(m)

        op._matmat = counted
        return op

    if part == "eigen":
        from scipy.sparse.linalg import eigsh

        for tol in (1e-3, 0.0):
            count[0] = 0
            gen = np.random.default_rng(0)
            v0 = gen.standard_normal(_dim(model))

            def run(tol=tol, v0=v0):
                return eigsh(operator().to_scipy(np.float32), k=TOP_K, which="LA", tol=tol, v0=v0,
                             return_eigenvectors=False)  # fmt: skip

            vals, sec = _best(run, device, args.repeat)
            log({"part": "eigen", "who": f"curvlinops-eigsh-tol{tol:g}", "seconds": sec,
                 "hvps": count[0] // max(1, args.repeat), "rel_err": rel_err(vals, args.ref_vals),
                 "eigenvalues": sorted(map(float, vals), reverse=True), "version": ver})  # fmt: skip
    elif part == "trace":
        for name, fn in (("hutchinson", cl.hutchinson_trace), ("hutch++", cl.hutchpp_trace)):
            count[0] = 0
            torch.manual_seed(0)
            est, sec = _best(lambda fn=fn, m=name: float(fn(operator(), _products(m, args))), device,
                             args.repeat)  # fmt: skip
            log({"part": "trace", "who": f"curvlinops-{name}", "seconds": sec,
                 "hvps": count[0] // max(1, args.repeat), "trace": est, "stderr": None,
                 "version": ver, **_trace_err(est, args)})  # fmt: skip
    elif part == "pass":
        op, v = operator(), _probe(model, device)
        sec, CPU[0] = _per_call(lambda: op @ v, device, args)
        log(
            {"part": "pass", "who": "curvlinops", "seconds": sec, "loop": PASS_LOOP, "version": ver}
        )
    else:
        count[0] = 0
        torch.manual_seed(0)
        _, sec = _best(lambda: cl.lanczos_approximate_spectrum(operator(), ncv=DENSITY_STEPS,
                                                               num_points=1000), device, args.repeat)  # fmt: skip
        log({"part": "density", "who": "curvlinops-papyan2020", "seconds": sec,
             "hvps": count[0] // max(1, args.repeat), "version": ver})  # fmt: skip


CONTESTANTS = {"eigenthings": eigenthings_rows, "curvlinops": curvlinops_rows}


def _table_vs_ours(rec: dict) -> None:
    """Each row against ours in the same run: ``× ours`` is how many times longer it took."""
    base = {"eigen": "ours-auto", "trace": "ours-auto", "density": "ours-auto", "pass": "fwd+bwd"}
    secs = {(r["part"], r.get("who")): r for r in rec["rows"] if "seconds" in r}
    if ("trace", "ours-exact") in secs:  # the exact trace, where the network allows it
        base["trace"] = "ours-exact"
    print(
        "\n| part | who | wall s | CPU s | HVPs | rel. err top-5 | trace (abs. err) | × ours (wall) "
        "| × ours (CPU) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rec["rows"]:
        if r["part"] not in base or "who" not in r:
            continue
        if "skipped" in r:
            print(f"| {r['part']} | {r['who']} | — | — | — | — | — | — | skipped: {r['skipped']} |")
            continue
        ours = secs.get((r["part"], base[r["part"]]))
        ratio = f"{r['seconds'] / ours['seconds']:.2f}×" if ours else "—"
        cpu_ratio = f"{r['cpu_seconds'] / ours['cpu_seconds']:.2f}×" if ours else "—"
        err = f"{r['rel_err']:.1e}" if "rel_err" in r else "—"
        tr = "—"
        if r.get("trace") is not None:
            se = f" ± {r['stderr']:.2g}" if r.get("stderr") is not None else ""
            tr = f"{r['trace']:.4g}{se}" + (f" ({r['abs_err']:.2g})" if "abs_err" in r else "")
        d = 4 if r["part"] == "pass" else 3  # a pass is milliseconds
        print(f"| {r['part']} | {r['who']} | {r['seconds']:.{d}f} | {r['cpu_seconds']:.{d}f} | "
              f"{r.get('hvps', '—')} | {err} | {tr} | {ratio} | {cpu_ratio} |")  # fmt: skip


def _dim(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _double(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).double()


def _table(rec: dict) -> None:
    base = {r["part"]: r["seconds"] for r in rec["rows"] if r.get("who") == "pyhessian-loader"}
    feed = f"a DataLoader of {rec['feed_batch']}" if rec.get("feed") == "loader" else "one batch"
    print(f"\n{rec['case']}, {rec['samples']} samples ({feed}), {rec['device']}, "
          f"{rec['threads']} threads, torch {rec['torch']}, {rec['date']}")  # fmt: skip
    print("| part | who | seconds | HVPs | rel. err top-5 | speed-up vs pyhessian-loader | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rec["rows"]:
        if "who" not in r:  # the trace reference: a value, not a contestant
            continue
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
            se = f" ± {r['stderr']:.2g}" if r.get("stderr") is not None else ""
            note = f"{r['trace']:.4g}{se} " + note
        print(f"| {r['part']} | {r['who']} | {r['seconds']:.2f} | {r.get('hvps', '—')} | {err} | "
              f"{ratio} | {note} |")  # fmt: skip


if __name__ == "__main__":
    main()
