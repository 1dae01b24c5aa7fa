"""The README's demo figure → figures/demo_accuracy_vs_sparsity.{png,json}.

Trains (or finds) the three runs of ``landscape demo`` — IMP-WR, IMP-LRR and IMP-FT of
the preset, 10 levels of 20%, seed 0, sharing one dense network — and draws test accuracy
against sparsity exactly as the demo does (``landscape_demo/figures/accuracy_vs_sparsity.png``),
with a JSON beside it holding every level's numbers and what produced them: the command,
the date, and the torch version, commit and creation time recorded by the runs themselves.
With the default preset (``mlp-mnist1d``) the runs are the demo's: the same settings give
the same run names, so ``--root landscape_demo/runs`` reuses a finished demo. Run from the
repository root:

    python3 analysis_scripts/demo_figure.py --root landscape_demo/runs

docs/results.md's demo paragraph quotes the JSON.
"""

import datetime
import json
import os

import matplotlib

matplotlib.use("Agg")
import torch
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.jobs.demo import METHODS
from landscape.plotting.levels import plot_metric_vs_sparsity

LEVELS = 10  # the demo's default: density 1.0 → 0.107

args = options(__doc__, "mlp-mnist1d", "demo", seeds=None)
base = base_config(args).replace(levels=LEVELS)
runs = {m.upper(): jobs.prune(base.replace(method=m), root=args.root, quiet=True) for m in METHODS}
fig, _ = plot_metric_vs_sparsity(runs)
png = args.figures / "demo_accuracy_vs_sparsity.png"
fig.savefig(png, dpi=150)

# What trained the runs (their config.json), not what drew the figure: a reused run may
# come from an older commit or torch.
made = json.loads((runs["IMP-WR"] / "config.json").read_text())
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
save_json(png.with_suffix(".json"), {
    "command": command_line(),
    "date": datetime.date.today().isoformat(),
    "machine": f"{os.cpu_count()} CPU cores, {gpu}, {made['threads']} torch thread(s)",
    "torch": made["versions"]["torch"],
    "commit": made["git_sha"][:7],
    "runs_created": made["created"],
    "seeds": 1,
    "runs": {label: [{k: v for k, v in row.items() if k != "files"} for row in level_metrics(run)]
             for label, run in runs.items()},
})  # fmt: skip
print(f"→ {png} and {png.with_suffix('.json')}")
