"""Plots: one function per figure kind, reading only result files (JSON), returning ``(fig, ax)``.

Plot functions never compute: every number they draw was written by an analysis.
Submodules: ``connectivity`` (paths, barriers, barrier matrix), ``slices``
(2-D contour planes), ``hessian`` (spectra).

:data:`DRAWERS` maps a result's ``kind`` to the function that draws it (``landscape plot
result``), each a lazy ``"module:function"`` string.

No module here imports torch or the code that reads run directories (runs, runners,
training, data, models): results and ``metrics.json`` records are read through the
torch-free :mod:`landscape.io`.
"""

__all__ = ["DRAWERS"]

#: Record kind → the function that draws it from the record alone, as a lazy
#: ``"module:function"`` string (``landscape plot result``; importing one loads matplotlib).
DRAWERS: dict[str, str] = {
    "connectivity": "landscape.plotting.connectivity:plot_connectivity",
    "barrier": "landscape.plotting.connectivity:plot_barrier",
    "align": "landscape.plotting.alignment:plot_alignment",
    "connectivity-across": "landscape.plotting.alignment:plot_across",
    "instability": "landscape.plotting.connectivity:plot_barrier",
    "instability-scan": "landscape.plotting.connectivity:plot_instability_scan",
    "anchors": "landscape.plotting.slices:plot_slices",
    "random": "landscape.plotting.slices:plot_slices",
    "hessian": "landscape.plotting.hessian:plot_density",
    "hessian-levels": "landscape.plotting.hessian:plot_levels",
    "oneshot": "landscape.plotting.oneshot:plot_oneshot",
    "schedules": "landscape.plotting.schedules:plot_schedules",
    "robustness": "landscape.plotting.robustness:plot_robustness",
    "curvature": "landscape.plotting.curvature:plot_curvature",
    "curvature-levels": "landscape.plotting.curvature:plot_curvature_levels",
    "reequilibration": "landscape.plotting.reequilibration:plot_reequilibration",
    "bound": "landscape.plotting.bound:plot_bound",
    "bound-levels": "landscape.plotting.bound:plot_bound_levels",
    "bound-empirical": "landscape.plotting.bound:plot_bound_empirical",
    "curve": "landscape.plotting.curves:plot_curve",
    "sharpness": "landscape.plotting.sharpness:plot_sharpness",
    "sharpness-levels": "landscape.plotting.sharpness:plot_sharpness_levels",
}
