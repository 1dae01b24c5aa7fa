"""The Hessian spectrum engine (docs/science.md): products, Lanczos, Hutchinson, SLQ.

- ``hvp``: :class:`HessianOperator`, ``v ↦ H_m v`` over a whole fixed data set;
- ``linop``: :func:`as_linear_operator`, that operator as a SciPy ``LinearOperator``;
- ``lanczos``: :func:`top_eigen` (Lanczos with full reorthogonalisation);
- ``hutchinson``: :func:`hutchinson` trace with its standard error;
- ``slq``: :func:`slq`, :func:`spectral_density`, :func:`trace_fn` (``tr f(H)``);
- ``gauss_newton``: the generalised Gauss-Newton and empirical Fisher products
  (``HessianOperator(..., curvature="ggn" | "fisher")``);
- ``hutchinson``: also :func:`hutchpp` (Hutch++);
- ``overlap``: :func:`eigenspace_overlap`, :func:`overlap_matrix` of top-k eigenspaces;
- ``probes``: seeded random vectors drawn on the CPU (same on every device);
- ``spectrum``: :func:`spectrum`, all of the above in one call.

The public entry point is :mod:`landscape.hessian`.
"""

from landscape.analysis.hessian.diagonal import (
    curvature_diagonal,
    exact_trace,
    linearity_obstacle,
    require_linearity,
)
from landscape.analysis.hessian.gauss_newton import CURVATURES, fisher_product, ggn_product
from landscape.analysis.hessian.hutchinson import TRACE_METHODS, Estimate, hutchinson, hutchpp
from landscape.analysis.hessian.hvp import (
    METHODS,
    HessianOperator,
    default_chunk_size,
    param_groups,
)
from landscape.analysis.hessian.lanczos import LanczosRun, TopEigen, lanczos, top_eigen
from landscape.analysis.hessian.linop import HessianLinearOperator, as_linear_operator
from landscape.analysis.hessian.overlap import Overlap, eigenspace_overlap, overlap_matrix
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
    "CURVATURES",
    "METHODS",
    "TRACE_METHODS",
    "Density",
    "Estimate",
    "HessianLinearOperator",
    "HessianOperator",
    "LanczosRun",
    "Overlap",
    "Quadrature",
    "Spectrum",
    "TopEigen",
    "as_linear_operator",
    "curvature_diagonal",
    "default_chunk_size",
    "eigenspace_overlap",
    "exact_trace",
    "fisher_product",
    "ggn_product",
    "hutchinson",
    "hutchpp",
    "lanczos",
    "linearity_obstacle",
    "overlap_matrix",
    "param_groups",
    "quadrature_trace",
    "require_linearity",
    "slq",
    "spectral_density",
    "spectrum",
    "top_eigen",
    "trace_fn",
]
