"""Benchmark: weight matching of ResNet-20 on the CPU (issue #21: under 10 s).

Two ResNet-20s (CIFAR, 16/32/64 channels, 0.27 M parameters, 12 permutation groups) of
different initialisation seeds, plus, as a check that the time is spent on a real
problem, B = a planted permutation of A (which weight matching must undo exactly).
Measured: deriving the permutation spec from the ``torch.fx`` graph, and
``weight_matching`` (Git Re-Basin Alg. 1: coordinate descent, one linear assignment per
group per sweep, until a sweep changes nothing). Wall and process CPU seconds, median
of ``--repeats``; on a shared machine the CPU time of the single-threaded run is the
steadier number.

    python3 bench/bench_align.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date

import torch

from landscape.analysis.alignment import (
    apply_permutation,
    permutation_spec,
    random_permutation,
    weight_distance,
    weight_matching,
)
from landscape.models import create_model

# ---------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", default="resnet20")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)
# ---------------------------------------------------------------------------


def timed(fn, *fargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*fargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


shape = (3, 32, 32)
a_model = create_model(args.model, shape, 10, seed=0)
b_model = create_model(args.model, shape, 10, seed=1)
a = {k: v.detach() for k, v in a_model.state_dict().items()}
b = {k: v.detach() for k, v in b_model.state_dict().items()}
names = [n for n, _ in a_model.named_parameters()]
x = torch.randn(2, *shape)

rows = {"spec": [], "independent": [], "planted": []}
for _ in range(args.repeats):
    spec, w, c = timed(permutation_spec, a_model, x)
    rows["spec"].append((w, c))
    m, w, c = timed(weight_matching, spec, a, b, names)
    rows["independent"].append((w, c))
    planted = apply_permutation(spec, random_permutation(spec, seed=1), a)
    mp, w, c = timed(weight_matching, spec, a, planted, names)
    rows["planted"].append((w, c))

recovered = all(torch.equal(apply_permutation(spec, mp.perm, planted)[k], a[k]) for k in a)
out = {
    "model": args.model, "parameters": sum(p.numel() for p in a_model.parameters()),
    "groups": spec.sizes(), "threads": args.threads, "repeats": args.repeats,
    "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    "date": date.today().isoformat(),
    "seconds": {k: {"wall": statistics.median(r[0] for r in v),
                    "cpu": statistics.median(r[1] for r in v)} for k, v in rows.items()},
    "independent": {"sweeps": m.sweeps, "distance_before": weight_distance(a, b, names),
                    "distance_after": weight_distance(a, apply_permutation(spec, m.perm, b), names)},
    "planted": {"sweeps": mp.sweeps, "recovered_exactly": recovered},
}  # fmt: skip
print(json.dumps(out, indent=1))
