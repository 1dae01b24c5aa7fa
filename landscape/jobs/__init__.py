"""The analyses as Python functions: ``job(target, spec) -> Result`` (the Python API).

Each job resolves its targets through one resolver (:func:`resolve`: a run
directory, a level folder, a file in a run, or a bare state dict with a model and
data), reuses a finished result with the same settings or computes one through
``landscape.analysis``, writes the result folder (``result.json`` last), and
returns a :class:`Result` — the record with every number, its folder, and whether
it was reused::

    from landscape import jobs
    from landscape.specs import BarrierSpec, EngineSpec, HessianSpec

    b = jobs.barrier("runs/imp-wr_ab12/level_00", "runs/imp-wr_ab12/level_03",
                     BarrierSpec(points=21, engine=EngineSpec(bn_policy="recompute")))
    b["error_barrier"], b.arrays["errors"]
    h = jobs.hessian("runs/imp-wr_ab12", HessianSpec(top_k=3, trace=True, masked=True))
    h["eigenvalues"], h["trace"]

The command line (``landscape <verb>``) is a thin shell over these functions.
"""

from landscape.jobs.across import connectivity_across
from landscape.jobs.align import align
from landscape.jobs.barrier import barrier
from landscape.jobs.bound import bound
from landscape.jobs.connectivity import connectivity
from landscape.jobs.curvature import curvature
from landscape.jobs.curve import curve
from landscape.jobs.demo import demo
from landscape.jobs.hessian import hessian
from landscape.jobs.instability import instability
from landscape.jobs.prune import prune
from landscape.jobs.reequilibration import reequilibration
from landscape.jobs.robustness import robustness
from landscape.jobs.sharpness import sharpness
from landscape.jobs.slices import slice  # used as jobs.slice (the builtin stays visible)
from landscape.jobs.store import Result
from landscape.jobs.sweep import sweep
from landscape.jobs.targets import Checkpoint, resolve, resolve_run

__all__ = [
    "Checkpoint",
    "Result",
    "align",
    "barrier",
    "bound",
    "connectivity",
    "connectivity_across",
    "curvature",
    "curve",
    "demo",
    "hessian",
    "instability",
    "prune",
    "reequilibration",
    "resolve",
    "resolve_run",
    "robustness",
    "sharpness",
    "slice",
    "sweep",
]
