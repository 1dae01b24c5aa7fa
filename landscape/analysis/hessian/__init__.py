"""The Hessian spectrum engine (docs/science.md): products, Lanczos, Hutchinson, SLQ.

- ``hvp``: :class:`HessianOperator`, ``v ↦ H_m v`` over a whole fixed data set;
- ``linop``: :func:`as_linear_operator`, that operator as a SciPy ``LinearOperator``;
- ``lanczos``: :func:`top_eigen` (Lanczos with full reorthogonalisation);
- ``hutchinson``: :func:`hutchinson` trace with its standard error;
- ``slq``: :func:`slq`, :func:`spectral_density`, :func:`trace_fn` (``tr f(H)``);
- ``probes``: seeded random vectors drawn on the CPU (same on every device);
- ``spectrum``: :func:`spectrum`, all of the above in one call.

The public entry point is :mod:`landscape.hessian`.
"""

from landscape.analysis.hessian.hutchinson import Estimate, hutchinson
from landscape.analysis.hessian.hvp import (
    METHODS,
    HessianOperator,
    default_chunk_size,
    param_groups,
)
from landscape.analysis.hessian.lanczos import LanczosRun, TopEigen, lanczos, top_eigen
from landscape.analysis.hessian.linop import HessianLinearOperator, as_linear_operator
from landscape.analysis.hessian.slq import (
    Density,
    Quadrature,
    quadrature_trace,
    slq,
    spectral_density,
    trace_fn,
)
from landscape.analysis.hessian.spectrum import Spectrum, spectrum

__all__ = [
    "METHODS",
    "Density",
    "Estimate",
    "HessianLinearOperator",
    "HessianOperator",
    "LanczosRun",
    "Quadrature",
    "Spectrum",
    "TopEigen",
    "as_linear_operator",
    "default_chunk_size",
    "hutchinson",
    "lanczos",
    "param_groups",
    "quadrature_trace",
    "slq",
    "spectral_density",
    "spectrum",
    "top_eigen",
    "trace_fn",
]
