"""Hessian spectra of the training loss: the public Python API (docs/science.md).

::

    from landscape.hessian import spectrum

    result = spectrum(model, (inputs, targets), top_k=5, trace_probes=100, density=True,
                      mask=None, seed=0)
    result.eigenvalues, result.trace, result.trace_stderr
    result.density_grid, result.density

``data`` is a pair of tensors or an iterable of pairs; the loss is the mean
cross-entropy over all of it (``loss_fn=`` to change it), BatchNorm in eval mode.
For other uses, the engine's parts are here too: :class:`HessianOperator`
(``v ↦ H_m v``; :func:`as_linear_operator` or ``op.to_scipy()`` for SciPy's
``eigsh``, ``cg``...), :func:`top_eigen` (Lanczos), :func:`hutchinson` (trace) and
:func:`trace_fn` (``tr f(H)`` by stochastic Lanczos quadrature, e.g.
``tr[(I + c·H)^{-1}]`` for the flatness bound of docs/science.md).
``curvature="ggn" | "fisher"`` measures the generalised Gauss-Newton or the empirical
Fisher instead of the Hessian, :func:`hutchpp` is Hutch++ for the trace,
:func:`exact_trace` the exact trace (from the exact diagonal, :func:`curvature_diagonal`,
where :func:`linearity_obstacle` allows), and :func:`eigenspace_overlap` compares two
networks' top-k eigenspaces.
"""

from landscape.analysis.hessian import (
    CURVATURES,
    METHODS,
    TRACE_METHODS,
    Density,
    Estimate,
    HessianOperator,
    Overlap,
    Quadrature,
    Spectrum,
    TopEigen,
    as_linear_operator,
    curvature_diagonal,
    eigenspace_overlap,
    exact_trace,
    hutchinson,
    hutchpp,
    linearity_obstacle,
    overlap_matrix,
    param_groups,
    quadrature_trace,
    slq,
    spectral_density,
    spectrum,
    top_eigen,
    trace_fn,
)

__all__ = [
    "CURVATURES",
    "METHODS",
    "TRACE_METHODS",
    "Density",
    "Estimate",
    "HessianOperator",
    "Overlap",
    "Quadrature",
    "Spectrum",
    "TopEigen",
    "as_linear_operator",
    "curvature_diagonal",
    "eigenspace_overlap",
    "exact_trace",
    "hutchinson",
    "hutchpp",
    "linearity_obstacle",
    "overlap_matrix",
    "param_groups",
    "quadrature_trace",
    "slq",
    "spectral_density",
    "spectrum",
    "top_eigen",
    "trace_fn",
]
