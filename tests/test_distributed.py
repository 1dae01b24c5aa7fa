"""landscape.distributed: no-ops on one process, real collectives on two gloo processes."""

from __future__ import annotations

import pytest
import torch

from landscape import distributed as D
from landscape.distributed import DistributedError
from tests._ranks import free_port, spawn, torchrun_env


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def test_one_process_is_a_no_op():
    assert (D.rank(), D.world_size(), D.is_primary(), D.is_active()) == (0, 1, True, False)
    assert D.init_from_env(torch.device("cpu")) is False
    t = torch.tensor([1.0, 2.0])
    assert D.all_reduce_sum(t) is t and D.all_reduce_mean(t).tolist() == [1.0, 2.0]
    assert D.gather_objects({"a": 1}) == [{"a": 1}]
    assert D.broadcast_object([True, False]) == [True, False]
    state = {"w": torch.ones(2), "m": torch.tensor([True, False])}
    out = D.broadcast_state(state)
    assert all(out[k] is state[k] for k in state)
    assert D.local_device(torch.device("cpu")) == torch.device("cpu")
    D.barrier()
    D.shutdown()


@pytest.mark.parametrize("value", ["two", "0"])
def test_bad_world_size_says_how_to_launch(monkeypatch, value):
    monkeypatch.setenv("WORLD_SIZE", value)
    with pytest.raises(DistributedError, match="WORLD_SIZE"):
        D.env_world_size()


def _worker(rank: int, world: int, port: int, results) -> None:
    torchrun_env(rank, world, port)
    assert D.init_from_env(torch.device("cpu"))
    try:
        out = {"rank": D.rank(), "world": D.world_size(), "primary": D.is_primary()}
        out["sum"] = D.all_reduce_sum(torch.tensor([rank + 1.0], dtype=torch.float64)).item()
        out["mean"] = D.all_reduce_mean(torch.tensor([rank * 2.0])).item()
        mine = {"w": torch.full((3,), float(rank)), "m": torch.tensor([rank == 0, rank == 1])}
        got = D.broadcast_state(mine)
        out["state"] = (got["w"].tolist(), got["m"].tolist(), got["m"].dtype == torch.bool)
        out["object"] = D.broadcast_object(["from", rank])
        out["gathered"] = D.gather_objects({"rank": rank, "t": torch.tensor([rank])})
        D.barrier()
    finally:
        D.shutdown()
    try:  # torchrun's rendezvous cannot be joined twice: a clear error, not a hang
        D.init_from_env(torch.device("cpu"))
    except D.DistributedError as exc:
        out["rejoin"] = str(exc)
    results[rank] = out


def test_two_gloo_processes():
    world = 2
    r = spawn(_worker, world, free_port(), nprocs=world)
    for rank in range(world):
        out = r[rank]
        assert (out["rank"], out["world"], out["primary"]) == (rank, world, rank == 0)
        assert out["sum"] == 3.0 and out["mean"] == 1.0
        assert out["state"] == ([0.0, 0.0, 0.0], [True, False], True)  # rank 0's, bool restored
        assert out["object"] == ["from", 0]
    assert r[1]["gathered"] is None
    gathered = r[0]["gathered"]
    assert [g["rank"] for g in gathered] == [0, 1]
    assert [g["t"].item() for g in gathered] == [0, 1]
    assert all("launch.session" in r[k]["rejoin"] for k in range(world))


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_bad_timeout_says_what_to_write(monkeypatch, value):
    monkeypatch.setenv("LANDSCAPE_DIST_TIMEOUT", value)
    with pytest.raises(DistributedError, match="minutes"):
        D._timeout()
