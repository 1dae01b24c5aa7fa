"""Figures a reader can trust at a glance: what every figure the verbs draw must satisfy.

Every committed record in ``figures/`` that a verb draws (``landscape plot result``) is drawn
again and checked: each data axes has both axis labels, inside the figure; each legend lies
inside the figure and no curve or reference line runs through it; no text reads ``-0.000``;
and the cases that went wrong before are planted: a 13-level barrier matrix with ``-0.0``
cells and no BatchNorm, a slice whose sets are empty, small multiples of histograms, the
flatness-bound figures' legends, the units on the axes.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from landscape.plotting import DRAWERS
from landscape.plotting._common import bn_note, cell_label

FIGURES = Path(__file__).resolve().parent.parent / "figures"
NEGATIVE_ZERO = re.compile(r"(?<![\w.])-0(\.0+)?(?![\d.])")  # -0, -0.0, -0.000, not -0.01


def _records() -> list[Path]:
    out = []
    for path in sorted(FIGURES.glob("*.json")):
        rec = json.loads(path.read_text())
        if isinstance(rec, dict) and rec.get("kind") in DRAWERS:
            out.append(path)
    return out


def _draw(path_or_record, kind: str | None = None) -> Figure:
    rec = path_or_record
    if not isinstance(rec, dict):
        rec = json.loads(Path(rec).read_text())
    module, name = DRAWERS[kind or rec["kind"]].split(":")
    fig = getattr(importlib.import_module(module), name)(rec)[0]
    return fig


def _data_axes(fig: Figure):
    """The axes that show data (not colour bars, not panels switched off)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]


def _line_points(line: Line2D, samples: int = 100) -> np.ndarray:
    """Display coordinates a line covers: its vertices, and points along each segment when it
    is drawn as a line (an ``axvline`` has only two vertices, at the axes' edges)."""
    xy = np.column_stack([np.asarray(v, dtype=np.float64) for v in line.get_data()])
    xy = line.get_transform().transform(xy)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if line.get_linestyle() in ("None", "none", "", " ") or len(xy) < 2:
        return xy
    t = np.linspace(0.0, 1.0, samples)[:, None, None]
    return (xy[:-1][None] * (1 - t) + xy[1:][None] * t).reshape(-1, 2)


def legend_hides_data(fig: Figure) -> list[str]:
    """The lines (curves, markers, reference lines) that run through their axes' legend, in
    the part of the legend that lies over the data area (``fig`` drawn first)."""
    renderer = fig.canvas.get_renderer()
    hidden = []
    for ax in _data_axes(fig):
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        area = ax.get_window_extent(renderer)
        for line in ax.lines:
            if not line.get_visible():
                continue
            x, y = _line_points(line).T
            over = (x >= max(box.x0, area.x0)) & (x <= min(box.x1, area.x1))
            over &= (y >= max(box.y0, area.y0)) & (y <= min(box.y1, area.y1))
            if over.any():
                hidden.append(f"{ax.get_ylabel()!r}: {line.get_label()!r} runs through the legend")
    return hidden


def _inside(ext, box) -> bool:
    """Whether the extent ``ext`` lies inside ``box`` (a pixel of slack for rounding)."""
    return (
        ext.x0 >= box.x0 - 1 and ext.y0 >= box.y0 - 1 and ext.x1 <= box.x1 + 1
        and ext.y1 <= box.y1 + 1
    )  # fmt: skip


def check_figure(fig: Figure) -> list[str]:
    """What is wrong with ``fig`` at a glance (empty: nothing)."""
    fig.set_dpi(40)  # geometry scales with the dpi; fewer pixels draw faster
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    problems = []
    for k, ax in enumerate(_data_axes(fig)):
        where = f"axes {k} ({ax.get_title()!r})"
        if not ax.get_xlabel().strip():
            problems.append(f"{where}: no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{where}: no y label")
        for axis, label in (("x", ax.xaxis.label), ("y", ax.yaxis.label)):
            ext = label.get_window_extent(renderer)
            if label.get_text() and not _inside(ext, box):
                problems.append(f"{where}: {axis} label {label.get_text()!r} is clipped")
        legend = ax.get_legend()
        if legend is not None:
            ext = legend.get_window_extent(renderer)
            if not _inside(ext, box):
                problems.append(f"{where}: legend runs past the figure's edge")
    problems += legend_hides_data(fig)
    for text in fig.findobj(Text):
        if text.get_visible() and NEGATIVE_ZERO.search(text.get_text()):
            problems.append(f"text {text.get_text()!r} shows a negative zero")
    return problems


def test_cell_label_never_shows_a_negative_zero():
    assert cell_label(-1e-17) == "0.000" and cell_label(-0.0) == "0.000"
    assert cell_label(-0.0004) == "0.000" and cell_label(-0.0006) == "-0.001"
    assert cell_label(0.1234) == "0.123" and cell_label(-0.04, 1) == "0.0"
    assert cell_label(2.5e-4, 2) == "0.00"


@pytest.mark.parametrize("path", _records(), ids=lambda p: p.stem)
def test_every_committed_record_draws_a_figure_read_at_a_glance(path: Path):
    assert check_figure(_draw(path)) == []


def _matrix_record(n: int, has_bn: bool) -> dict:
    rng = np.random.default_rng(0)
    mat = np.abs(rng.normal(0, 0.01, (n, n)))
    mat[np.diag_indices(n)] = -0.0  # what a mean of zeros can come out as
    mat[0, 1] = mat[1, 0] = -1e-18
    pos = np.linspace(0, n - 1, 5 * (n - 1) + 1)
    return {
        "kind": "connectivity", "labels": list(range(n)), "bn_policy": "recompute",
        "has_batchnorm": has_bn, "settings": {"split": "test"},
        "path": {"position": pos.tolist(), "errors": (0.03 + 0 * pos).tolist(),
                 "losses": (0.1 + 0 * pos).tolist()},
        "endpoint_errors": [0.03] * n, "endpoint_losses": [0.1] * n,
        "error_matrix": mat.tolist(), "loss_matrix": mat.tolist(),
    }  # fmt: skip


def test_a_13_level_barrier_matrix_is_labelled_in_its_colour_bars_unit():
    fig = _draw(_matrix_record(13, has_bn=False))
    assert check_figure(fig) == []
    cells = [t.get_text() for t in fig.axes[1].texts]
    assert len(cells) == 13 * 13 and "0.000" in cells  # every cell, the -0.0 ones unsigned
    assert all(len(c) == 5 for c in cells)  # one format: the colour bar's fraction, 3 places
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert "fraction" in bar.get_ylabel()
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "BN:" not in titles and "no BatchNorm" in titles  # an MLP has no BN to recompute
    assert "BN: recompute" in " ".join(
        ax.get_title() for ax in _draw(_matrix_record(4, has_bn=True)).axes
    )
    assert bn_note({"bn_policy": "none"}) == "BN: none"  # an old record without the flag


def _slice_record(lcs: np.ndarray | None, matching_level: float) -> dict:
    a = np.linspace(-1, 2, 9)
    b = np.linspace(-1, 2, 9)
    A, B = np.meshgrid(a, b)
    z = 0.03 + 0.01 * (A**2 + B**2)
    rec = {
        "kind": "anchors", "a": a.tolist(), "b": b.tolist(), "bn_policy": "recompute",
        "has_batchnorm": True, "matching_level": matching_level,
        "values": {"test_error": z.tolist(), "train_loss": (z * 3).tolist()},
        "marks": [{"name": n, "a": x, "b": y, "test_error": 0.03, "train_loss": 0.1}
                  for n, x, y in (("w^(1)", 0, 0), ("m_2 ⊙ w^(1)", 1, 0), ("w^(2)", 0.5, 1))],
    }  # fmt: skip
    if lcs is not None:
        rec.update(lcs=lcs.tolist(), lcs_level=0.035, lcs_barrier=0.02)
    return rec


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def _magenta_contours(ax) -> int:
    return sum(1 for c in ax.findobj(ContourSet) if getattr(c, "colors", None) == "magenta")


def test_a_slice_legend_names_only_the_sets_it_draws():
    inside = np.zeros((9, 9), bool)
    inside[2:5, 2:5] = True
    fig = _draw(_slice_record(inside, 0.04), "anchors")
    ax = fig.axes[0]
    assert check_figure(fig) == []
    labels = _legend_texts(ax)
    assert any("LCS" in t for t in labels) and _magenta_contours(ax) == 1
    assert any("error ≤ 0.040" in t for t in labels)
    # An empty set, and a matching level above every grid value: neither is drawn, so
    # neither is named; the marks still are.
    fig = _draw(_slice_record(np.zeros((9, 9), bool), 1.0), "anchors")
    ax = fig.axes[0]
    labels = _legend_texts(ax)
    assert not any("LCS" in t or "≤" in t for t in labels) and _magenta_contours(ax) == 0
    assert len(labels) == 3 and check_figure(fig) == []


def test_histogram_small_multiples_label_every_panel():
    edges = np.linspace(-3, 0, 13)
    hist = np.ones(12) / 3
    levels = [{"level": lv, "hist_projection": hist.tolist(), "hist_retrained": hist.tolist(),
               "threshold": 0.1, "below_retrained": 0.1} for lv in range(3)]  # fmt: skip
    rec = {"kind": "reequilibration", "bin_edges": edges.tolist(),
           "runs": [{"label": m, "levels": levels} for m in ("imp-wr", "imp-ft")]}  # fmt: skip
    from landscape.plotting.reequilibration import plot_histograms

    fig, axes = plot_histograms(rec)
    assert axes.shape == (2, 3) and check_figure(fig) == []


def test_categorical_panels_name_their_axes():
    """Bars per parameter group and dots per mask kind label the category axis too."""
    from landscape.plotting.curvature import plot_curvature
    from landscape.plotting.hessian import plot_layers

    layers = {"kind": "hessian", "groups": [
        {"group": "0", "eigenvalues": [2.0, 1.0], "trace": 5.0},
        {"group": "2", "eigenvalues": [1.0], "trace": None},
    ]}  # fmt: skip
    kappa = {"kind": "curvature", "kappa_random": [0.02, 0.03], "kappa_random_mean": 0.025,
             "kappa_random_std": 0.007, "kappa_magnitude": 0.004, "kappa_ratio": 0.16}  # fmt: skip
    for fig in (plot_layers(layers)[0], plot_curvature(kappa)[0]):
        assert check_figure(fig) == []


def _bound_record() -> dict:
    p = np.linspace(0, 1, 41)
    return {
        "kind": "bound", "ratios": p.tolist(), "num_kept": 100, "method": "exact",
        "rhs": {"magnitude": (100 * (1 - 0.3 * p**2)).tolist(),
                "random": (100 * (1 - 0.6 * p)).tolist()},
        "p_star": {"magnitude": 0.8, "random": 0.62}, "actual_ratio": 0.2,
        "epsilon": 0.09, "epsilon_rule": "dense-train-loss",
        "epsilon_factors": [0.25, 0.5, 1.0, 2.0, 4.0],
        "p_star_epsilon": {"magnitude": [0.6, 0.7, 0.8, 0.85, 0.9],
                           "random": [0.4, 0.5, 0.62, 0.7, 0.75]},
    }  # fmt: skip


def test_bound_legends_lie_outside_the_data_area_and_name_their_units():
    """The p* and run's-ratio verticals crossed the legend wherever it sat inside the axes:
    both bound figures put each legend below its panel, clear of the axes, and inside the
    figure; the error axes say they are fractions."""
    empirical = _draw(FIGURES / "bound_empirical_mnist1d.json")
    for fig in (empirical, _draw(_bound_record())):
        assert check_figure(fig) == []
        renderer = fig.canvas.get_renderer()
        for ax in _data_axes(fig):
            legend = ax.get_legend().get_window_extent(renderer)
            assert not legend.overlaps(ax.get_window_extent(renderer)), ax.get_ylabel()
    labels = [ax.get_ylabel() for ax in _data_axes(empirical)]
    assert labels == ["test error after retraining (fraction)", "error barrier to w^(L) (fraction)"]
    # the record says the MLP has no BatchNorm: no policy is named
    assert "no BatchNorm" in empirical.axes[1].get_title()
    assert "BN:" not in " ".join(t.get_text() for t in empirical.findobj(Text))


def _colour_bar_labels(fig: Figure) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_a_slice_names_its_units_and_batchnorm_only_where_the_network_has_it():
    """The colour bars say fraction / nats; the titles name the BN policy only for a network
    with BatchNorm (the record's ``has_batchnorm``, written by the slice job from the model:
    the 1-D CNN has three BatchNorm1d, so its committed slices rightly say ``BN: recompute``)."""
    without = _slice_record(None, 0.04) | {"has_batchnorm": False}
    fig = _draw(without, "anchors")  # both panels: test error and train loss
    assert check_figure(fig) == []
    assert _colour_bar_labels(fig) == ["test error (fraction)", "train loss (nats)"]
    titles = " ".join(t.get_text() for t in fig.findobj(Text))
    assert "no BatchNorm" in titles and "BN:" not in titles
    from landscape.plotting.slices import plot_slices

    committed = plot_slices(FIGURES / "slice_cnn1d_tau0_level2.json")[0]
    assert all("(BN: recompute)" in ax.get_title() for ax in _data_axes(committed))


def test_each_quantity_is_labelled_in_the_unit_the_record_holds_it():
    from landscape.plotting._common import unit, with_unit
    from landscape.plotting.levels import plot_metric_vs_sparsity
    from landscape.plotting.reequilibration import plot_histograms, plot_reequilibration

    assert [unit(q) for q in ("test_error", "test accuracy", "error barrier", "train_loss")] == [
        "fraction", "fraction", "fraction", "nats"]  # fmt: skip
    assert with_unit("κ") == "κ" and with_unit("test error") == "test error (fraction)"
    rows = [{"level": 0, "density": 1.0, "test_accuracy": 0.68},
            {"level": 1, "density": 0.8, "test_accuracy": 0.67}]  # fmt: skip
    ax = plot_metric_vs_sparsity({"IMP-WR": rows})[1]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (
        "weights remaining (%)",
        "test accuracy (fraction)",
    )
    # The share of kept weights below t_L: a fraction on the summary's axis and in the
    # histograms' titles (those said 12.3 % for the axis's 0.123).
    rec = json.loads((FIGURES / "reequilibration_mnist1d.json").read_text())
    assert "(fraction)" in plot_reequilibration(rec)[1].flat[0].get_ylabel()
    below = rec["runs"][0]["levels"][0]["below_retrained"]
    title = plot_histograms(rec)[1][0, 0].get_title()
    assert title.endswith(f"below t_L: {below:.3f}") and "%" not in title
    for name in ("instability_scan_cnn1d_tau0_level2", "robustness_mnist1d"):
        fig = _draw(FIGURES / f"{name}.json")
        assert _data_axes(fig)[0].get_ylabel() == "test error barrier (fraction)"
    fig = _draw(FIGURES / "connectivity_cnn1d_tau0.json")
    assert _data_axes(fig)[0].get_ylabel() == "test error (fraction)"
