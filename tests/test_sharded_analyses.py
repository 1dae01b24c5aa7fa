"""Sharded analyses (issue #13): on two gloo ranks, paths, slice grids and Hessian probes
split over the ranks and give the one-process numbers.

One ``mp.spawn`` of two CPU processes computes everything (a process start costs more
than the analyses); the parent computes the one-process references and compares.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

from landscape import distributed as D
from landscape import launch
from landscape.analysis.bound_trace import inverse_trace
from landscape.analysis.connectivity import barrier, connectivity
from landscape.analysis.curvature import curvature
from landscape.analysis.engine import Points, evaluate_points
from landscape.analysis.hessian import HessianOperator, hutchinson, slq, spectrum
from landscape.analysis.slices import plane_slice
from tests._ranks import free_port, spawn, torchrun_env


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _inputs():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    states = [{k: v.clone() for k, v in _net(s).state_dict().items()} for s in range(3)]
    return x, y, states


def _compute() -> dict:
    """Every sharded analysis; called on each rank and on one process alike."""
    x, y, states = _inputs()
    model, data, bn = _net(0), (x, y), [(x[:32], y[:32])]
    out = {}
    for mode in ("loop", "vmap"):
        res = connectivity(model, states, data, points=5, bn_data=bn, mode=mode, chunk_size=3)
        out[f"connectivity_{mode}"] = res.to_dict()
    out["barrier"] = barrier(model, states[0], states[1], data, points=7, bn_policy="none",
                             mode="loop").to_dict()  # fmt: skip
    one = evaluate_points(model, Points.states(states[:1]), data, bn_data=bn, mode="loop")
    out["one_point"] = (one.losses, one.errors)  # fewer points than ranks
    sl = plane_slice(model, *states, {"test": data}, grid=5, bn_data=bn, mode="loop")
    out["slice"] = {k: v for k, v in sl.values.items()}
    net = _net(1).eval()
    op_data = (x, y)
    spec = spectrum(net, op_data, top_k=2, trace_probes=5, density=True, density_probes=3,
                    density_steps=8, seed=3)  # fmt: skip
    out["spectrum"] = (spec.eigenvalues, spec.trace, spec.trace_stderr, spec.trace_samples,
                       spec.quadrature.nodes, spec.quadrature.weights, spec.density,
                       spec.hvp_count, sorted(spec.seconds))  # fmt: skip
    a = torch.diag(torch.arange(1.0, 9.0, dtype=torch.float64))
    out["hutchinson"] = hutchinson(lambda v: a @ v, 8, 7, seed=5, dtype=torch.float64).samples
    q = slq(lambda v: a @ v, 8, probes=3, steps=4, seed=1, dtype=torch.float64)
    out["slq"] = (q.nodes, q.weights, q.matvecs)
    exact = inverse_trace(HessianOperator(net, op_data, method="double-backward"), exact_below=500)
    out["bound_exact"] = (exact.method, exact.eigenvalues, exact.hvps)
    est = inverse_trace(HessianOperator(net, op_data, method="double-backward"), exact_below=0,
                        probes=3, steps=6, seed=2)  # fmt: skip
    out["bound_slq"] = (est.method, est.quadrature.nodes, est.quadrature.weights, est.hvps)
    mask = {"0.weight": torch.ones(8, 6, dtype=torch.bool)}
    smaller = {"0.weight": net[0].weight.abs() > net[0].weight.abs().median()}
    cur = curvature(net, op_data, mask, smaller, random=4, seed=1, method="double-backward")
    out["curvature"] = (cur.kappa_magnitude, cur.kappa_random, cur.quad_random, cur.hvp_count)
    return out


def _worker(rank: int, world: int, port: int, results) -> None:
    torchrun_env(rank, world, port)
    torch.set_num_threads(1)
    assert D.init_from_env(torch.device("cpu"))
    try:
        out = _compute()
        out["indices"] = list(D.my_indices(5))
        out["assembled"] = D.assemble(5, [f"item {i}" for i in D.my_indices(5)])
        out["on_primary"] = D.on_primary(lambda: (D.rank(), D.shard_world()))
        with D.alone():
            out["alone"] = (D.shard_world(), list(D.my_indices(3)))
        try:
            D.on_primary(lambda: 1 / 0)
        except ZeroDivisionError:
            out["failure"] = "raised"
        except D.PeerError as exc:
            out["failure"] = str(exc)
        results[rank] = out
    finally:
        D.shutdown()


@pytest.fixture(scope="module")
def two_ranks() -> dict:
    return spawn(_worker, 2, free_port())


@pytest.fixture(scope="module")
def one_process() -> dict:
    return _compute()


def _equal(a, b, exact: bool = True) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _equal(a[k], b[k], exact)
    elif isinstance(a, (list, tuple)) and not all(isinstance(v, (int, float)) for v in a):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _equal(u, v, exact)
    elif exact or isinstance(a, (str, bool)) or a is None:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-6, atol=1e-9)


def test_helpers_split_gather_and_report_rank_0_failures(two_ranks):
    r0, r1 = two_ranks[0], two_ranks[1]
    assert (r0["indices"], r1["indices"]) == ([0, 2, 4], [1, 3])
    assert r0["assembled"] == r1["assembled"] == [f"item {i}" for i in range(5)]
    # rank 0 computes alone (no sharding inside), both ranks get its value
    assert r0["on_primary"] == r1["on_primary"] == (0, (0, 1))
    assert r0["alone"] == r1["alone"] == ((0, 1), [0, 1, 2])
    assert r0["failure"] == "raised"
    assert r1["failure"] == "rank 0 stopped: ZeroDivisionError: division by zero"


@pytest.mark.parametrize("key", ["connectivity_loop", "barrier", "one_point", "slice"])
def test_path_and_grid_points_on_two_ranks_equal_one_process_bit_for_bit(
    two_ranks, one_process, key
):
    """The ``loop`` mode does the same work per point, so the numbers are the same bits."""
    for rank in (0, 1):
        _equal(two_ranks[rank][key], one_process[key])


def test_vmap_path_on_two_ranks_equals_one_process_to_rounding(two_ranks, one_process):
    for rank in (0, 1):
        _equal(two_ranks[rank]["connectivity_vmap"], one_process["connectivity_vmap"], exact=False)


@pytest.mark.parametrize(
    "key", ["hutchinson", "slq", "spectrum", "bound_exact", "bound_slq", "curvature"]
)
def test_hessian_probes_on_two_ranks_equal_one_process(two_ranks, one_process, key):
    """Probe ``i`` is the same vector on every rank: the trace, the SLQ rules, the
    density and the product counts are the one-process ones."""
    for rank in (0, 1):
        _equal(two_ranks[rank][key], one_process[key])


def test_one_process_helpers_are_no_ops():
    assert D.shard_world() == (0, 1) and list(D.my_indices(3)) == [0, 1, 2]
    assert D.assemble(2, ["a", "b"]) == ["a", "b"]
    assert D.all_gather_objects({"x": 1}) == [{"x": 1}]
    assert D.on_primary(lambda: 7) == 7
    with D.primary_context(lambda: contextlib.nullcontext("held")) as got:
        assert got == "held"
    with launch.session("cuda:3") as device:  # no torchrun: the device as given, no group
        assert device == "cuda:3" and not D.is_active()
    with pytest.raises(D.DistributedError, match="exactly my_indices"):
        D.assemble(3, ["a"])
