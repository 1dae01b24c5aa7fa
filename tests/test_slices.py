"""Planes through three anchors and random filter-normalised planes (docs/science.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscape.analysis.engine import Points, evaluate_points_multi
from landscape.data import load_data
from landscape.models import create_model
from landscape.pruning import ones_mask, prune
from landscape.slices import (
    anchor_plane,
    filter_normalize,
    plane_slice,
    random_directions,
    random_slice,
)


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic")


def _anchors(name: str, data):
    """Paul's three anchors from random states: w, m ⊙ w (20% pruned), and a third state."""
    model = create_model(name, data.in_shape, 10)
    w = create_model(name, data.in_shape, 10, seed=1).state_dict()
    mask = prune(w, ones_mask(model), 0.2)
    proj = {k: (v * mask[k] if k in mask else v.clone()) for k, v in w.items()}
    nxt = create_model(name, data.in_shape, 10, seed=2).state_dict()
    for k in mask:
        nxt[k] = nxt[k] * mask[k]
    return model, w, proj, nxt


def _params(model):
    return [n for n, _ in model.named_parameters()]


def test_anchor_coordinates_are_exact(data):
    model, o, p, n = _anchors("cnn1d", data)
    plane = anchor_plane(o, p, n, _params(model))
    for state, (a, b) in zip((o, p, n), plane.anchors):
        ca, cb = plane.coords(state)
        assert ca == pytest.approx(a, abs=1e-9 * plane.scale)
        assert cb == pytest.approx(b, abs=1e-9 * plane.scale)
        assert plane.distance(state) < 1e-9 * plane.scale
    # The anchors' affine weights are the unit vectors: each anchor is itself.
    a, b = np.array(plane.anchors).T
    np.testing.assert_allclose(plane.coefficients(a, b), np.eye(3), atol=1e-12)
    # e1 runs along the projection: the projection sits at (‖u‖, 0).
    u = torch.cat([(p[k] - o[k]).reshape(-1).double() for k in _params(model)])
    assert plane.anchors[1] == (pytest.approx(float(u.norm()), rel=1e-12), 0.0)
    # Paul's plane: the next solution lives in the same subspace as the projection,
    # so both project to a = ‖u‖ along e1.
    assert plane.v_along == pytest.approx(plane.u_norm, rel=1e-9)


def test_plane_coordinates_are_orthonormal(data):
    model, o, p, n = _anchors("mlp", data)
    names = _params(model)
    plane = anchor_plane(o, p, n, names)
    # Build w(a, b) from the affine weights and read its coordinates back.
    for a, b in ((0.7, -0.2), (-1.5, 2.5)):
        c = plane.coefficients(np.array([a]), np.array([b]))[0]
        w = {k: c[0] * o[k].double() + c[1] * p[k].double() + c[2] * n[k].double() for k in names}
        ca, cb = plane.coords(w)
        assert (ca, cb) == (pytest.approx(a, abs=1e-9), pytest.approx(b, abs=1e-9))
        assert plane.distance(w) < 1e-9


def test_grid_values_at_the_anchors_equal_the_anchors(data):
    # 5 points on [-0.5 s, 1.5 s] put grid nodes at 0 and at s = ‖u‖ when ‖u‖ ≥ ‖v‖.
    model, o, p, _ = _anchors("cnn1d", data)
    half = {k: (0.5 * (o[k] + p[k]) if v.is_floating_point() else v) for k, v in o.items()}
    n = {k: v.clone() for k, v in half.items()}
    n["1.weight"] += 0.01  # a third point close to the segment (1 is the first convolution)
    plane = anchor_plane(o, p, n, _params(model))
    assert plane.u_norm >= plane.v_norm
    sets = {"test": data.tensors("test", 128)}
    res = plane_slice(model, o, p, n, sets, grid=5, margin=0.5, bn_policy="interpolate")
    z = res.values["test_loss"]
    origin, proj = res.marks[0], res.marks[1]
    assert res.a[1] == pytest.approx(0.0, abs=1e-12) and res.b[1] == pytest.approx(0.0, abs=1e-12)
    assert res.a[3] == pytest.approx(plane.u_norm)
    assert z[1, 1] == pytest.approx(origin["test_loss"], abs=1e-5)
    assert z[1, 3] == pytest.approx(proj["test_loss"], abs=1e-5)
    assert z.shape == (5, 5) and res.values["test_error"].shape == (5, 5)
    json.dumps(res.to_dict())  # the result is plain JSON


def test_plane_marks_extra_states_with_their_projection(data):
    model, o, p, n = _anchors("mlp", data)
    extra = create_model("mlp", data.in_shape, 10, seed=5).state_dict()
    res = plane_slice(
        model, o, p, n, {"test": data.tensors("test", 64)}, grid=3, extra={"x": extra}
    )
    assert [m["name"] for m in res.marks] == ["origin", "projection", "next", "x"]
    assert res.marks[3]["distance"] > 0
    direct = evaluate_points_multi(model, Points.states([extra]), {"t": data.tensors("test", 64)})
    assert res.marks[3]["test_loss"] == pytest.approx(float(direct["t"].losses[0]), abs=1e-6)


def test_marks_keep_their_own_batchnorm_statistics_under_none(data):
    """Anchors and extra states are evaluated as themselves, whatever the policy."""
    model, o, p, n = _anchors("cnn1d", data)
    extra = create_model("cnn1d", data.in_shape, 10, seed=5).state_dict()
    g = torch.Generator().manual_seed(3)
    for state in (n, extra):
        for k, v in state.items():
            if k.endswith("running_mean"):
                state[k] = torch.randn(v.shape, generator=g)
    sets = {"test": data.tensors("test", 64)}
    res = plane_slice(model, o, p, n, sets, grid=2, extra={"x": extra}, bn_policy="none")
    own = evaluate_points_multi(model, Points.states([o, p, n, extra]), sets, bn_policy="none")
    np.testing.assert_allclose(
        [m["test_loss"] for m in res.marks], own["test"].losses, rtol=0, atol=1e-6
    )


def test_filter_normalised_directions_match_filter_norms(data):
    model = create_model("cnn1d", data.in_shape, 10)
    w = create_model("cnn1d", data.in_shape, 10, seed=3).state_dict()
    d1, d2 = random_directions(model, w, seed=0, normalize="filter")
    params = dict(model.named_parameters())
    checked = 0
    for d in (d1, d2):
        for k, v in w.items():
            if k in params and v.dim() > 1:
                dn = d[k].reshape(v.shape[0], -1).norm(dim=1)
                wn = v.reshape(v.shape[0], -1).norm(dim=1)
                torch.testing.assert_close(dn, wn, rtol=1e-5, atol=1e-7)
                checked += 1
            else:  # biases, BatchNorm weights/biases and every buffer are left out
                assert not d[k].any(), k
    assert checked == 2 * 4  # three convolutions and the linear head, in both directions
    assert not torch.equal(d1["1.weight"], d2["1.weight"])


def test_directions_within_a_mask_and_other_normalisations(data):
    model = create_model("mlp", data.in_shape, 10)
    w = model.state_dict()
    mask = prune(w, ones_mask(model), 0.5)
    w = {k: (v * mask[k] if k in mask else v) for k, v in w.items()}
    d, _ = random_directions(model, w, seed=1, mask=mask)
    for k, m in mask.items():
        assert not d[k][~m].any()
    # Weights the mask drops do not count in the filter norms, even when the state
    # still holds them (e.g. w^(L) with the next level's mask m_{L+1}).
    full = model.state_dict()
    d, _ = random_directions(model, full, seed=1, mask=mask)
    rows = torch.linalg.vector_norm(d["3.weight"], dim=1)
    kept = torch.linalg.vector_norm(full["3.weight"] * mask["3.weight"], dim=1)
    torch.testing.assert_close(rows, kept, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not in the state"):
        random_directions(model, w, mask={"nope.weight": mask["3.weight"]})
    dl, _ = random_directions(model, w, seed=1, normalize="layer")
    assert float(dl["3.weight"].norm()) == pytest.approx(float(w["3.weight"].norm()), rel=1e-5)
    with pytest.raises(ValueError, match="normalisation"):
        random_directions(model, w, normalize="unit")


def test_filter_normalize_keeps_zero_filters_zero():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    d = filter_normalize(torch.tensor([[1.0, 0.0], [2.0, 2.0]]), w)
    torch.testing.assert_close(d, torch.tensor([[5.0, 0.0], [0.0, 0.0]]))


def test_random_slice_centre_is_the_state(data):
    model = create_model("mlp", data.in_shape, 10)
    w = model.state_dict()
    sets = {"test": data.tensors("test", 128), "train": data.tensors("train", 128)}
    res = random_slice(model, w, sets, grid=5, span=0.5, seed=0)
    assert res.values["train_loss"].shape == (5, 5)
    assert res.a[2] == 0.0 and res.b[2] == 0.0
    assert res.values["test_error"][2, 2] == res.marks[0]["test_error"]
    assert res.values["train_loss"][2, 2] == pytest.approx(res.marks[0]["train_loss"], abs=1e-6)
    assert res.geometry["normalize"] == "filter"


def test_degenerate_planes_are_rejected(data):
    model, o, p, _ = _anchors("mlp", data)
    names = _params(model)
    line = {k: (2 * p[k] - o[k] if v.is_floating_point() else v) for k, v in o.items()}
    with pytest.raises(ValueError, match="collinear"):
        anchor_plane(o, p, line, names)
    with pytest.raises(ValueError, match="coincide"):
        anchor_plane(o, o, p, names)
    with pytest.raises(ValueError, match="grid"):
        plane_slice(model, o, p, line, {"t": data.tensors("test", 8)}, grid=1)


def test_origin_path_max_on_analytic_surfaces():
    """The matching set's part linearly connected to the origin [PAUL Fig. 3], off the grid."""
    from landscape.analysis.slice_sets import origin_path_max

    a = np.linspace(-1, 2, 31)
    b = np.linspace(-1, 2, 31)
    A, B = np.meshgrid(a, b)
    bowl = A**2 + B**2  # values grow along every ray: the path maximum is the end point
    assert np.allclose(origin_path_max(a, b, bowl), bowl, atol=2e-2)
    bump = np.exp(-((A - 1) ** 2 + B**2) / 0.02)  # a ridge at (1, 0) on a flat plane
    pm = origin_path_max(a, b, bump)
    i0, i_half, i_two = 10, 15, 30  # b = 0; a = 0.5 and a = 2
    assert pm[i0, i_two] == pytest.approx(1.0, abs=1e-3)  # low at (2, 0), but behind the ridge
    assert pm[i0, i_half] < 1e-3  # the path to (0.5, 0) stops before it
    assert pm[i_two, i_two] < 1e-3  # the diagonal to (2, 2) passes far from it
    with pytest.raises(ValueError, match="origin"):
        origin_path_max(a + 5, b, bump)


def test_linearly_connected_sublevel_set_on_analytic_surfaces():
    """[PAUL]'s LCS of the origin read off a grid: a known star-shaped set, and a barrier."""
    from landscape.analysis.connectivity import barrier_from_curve
    from landscape.analysis.slice_sets import (
        linearly_connected_sublevel_set,
        origin_path_barrier,
        origin_rays,
    )

    a = np.linspace(-1, 1, 61)
    b = np.linspace(-1, 1, 61)
    A, B = np.meshgrid(a, b)
    r, theta = np.hypot(A, B), np.arctan2(B, A)
    # z = r² g(θ) rises along every ray from 0 (no barrier), so the set {z ≤ t} is the
    # non-convex three-lobed star r ≤ sqrt(t / g(θ)); compare off a one-cell band around it.
    g = 1 + 0.6 * np.cos(3 * theta)
    star = r**2 * g
    edge = np.sqrt(0.3 / g)
    lcs = linearly_connected_sublevel_set(a, b, star, level=0.3)
    away = np.abs(r - edge) > 2 * (a[1] - a[0])
    assert away.sum() > 3000
    assert np.array_equal(lcs[away], (r < edge)[away])
    assert lcs[30, 30] and not lcs[30, 0]  # the origin in; (-1, 0) out (edge at r = 0.87)
    # A ring of height 0.1 at r = 0.5 stays under the level 0.2 everywhere: every point is
    # in the sublevel set, but a point past the ring has a barrier ≈ 0.1 > 0.02 on its ray.
    ring = 0.1 * np.exp(-((r - 0.5) ** 2) / (2 * 0.05**2))
    lcs = linearly_connected_sublevel_set(a, b, ring, level=0.2, barrier=0.02)
    assert lcs[r < 0.3].all() and not lcs[r > 0.7].any()
    assert linearly_connected_sublevel_set(a, b, ring, level=0.2, barrier=0.2).all()
    # ... and with the level under the ring's top, no barrier threshold lets them in.
    assert not linearly_connected_sublevel_set(a, b, ring, level=0.05, barrier=1.0)[r > 0.7].any()
    # The barrier is the library's [PAUL Def. 2.1] of the sampled ray.
    rays = origin_rays(a, b, ring)
    gamma = np.linspace(0, 1, rays.shape[0])
    i, j = 50, 55
    assert origin_path_barrier(a, b, ring)[i, j] == pytest.approx(
        barrier_from_curve(gamma, rays[:, i, j])[0], abs=1e-12
    )
    # Off-grid points (a marked network) are tested on their own rays.
    pts = np.array([[0.2, 0.1], [0.9, 0.0]])
    assert linearly_connected_sublevel_set(a, b, ring, 0.2, 0.02, points=pts).tolist() == [
        True,
        False,
    ]
