"""Every file name of a run directory, one function each (docs/architecture.md, "The run directory").

::

    <root>/<method>_<model>-<data>_s<seed>_<hash>/   # RunConfig.run_name; old runs: <method>_<hash>
      config.json
      rewind.safetensors            # w_τ (IMP-WR, SWAMP; dense runs keep w_0 here)
      rewind/step_<τ>.safetensors   # dense runs: w_τ for the IMP-WR runs that share them
      level_00/
        weights.safetensors         # w^(L)
        mask.safetensors            # m_L, the mask level L was trained under
        metrics.json
        particles/p0.safetensors    # SWAMP only
        momentum.safetensors        # gmp, dpf: the optimiser's momentum when the level was taken
        dense.safetensors           # dpf: the dense weights w (weights.safetensors holds m ⊙ w)
        analysis/<kind>_<hash>/result.json
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "STORAGE_KINDS",
    "analysis_dir",
    "config",
    "default_root",
    "dense_weights",
    "is_storage",
    "level_dir",
    "level_number",
    "level_of",
    "levels",
    "mask",
    "metrics",
    "momentum",
    "own_root",
    "particle",
    "particles_dir",
    "result_dir",
    "rewind",
    "rewind_snapshot",
    "run_analysis_dir",
    "run_dir",
    "weights",
]


#: Folders under ``analysis/`` that keep trained networks for a job to reuse (instability's
#: copies, retraced rewind points, robustness's perturbed nets, the bound's one-shot
#: retrainings), not analysis results: listings of a run's analyses pass them over.
STORAGE_KINDS = frozenset(
    {"instability-copies", "rewind-points", "robustness-nets", "bound-retrain"}
)


def is_storage(folder: Path) -> bool:
    """Whether an ``analysis/`` entry is one of :data:`STORAGE_KINDS` (not a result)."""
    return Path(folder).name.rsplit("_", 1)[0] in STORAGE_KINDS


def default_root() -> Path:
    """Where run directories go unless ``--out``/``--root`` says otherwise (``$LANDSCAPE_ROOT`` or ./runs)."""
    return Path(os.environ.get("LANDSCAPE_ROOT", "runs"))


def run_dir(root: Path, name: str, legacy: str) -> Path:
    """``<root>/<name>``, or ``<root>/<legacy>`` (a run's name before readable names) while only
    that one holds a run, so runs made earlier are still found and resumed."""
    root = Path(root)
    if not (root / name).exists() and config(root / legacy).exists():
        return root / legacy
    return root / name


def config(run_dir: Path) -> Path:
    return Path(run_dir) / "config.json"


def rewind(run_dir: Path) -> Path:
    return Path(run_dir) / "rewind.safetensors"


def rewind_snapshot(run_dir: Path, step: int) -> Path:
    """Where a dense run keeps ``w_step`` for the IMP runs that share it: ``rewind.safetensors``
    for step 0 (the initialisation), else ``rewind/step_<step>.safetensors``."""
    return rewind(run_dir) if step == 0 else Path(run_dir) / "rewind" / f"step_{step}.safetensors"


def level_dir(run_dir: Path, level: int) -> Path:
    return Path(run_dir) / f"level_{level:02d}"


def weights(run_dir: Path, level: int) -> Path:
    return level_dir(run_dir, level) / "weights.safetensors"


def mask(run_dir: Path, level: int) -> Path:
    return level_dir(run_dir, level) / "mask.safetensors"


def metrics(run_dir: Path, level: int) -> Path:
    return level_dir(run_dir, level) / "metrics.json"


def momentum(run_dir: Path, level: int) -> Path:
    """The momentum buffers a one-run method (gmp, dpf) resumes its next level from."""
    return level_dir(run_dir, level) / "momentum.safetensors"


def dense_weights(run_dir: Path, level: int) -> Path:
    """DPF's dense weights ``w`` at the level (its ``weights.safetensors`` is ``m ⊙ w``)."""
    return level_dir(run_dir, level) / "dense.safetensors"


def particles_dir(run_dir: Path, level: int) -> Path:
    return level_dir(run_dir, level) / "particles"


def particle(run_dir: Path, level: int, index: int) -> Path:
    return particles_dir(run_dir, level) / f"p{index}.safetensors"


def analysis_dir(run_dir: Path, level: int, kind: str, digest: str) -> Path:
    return level_dir(run_dir, level) / "analysis" / f"{kind}_{digest}"


def run_analysis_dir(run_dir: Path, kind: str, digest: str) -> Path:
    """Results about files outside any level (``rewind.safetensors``, a dense run's init)."""
    return Path(run_dir) / "analysis" / f"{kind}_{digest}"


def result_dir(run_dir: Path, level: int | None, kind: str, digest: str) -> Path:
    """The level's analysis folder, or the run's when the checkpoint is in no level."""
    if level is None:
        return run_analysis_dir(run_dir, kind, digest)
    return analysis_dir(run_dir, level, kind, digest)


def level_number(name: str) -> int | None:
    """``"level_03"`` → 3; any other folder name → ``None`` (the one level-name parser)."""
    if not (name.startswith("level_") and name[6:].isdigit()):
        return None
    n = int(name[6:])
    return n if name == f"level_{n:02d}" else None  # exactly as level_dir spells it


def level_of(path: Path) -> int | None:
    """The level whose folder holds ``path`` (the folder itself included), or ``None``."""
    path = Path(path)
    return next((n for q in (path, *path.parents) if (n := level_number(q.name)) is not None), None)


def levels(run_dir: Path) -> list[int]:
    """Finished levels, in order: those with both weights and ``metrics.json`` (written last)."""
    out = []
    for d in sorted(Path(run_dir).glob("level_*")):
        n = level_number(d.name)
        if n is not None and (d / "weights.safetensors").exists() and (d / "metrics.json").exists():
            out.append(n)
    return sorted(out)  # by number: level_100 after level_99


# A folder the toolkit names after settings: a run ``<method>_<hash>`` under --root, a result
# ``<kind>_<digest>`` (ten hex digits) or ``<kind>_<file digest>`` (sixteen).
_DIGEST_NAME = re.compile(r"[a-z][a-z0-9-]*_[0-9a-f]{10}(?:[0-9a-f]{6})?")
# Folders the toolkit names inside a run, a result folder or a sweep folder.
_OWN_NAMES = frozenset({"analysis", "rewind", "particles", "logs", "slurm", "rewind-points_dense"})


def _named_by_toolkit(name: str) -> bool:
    return (
        name in _OWN_NAMES
        or level_number(name) is not None
        or name.endswith("_analysis")  # results about a bare checkpoint: <stem>_analysis/
        or _DIGEST_NAME.fullmatch(name) is not None
    )


def own_root(folder: Path) -> Path:
    """The folder the user named above ``folder``: ``folder`` without the trailing entries
    the toolkit names itself (``level_NN``, ``analysis``, ``<kind>_<digest>``, ...).

    ``runs/imp_0123456789/level_01/analysis/hessian_abcdef0123`` → ``runs``; a run made
    with ``--out my_run`` → ``my_run``. The toolkit follows symbolic links only above this
    folder, in the path the user gave (:func:`landscape.io.make_folder`): an entry it names
    itself is never a link in a run directory that another person prepared.
    """
    root = Path(folder)
    while _named_by_toolkit(root.name) and root.parent != root:
        root = root.parent
    return root
