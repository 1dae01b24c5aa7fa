"""landscape: loss-landscape analysis for neural-network pruning research.

Pruning runners (IMP-WR/LRR/FT, retraining schedules, BIMP, SWAMP) write run
directories; analyses (connectivity, slices, Hessian spectra, the flatness bound)
read them; plots read only results. ``docs/science.md`` explains the algorithms.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
