"""SIGKILL attack on resumability and process lifetime (docs/reliability.md, "Third pass").

Each trial starts a command, SIGKILLs its parent process (the command itself, or the
torchrun agent) at a random moment between 10 % and 85 % of an uninterrupted run's time,
then counts

- **orphans**: the command's descendants still alive 5.5 s after the kill (workers,
  sweep jobs, torchrun ranks must die with their parent: ``landscape/lifetime.py``);
- **late writes**: entries under the trial's folder whose size or mtime changed between
  0.5 s and 5.5 s after the kill (nothing may write under a lock whose holder is dead);

and then resumes the command and compares its result with the uninterrupted run's: the
tensors of every ``.safetensors`` file (their metadata holds wall-clock seconds) and every
array of every ``result.npz`` of the kind.

Kinds: ``imp-wr``, ``swamp``, ``gmp`` and ``dpf`` (one process), ``torchrun`` (2-rank data-parallel IMP-WR),
``torchrun-swamp`` (2 ranks, one particle each), ``sweep`` (IMP-WR and IMP-LRR,
``--workers 2``), ``robustness --workers 2`` and ``bound --empirical --workers 2`` (on a
2-level IMP-WR run made first). Tiny synthetic runs: about 10-40 s each on 2 cores.

    python bench/attack_reliability.py OUT swamp=5,torchrun=5,sweep=4,robustness=4,bound=4

Prints one line per trial and the totals (also appended to ``OUT/log.txt``). Not a
benchmark of speed: kept here with the other long-running measurements.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
PY = [sys.executable, "-m", "landscape"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "landscape"]  # fmt: skip
SMALL = ["--data", "synthetic", "--model", "mlp", "--batch-size", "128", "--eval-every", "1ep",
         "--threads", "1", "--quiet"]  # fmt: skip
IMP = ["prune", "--method", "imp-wr", "--levels", "2", "--length", "2ep", "--rewind-step", "2",
       *SMALL]  # fmt: skip
SWAMP = ["prune", "--method", "swamp", "--particles", "2", "--levels", "2", "--length", "2ep",
         *SMALL]  # fmt: skip
# GMP/DPF: one 4-epoch run, 3 checkpoints along the cubic schedule (a mask update every 2 steps)
GRADUAL = ["prune", "--levels", "3", "--length", "4ep", "--prune-interval", "2", *SMALL]
SETS = ["data=synthetic", "model=mlp", "length=2ep", "batch-size=128", "eval-every=1ep",
        "levels=2"]  # fmt: skip
SWEEP = ["sweep", "--method", "imp-wr,imp-lrr", "--seeds", "0", "--workers", "2", "--threads", "1",
         *[a for s in SETS for a in ("--set", s)]]  # fmt: skip
ROBUSTNESS = ["--level", "1", "--radii", "1,0", "--seeds", "2", "--points", "3", "--workers", "2",
              "--quiet"]  # fmt: skip
BOUND = ["--level", "1", "--empirical", "--ratios", "0.3,0.6", "--samples", "256", "--probes",
         "2", "--steps", "8", "--workers", "2", "--quiet"]  # fmt: skip


def tensors_digest(f: Path) -> str:
    """SHA-256 of a safetensors file's tensors (names, dtypes, shapes, bytes)."""
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(f), "pt") as z:
        for k in sorted(z.keys()):
            t = z.get_tensor(k)
            h.update(f"{k}{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def safetensors_of(root: Path, pattern: str = "*.safetensors") -> dict[str, str]:
    return {str(f.relative_to(root)): tensors_digest(f) for f in sorted(root.rglob(pattern))
            if f.is_file() and not f.name.startswith(".")}  # fmt: skip


def arrays_of(root: Path, kind: str) -> dict[str, str]:
    import numpy as np

    out = {}
    for f in sorted(root.rglob(f"{kind}_*/result.npz")):
        with np.load(f) as z:
            for k in z.files:
                out[f"{f.relative_to(root)}:{k}"] = hashlib.sha256(z[k].tobytes()).hexdigest()
    return out


# kind: (command for a trial folder, what is compared, whether it analyses the base run)
# fmt: off
KINDS = {
    "imp-wr": (lambda d: [*PY, *IMP, "--out", str(d / "run")], safetensors_of, False),
    "swamp": (lambda d: [*PY, *SWAMP, "--out", str(d / "run")], safetensors_of, False),
    "gmp": (lambda d: [*PY, *GRADUAL, "--method", "gmp", "--out", str(d / "run")],
            safetensors_of, False),
    "dpf": (lambda d: [*PY, *GRADUAL, "--method", "dpf", "--out", str(d / "run")],
            safetensors_of, False),
    "torchrun": (lambda d: [*TORCHRUN, *IMP, "--device", "cpu", "--out", str(d / "run")],
                 safetensors_of, False),
    "torchrun-swamp": (lambda d: [*TORCHRUN, *SWAMP, "--particle-mode", "distributed", "--device",
                                  "cpu", "--out", str(d / "run")], safetensors_of, False),
    "sweep": (lambda d: [*PY, *SWEEP, "--root", str(d)], safetensors_of, False),
    "robustness": (lambda d: [*PY, "robustness", str(d / "run"), *ROBUSTNESS],
                   lambda d: {**arrays_of(d, "robustness"), **safetensors_of(d, "net_*.safetensors")},
                   True),
    "bound": (lambda d: [*PY, "bound", str(d / "run"), *BOUND],
              lambda d: {**arrays_of(d, "bound-empirical"),
                         **safetensors_of(d, "*bound-retrain*/*.safetensors")}, True),
}
# fmt: on


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        try:
            for t in os.listdir(f"/proc/{q}/task"):
                for c in Path(f"/proc/{q}/task/{t}/children").read_text().split():
                    out.append(int(c))
                    todo.append(int(c))
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    """Running, or a zombie some of whose threads still hold its files."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return not (state == "Z" and len(os.listdir(f"/proc/{pid}/task")) <= 1)
    except OSError:
        return False


def entries(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for f in root.rglob("*"):
        try:
            s = f.lstat()
        except OSError:
            continue
        out[str(f)] = (s.st_size, s.st_mtime_ns)
    return out


def kill_trial(cmd: list[str], folder: Path, seconds: float) -> tuple[float, int, list[str], bool]:
    """(moment of the kill, orphans, late writes, whether it had finished before the kill)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    moment = random.uniform(0.1 * seconds, 0.85 * seconds)
    deadline = time.time() + moment
    seen: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        seen.update(descendants(proc.pid))
        time.sleep(0.05)
    if proc.poll() is not None:
        return moment, 0, [], True
    seen.update(descendants(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    before = entries(folder)
    time.sleep(5)
    after = entries(folder)
    late = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    orphans = [p for p in seen if alive(p)]
    for p in orphans:  # counted; ended so that the resume is not blocked by them
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    return moment, len(orphans), late, False


def main(out: Path, plan: list[tuple[str, int]]) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.txt").open("a")

    def say(line: str) -> None:
        print(line, flush=True)
        print(line, file=log, flush=True)

    def run(cmd: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
        t0 = time.time()
        done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
        return done, time.time() - t0

    total = dict(kills=0, identical=0, orphans=0, late_writes=0, finished_before_kill=0,
                 stale_lock=0)  # fmt: skip
    base = out / "base"
    if (
        any(KINDS[k][2] for k, _ in plan)
        and not (base / "run" / "level_02" / "metrics.json").exists()
    ):
        done, _ = run(KINDS["imp-wr"][0](base))
        assert done.returncode == 0, done.stderr
    for kind, trials in plan:
        command, compare, on_base = KINDS[kind]
        ref = out / f"ref_{kind}"
        if not (ref / "seconds").exists():
            shutil.rmtree(ref, ignore_errors=True)
            ref.mkdir(parents=True)
            if on_base:
                shutil.copytree(
                    base / "run", ref / "run", ignore=shutil.ignore_patterns("analysis", ".lock")
                )
            done, seconds = run(command(ref))
            assert done.returncode == 0, (kind, done.stderr[-2000:])
            (ref / "seconds").write_text(str(seconds))
        seconds = float((ref / "seconds").read_text())
        want = compare(ref)
        say(f"{kind}: uninterrupted in {seconds:.0f}s, {len(want)} files/arrays compared")
        for i in range(trials):
            d = out / f"{kind}_{i}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            if on_base:
                shutil.copytree(
                    base / "run", d / "run", ignore=shutil.ignore_patterns("analysis", ".lock")
                )
            moment, orphans, late, early = kill_trial(command(d), d, seconds)
            done, _ = run(command(d))
            stale = "being written" in done.stderr
            got = compare(d)
            same = done.returncode == 0 and got == want
            total["kills"] += not early
            total["identical"] += same and not early
            total["orphans"] += orphans
            total["late_writes"] += len(late)
            total["finished_before_kill"] += early
            total["stale_lock"] += stale
            diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            say(f"{kind} #{i}: killed at {moment:.1f}s{' (had finished: not counted)' if early else ''}, "
                f"orphans {orphans}, files changed after the kill {len(late)} {late[:3]}, "
                f"resume rc {done.returncode}, identical {same}{' STALE LOCK' if stale else ''}"
                + ("" if same else f" diff {diff[:4]} {done.stderr[-400:]}"))  # fmt: skip
    say("TOTAL " + json.dumps(total))
    return total


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    random.seed(int(time.time()))
    main(
        Path(sys.argv[1]), [(k, int(n)) for k, n in (s.split("=") for s in sys.argv[2].split(","))]
    )
