"""Data-parallel runs under ``torchrun``: DDP over gloo ranks equals one process.

The model is a smooth network without BatchNorm (``smooth_net``): with BatchNorm each
rank normalises its own share of the batch on the CPU, which is another computation,
and with ReLU a 1e-8 rounding difference can flip an activation and grow to 1e-4.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from landscape import distributed, paths
from landscape.checkpoint import load_json, load_state
from landscape.data import load_data
from landscape.distributed import DistributedError
from landscape.hparams import RunConfig, TrainHparams
from landscape.jobs import prune as execute
from landscape.runners.common import primary_first
from landscape.training import loop, train
from tests._ranks import free_port, spawn, torchrun_env

TESTS = Path(__file__).resolve().parent
MODEL = f"{__name__}:smooth_net"


def smooth_net(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A 40-16-10 Tanh network (no BatchNorm)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(in_shape), 16), nn.Tanh(), nn.Linear(16, num_classes)
    )


# 16 steps an epoch; the dense run trains 0..64 (snapshot w_8), levels 1 and 2 train 8..64.
SETTINGS = dict(
    method="imp-wr", data="synthetic", model=MODEL, batch_size=64, length="4ep",
    schedule="step", milestones="2ep", eval_every="1ep", rewind_step="8", levels=2,
    device="cpu", threads=1,
)  # fmt: skip
FLAGS = [
    "--method", "imp-wr", "--data", "synthetic", "--model", MODEL, "--batch-size", "64",
    "--length", "4ep", "--schedule", "step", "--milestones", "2ep", "--eval-every", "1ep",
    "--rewind-step", "8", "--levels", "2", "--device", "cpu", "--threads", "1", "--quiet",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _torchrun(out: Path, ranks: int = 2) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
        str(ranks), "-m", "landscape", "prune", *FLAGS, "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _files(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {str(f.relative_to(run)): load_state(f) for f in sorted(run.rglob("*.safetensors"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run on one process and the same run on two gloo ranks, each beside its own dense run."""
    root = tmp_path_factory.mktemp("dp")
    sys.path.insert(0, str(TESTS))
    one = execute(RunConfig().replace(**SETTINGS), out=root / "one" / "run", quiet=True)
    two = root / "two" / "run"
    _torchrun(two)
    return one, two


def test_two_ranks_train_the_run_one_process_trains(runs):
    one, two = runs
    fa, fb = _files(one), _files(two)
    assert sorted(fa) == sorted(fb) and len(fa) >= 7  # rewind + 3 levels × (weights, mask)
    for name in fa:
        for k in fa[name]:
            if name.endswith("mask.safetensors"):
                assert torch.equal(fa[name][k], fb[name][k]), f"{name}:{k} masks differ"
            else:
                torch.testing.assert_close(fa[name][k], fb[name][k], atol=2e-5, rtol=0,
                                           msg=f"{name}:{k}")  # fmt: skip
    for level in range(3):
        ma, mb = load_json(paths.metrics(one, level)), load_json(paths.metrics(two, level))
        assert abs(ma["test_error"] - mb["test_error"]) <= 0.01
        assert ma["density"] == mb["density"]
        assert mb["world_size"] == 2  # level 0 too: it comes from the 2-rank dense run
        assert [p["step"] for p in ma["curve"]] == [p["step"] for p in mb["curve"]]
    dense = next((two.parent).glob("dense_*"))
    assert load_json(paths.metrics(dense, 0))["world_size"] == 2
    assert load_json(paths.config(two))["world_size"] == 2
    assert not list(two.rglob(".*.tmp")), "only rank 0 writes, atomically"


def test_a_killed_data_parallel_level_resumes_bit_for_bit(runs, tmp_path):
    _, two = runs
    copy = tmp_path / "two"
    shutil.copytree(two.parent, copy)
    run = copy / "run"
    # killed while training level 2: its mask was written, its weights and metrics not
    paths.metrics(run, 2).unlink()
    paths.weights(run, 2).unlink()
    _torchrun(run)
    for name, tensors in _files(two).items():
        again = load_state(run / name)
        assert all(torch.equal(tensors[k], again[k]) for k in tensors), name


def test_a_batch_the_ranks_do_not_divide_is_refused(monkeypatch):
    monkeypatch.setattr(distributed, "shard_world", lambda: (1, 3))
    with pytest.raises(DistributedError, match="not divisible by the 3 processes"):
        loop._share(64)
    monkeypatch.setattr(distributed, "shard_world", lambda: (1, 4))
    assert loop._share(64) == slice(16, 32)


def _failing_rank0(rank: int, port: int, results) -> None:
    torchrun_env(rank, 2, port)
    distributed.init_from_env(torch.device("cpu"))
    try:
        assert primary_first(lambda: distributed.rank() + 41) == 41  # rank 0's value everywhere

        def fail() -> None:
            raise OSError("disk full")

        try:
            primary_first(fail)
        except Exception as exc:
            results[rank] = f"{type(exc).__name__}: {exc}"
    finally:
        distributed.shutdown()


def test_an_error_on_rank_0_stops_every_rank_with_its_message():
    got = spawn(_failing_rank0, free_port())
    assert got[0] == "OSError: disk full"
    assert got[1] == "PeerError: rank 0 stopped: OSError: disk full"


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def _image_data():
    data = load_data("synthetic")
    g = torch.Generator().manual_seed(0)
    return type(data)(
        name="images", train_x=torch.randn(256, 3, 8, 8, generator=g),
        train_y=torch.randint(0, 10, (256,), generator=g), test_x=torch.randn(64, 3, 8, 8, generator=g),
        test_y=torch.randint(0, 10, (64,), generator=g), num_classes=10,
    )  # fmt: skip


def test_channels_last_and_compile_give_the_same_training(monkeypatch):
    data = _image_data()
    plain = _conv_net()
    train(plain, data, TrainHparams(lr=0.05), 32, stop=16, show_progress=False)
    compiled, real_compile = [], torch.compile

    def eager_compile(net, **kw):  # the eager backend: the wiring, without minutes of compiling
        compiled.append(net)
        return real_compile(net, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    fast = _conv_net()
    layouts = []  # the conv weight's layout while it trains

    def look(t, model):
        layouts.append(model[0].weight.is_contiguous(memory_format=torch.channels_last))

    train(fast, data, TrainHparams(lr=0.05, channels_last=True, compile=True), 32, stop=16,
          show_progress=False, on_step=look)  # fmt: skip
    assert compiled == [fast] and layouts == [True] * 16
    assert not fast[0].weight.is_contiguous(memory_format=torch.channels_last)  # restored
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=name)
        assert b.is_contiguous(), f"{name} is left in channels-last layout"


def test_speed_options_are_recorded_but_do_not_name_the_run():
    base = RunConfig().replace(**SETTINGS)
    fast = base.replace(channels_last=True, compile=True)
    assert fast.hash() == base.hash()
    assert fast.to_dict()["train"]["channels_last"] is True
