"""The README's demo figure → figures/demo_accuracy_vs_sparsity.{png,json}.

Runs ``landscape demo`` (IMP-WR, IMP-LRR and IMP-FT on the MNIST-1D MLP, 10 levels, seed 0,
then its analyses; :func:`landscape.jobs.demo.demo`) into ``--out`` and copies its
accuracy-against-sparsity figure to ``figures/``, with a JSON beside it holding every
level's numbers and what produced them: the command, the date, and the torch version and
commit that trained the runs, the thread count and the demo's wall time. The numbers of docs/results.md's demo
paragraph are read from that JSON. Run from the repository root:

    python3 analysis_scripts/demo_figure.py --out /tmp/landscape_demo

A repeated call with the same ``--out`` reuses the finished runs and analyses (the wall
time it records is then that of the reuse, and says so); a fresh folder reruns the demo.
"""

import argparse
import datetime
import json
import os
import shutil
from pathlib import Path

import torch

from landscape.io import level_metrics, save_json
from landscape.jobs.demo import demo

parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
parser.add_argument("--out", default="/tmp/landscape_demo", help="the demo's folder")
parser.add_argument("--figures", default="figures", help="where the figure and JSON go")
args = parser.parse_args()

out, figures = Path(args.out), Path(args.figures)
fresh = not (out / "runs").exists()
res = demo(out, quiet=True)
figures.mkdir(parents=True, exist_ok=True)
shutil.copyfile(res.figures["accuracy"], figures / "demo_accuracy_vs_sparsity.png")
# What trained the runs (their config.json), not what copied the figure: a reused run may
# come from an older commit.
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
made = json.loads((res.runs["IMP-WR"] / "config.json").read_text())
save_json(figures / "demo_accuracy_vs_sparsity.json", {
    "command": f"landscape demo --out {out} (analysis_scripts/demo_figure.py)",
    "machine": f"{os.cpu_count()} CPU cores, {gpu}, {made['threads']} torch thread(s)",
    "date": datetime.date.today().isoformat(),
    "torch": made["versions"]["torch"],
    "commit": made["git_sha"][:7],
    "runs_created": made["created"],
    "seeds": 1,
    "wall_seconds": round(res.seconds, 1),
    "wall_seconds_note": "a fresh demo" if fresh else "finished runs and results reused",
    "runs": {label: [{k: v for k, v in row.items() if k != "files"} for row in level_metrics(run)]
             for label, run in res.runs.items()},
})  # fmt: skip
print(f"→ {figures / 'demo_accuracy_vs_sparsity.png'} and .json ({res.seconds:.0f} s)")
