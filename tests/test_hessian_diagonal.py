"""The exact curvature diagonal and trace (analysis/hessian/diagonal.py) against dense float64
matrices, the linearity check that licenses it for the Hessian, and `hessian --trace-method
exact`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from landscape import paths
from landscape.analysis.hessian.diagonal import (
    curvature_diagonal,
    exact_trace,
    linearity_obstacle,
)
from landscape.cli import main
from landscape.data import load_data
from landscape.errors import LandscapeError
from landscape.hessian import HessianOperator, spectrum
from landscape.models import create_model
from tests._reference import dense_hessian
from tests._runs import untrained_two_level_run

F64 = torch.float64


class _ResBlock(nn.Module):
    """Conv + BatchNorm (eval) + ReLU, a residual add, max pooling and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm1d(3)
        self.conv2 = nn.Conv1d(3, 3, 3, padding=1, bias=False)
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        h = h + self.conv2(h)
        return self.head(self.pool(h).flatten(1))


def _nets():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 4))
    res = _ResBlock()
    res.bn.running_mean.normal_()
    res.bn.running_var.uniform_(0.5, 2.0)
    return {
        "relu-mlp": (mlp.to(F64).eval(), torch.randn(48, 5, dtype=F64)),
        "conv-bn-residual-maxpool": (res.to(F64).eval(), torch.randn(48, 2, 8, dtype=F64)),
    }


def _matrix(op: HessianOperator) -> torch.Tensor:
    return torch.stack([op(e) for e in torch.eye(op.dim, dtype=F64)], dim=1)


def _mask(net: nn.Module) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return {n: torch.rand(p.shape, generator=gen) > 0.4 for n, p in net.named_parameters()
            if p.dim() > 1}  # fmt: skip


@pytest.mark.parametrize("name", ["relu-mlp", "conv-bn-residual-maxpool"])
@pytest.mark.parametrize("curvature", ["hessian", "ggn", "fisher"])
def test_diagonal_equals_the_dense_matrix_diagonal(name: str, curvature: str):
    """Both paths (linear layers factored, the rest per-sample) against the dense float64
    matrix; small blocks force several per-sample passes. For the Hessian the reference is
    autograd's full Hessian, so the identity diag(H) = diag(G) is what is tested."""
    net, x = _nets()[name]
    y = torch.randint(0, 4, (x.shape[0],), generator=torch.Generator().manual_seed(1))
    op = HessianOperator(net, (x, y), chunk_size=20, curvature=curvature)
    diag = op.from_state(curvature_diagonal(op, block_bytes=4000))
    ref = dense_hessian(net, x, y) if curvature == "hessian" else _matrix(op)
    torch.testing.assert_close(diag, ref.diagonal(), rtol=1e-10, atol=1e-13)
    masked = HessianOperator(net, (x, y), mask=_mask(net), curvature=curvature)
    assert masked.dim < op.dim
    assert exact_trace(masked) == pytest.approx(float(torch.trace(_matrix(masked))), rel=1e-10)


def test_a_smooth_network_is_refused_for_the_hessian_but_not_for_the_ggn():
    """With tanh the output's own curvature puts a diagonal into H that G lacks."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).to(F64).eval()
    x, y = torch.randn(30, 4, dtype=F64), torch.randint(0, 3, (30,))
    assert linearity_obstacle(net) == "module 1 (Tanh) is not piecewise linear"
    with pytest.raises(LandscapeError, match=r"Tanh\) is not piecewise linear; use"):
        exact_trace(HessianOperator(net, (x, y)))
    ggn = HessianOperator(net, (x, y), curvature="ggn")
    g_diag = ggn.from_state(curvature_diagonal(ggn))
    torch.testing.assert_close(g_diag, _matrix(ggn).diagonal(), rtol=1e-10, atol=1e-13)
    h_diag = dense_hessian(net, x, y).diagonal()
    assert float((h_diag - g_diag).abs().max()) > 1e-4  # so the identity really needs the check


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        return self.a(torch.relu(self.a(x)))


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        return self.a(x) * self.b(x)


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        return 0.5 * self.a(x).relu().view(-1, 3)


def test_the_linearity_check_names_what_breaks_it():
    assert linearity_obstacle(_Scaled()) is None
    assert "called twice" in linearity_obstacle(_Shared())
    assert linearity_obstacle(_Gated()) == "mul is not a tensor scaled by a constant"
    assert "LayerNorm" in linearity_obstacle(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)))
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    assert "batch statistics" in linearity_obstacle(nn.Sequential(nn.Linear(3, 3), bn))


@pytest.mark.parametrize(
    ("model", "shape"), [("mlp", (40,)), ("cnn1d", (40,)), ("resnet20", (3, 32, 32)),
                         ("vgg11", (3, 32, 32))],
)  # fmt: skip
def test_the_built_in_networks_qualify(model: str, shape: tuple[int, ...]):
    """The pruning papers' ReLU networks all have the exact Hessian diagonal."""
    assert linearity_obstacle(create_model(model, shape, 10, seed=0)) is None


def test_spectrum_exact_trace_spends_no_products():
    net, x = _nets()["relu-mlp"]
    y = torch.randint(0, 4, (x.shape[0],), generator=torch.Generator().manual_seed(1))
    s = spectrum(net, (x, y), top_k=0, trace_probes=1, trace_method="exact")
    assert s.trace == pytest.approx(float(torch.trace(dense_hessian(net, x, y))), rel=1e-10)
    assert s.trace_stderr == 0.0 and s.hvp_count["trace"] == 0
    rec = s.to_dict()
    assert rec["trace_probes"] == 0 and rec["trace_stderr"] == 0.0
    # a block's exact trace from the whole network's diagonal; a diagonal without the
    # block's parameters is refused with one line
    first = [next(iter(dict(net.named_parameters())))]
    block = spectrum(net, (x, y), top_k=0, trace_probes=1, trace_method="exact", params=first,
                     diagonal=s.diagonal)  # fmt: skip
    H = dense_hessian(net, x, y, first)
    assert block.trace == pytest.approx(float(torch.trace(H)), rel=1e-10)
    with pytest.raises(LandscapeError, match="given diagonal has no entries for"):
        spectrum(net, (x, y), top_k=0, trace_probes=1, trace_method="exact", params=first,
                 diagonal={})  # fmt: skip


def test_verb_trace_method_exact_per_layer_masked(tmp_path: Path, monkeypatch):
    run = untrained_two_level_run(tmp_path / "run", 0.3)
    args = ["hessian", str(run), "--level", "1", "--masked", "--per-layer", "--trace",
            "--trace-method", "exact", "--top-k", "1", "--samples", "64", "--dtype", "float64",
            "--quiet"]  # fmt: skip
    import sys

    spectrum_module = sys.modules["landscape.analysis.hessian.spectrum"]  # (the package
    # exports the function `spectrum` under the module's name)
    calls = []

    def counted(op, **kw):
        calls.append(list(op.coords.names))
        return curvature_diagonal(op, **kw)

    monkeypatch.setattr(spectrum_module, "curvature_diagonal", counted)
    assert main(args) == 0
    # the whole network's diagonal once; every layer's block trace sums its part of it
    assert len(calls) == 1 and len(calls[0]) == 6
    found = list((paths.level_dir(run, 1) / "analysis").glob("hessian_*/result.json"))
    assert len(found) == 1
    rec = json.loads(found[0].read_text())
    from landscape.runs import open_run

    opened = open_run(run, device="cpu")
    model = create_model("mlp", (40,), 10, seed=0).to(F64)
    model.load_state_dict(opened.weights(1))
    x, y = load_data("synthetic").tensors("train", 64)
    mask = {n: m.bool() for n, m in opened.mask(1).items()}
    members = ["5.weight", "5.bias"]  # the last layer's block, densely (the whole is 15k wide)
    keep = torch.cat([mask[n].reshape(-1) if n in mask else torch.ones(p.numel(), dtype=torch.bool)
                      for n, p in model.named_parameters() if n in members])  # fmt: skip
    block = dense_hessian(model.eval(), x.to(F64), y, members)[keep][:, keep]
    g5 = next(g for g in rec["groups"] if g["group"] == "5")
    assert g5["trace"] == pytest.approx(float(torch.trace(block)), rel=1e-9)
    # the whole network's trace is too wide for a dense Hessian: its diagonal is checked at
    # 40 random kept coordinates against e_iᵀ H e_i from Hessian-vector products, and the
    # record against that diagonal's sum
    whole = HessianOperator(model, (x.to(F64), y), mask=mask)
    diag = whole.from_state(curvature_diagonal(whole))
    picks = torch.randperm(whole.dim, generator=torch.Generator().manual_seed(0))[:40]
    eye = torch.eye(whole.dim, dtype=F64)
    by_hvp = torch.stack([whole(eye[i])[i] for i in picks])
    torch.testing.assert_close(diag[picks], by_hvp, rtol=1e-9, atol=1e-12)
    assert rec["trace"] == pytest.approx(float(diag.sum()), rel=1e-12)
    assert rec["trace_stderr"] == 0.0 and rec["trace_probes"] == 0
    assert sum(g["trace"] for g in rec["groups"]) == pytest.approx(rec["trace"], rel=1e-9)
    assert "trace (exact diagonal)" in (found[0].parent / "report.md").read_text()


def test_verb_refuses_the_exact_trace_before_writing_anything(tmp_path: Path, monkeypatch, capsys):
    """A network the check refuses: one line naming the reason, exit 2, no result folder."""
    import sys

    diagonal = sys.modules["landscape.analysis.hessian.diagonal"]
    run = untrained_two_level_run(tmp_path / "run", 0.3)
    monkeypatch.setattr(
        diagonal, "linearity_obstacle", lambda m: "module 1 (Tanh) is not piecewise linear"
    )
    args = ["hessian", str(run), "--level", "1", "--trace", "--trace-method", "exact",
            "--top-k", "1", "--samples", "64", "--quiet"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(Tanh) is not piecewise linear; use --trace-method hutchpp" in err[0]
    assert not list((paths.level_dir(run, 1) / "analysis").glob("hessian_*"))


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class _TwoShapes(nn.Module):
    """One linear layer on [n, 3] and again on [n, 1, 3]."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)).unsqueeze(1)).squeeze(1)


class _Centred(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        h = self.a(x)
        return h - h.mean(0, keepdim=True)


@pytest.mark.parametrize("curvature", ["hessian", "ggn"])
def test_in_place_relu_shared_weights_and_layers_called_twice(curvature: str):
    """The factored path takes each linear layer's output before in-place operations rewrite
    it, and leaves tied or twice-called layers to the per-sample path (GGN); the Hessian
    refuses the tie."""
    torch.manual_seed(4)
    x, y = torch.randn(12, 3, dtype=F64), torch.randint(0, 3, (12,))
    inplace = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 3))
    nets = {"in-place ReLU": inplace, "tied": _Tied(), "two shapes": _TwoShapes()}
    for name, net in nets.items():
        net = net.to(F64).eval()
        op = HessianOperator(net, (x, y), curvature=curvature)
        if curvature == "hessian" and name != "in-place ReLU":
            with pytest.raises(LandscapeError, match="used twice"):
                curvature_diagonal(op)
            continue
        ref = dense_hessian(net, x, y) if curvature == "hessian" else _matrix(op)
        diag = op.from_state(curvature_diagonal(op))
        torch.testing.assert_close(diag, ref.diagonal(), rtol=1e-10, atol=1e-13, msg=name)


def test_a_network_that_mixes_samples_is_refused_for_every_curvature():
    torch.manual_seed(5)
    net = _Centred().to(F64).eval()
    x, y = torch.randn(12, 3, dtype=F64), torch.randint(0, 3, (12,))
    assert linearity_obstacle(net) == "mean reduces over the batch dimension"
    with pytest.raises(LandscapeError, match="depends on the other samples of its batch"):
        curvature_diagonal(HessianOperator(net, (x, y), curvature="ggn"))


class _ReadTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(torch.relu(nn.functional.linear(x, self.fc.weight)))


class _ViewTwice(nn.Module):
    """A parameter read directly, reshaped, then used as the weight of two layers."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(9))

    def forward(self, x):
        w = self.w.view(3, 3)
        return nn.functional.linear(torch.relu(nn.functional.linear(x, w)), w)


class _Inverse(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        return 2.0 / (self.a(x) + 5)


class _Leaf(nn.Module):
    piecewise_linear = True

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return torch.relu(self.fc(x))


class _LeafTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blk = _Leaf()

    def forward(self, x):
        return self.blk(self.blk(x))


def test_parameters_read_twice_and_inverses_are_refused():
    assert "used twice" in linearity_obstacle(_ReadTwice())
    assert "used twice" in linearity_obstacle(_LeafTwice())
    assert "used twice" in linearity_obstacle(_Tied())
    assert linearity_obstacle(_Inverse()) == "truediv is not a tensor scaled by a constant"
    assert "used other than directly as a layer's weight" in linearity_obstacle(_ViewTwice())
