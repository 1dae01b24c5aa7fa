"""Plots: one function per figure kind, reading only result files (JSON), returning ``(fig, ax)``.

Plot functions never compute: every number they draw was written by an analysis.
Submodules: ``connectivity`` (paths, barriers, barrier matrix), ``slices``
(2-D contour planes), ``hessian`` (spectra).

No module here imports torch or the code that reads run directories (runs, runners,
training, data, models): results and ``metrics.json`` records are read through the
torch-free :mod:`landscape.io`.
"""
