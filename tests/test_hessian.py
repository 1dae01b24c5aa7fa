"""The Hessian spectrum engine against exact references (docs/science.md).

References: the dense Hessian of ``torch.autograd.functional.hessian`` in float64 on
tiny models (eigendecomposition, traces, submatrices), an analytic quadratic
(``H = 2XᵀX/N``), moments ``vᵀHᵏv`` computed directly, and PyHessian on the same
model and data.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis.hessian.probes import rademacher
from landscape.errors import LandscapeError
from landscape.hessian import (
    HessianOperator,
    hutchinson,
    param_groups,
    quadrature_trace,
    slq,
    spectral_density,
    spectrum,
    top_eigen,
    trace_fn,
)
from tests._reference import dense_hessian

F64 = torch.float64


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).to(F64)


def _bn_net() -> nn.Module:
    """Conv + BatchNorm (with non-trivial running statistics) + linear head."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv1d(1, 2, 3, padding=1), nn.BatchNorm1d(2), nn.Tanh(), nn.Flatten(), nn.Linear(10, 3)
    ).to(F64)  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.7]))
        net[1].weight.copy_(torch.tensor([0.8, 1.3]))
    return net


def _data(model: nn.Module, n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (n, 5) if isinstance(model[0], nn.Linear) else (n, 1, 5)
    return torch.randn(*shape, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def _kept_index(model: nn.Module, mask: dict[str, torch.Tensor]) -> torch.Tensor:
    flags = [
        mask[n].reshape(-1) if n in mask else torch.ones(p.numel(), dtype=torch.bool)
        for n, p in model.named_parameters()
    ]
    return torch.cat(flags).nonzero().squeeze(1)


def _mask(model: nn.Module, density: float = 0.6, seed: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        n: torch.rand(p.shape, generator=g) < density
        for n, p in model.named_parameters()
        if n.endswith("weight") and p.dim() > 1
    }


MODELS = {"mlp": _mlp, "bn": _bn_net}


# --------------------------------------------------------------------------- products


@pytest.mark.parametrize("method", ["cached", "double-backward", "forward-over-reverse", "auto"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_hvp_equals_dense_hessian_times_vector(name, method):
    model = MODELS[name]()
    x, y = _data(model)
    H = dense_hessian(model, x, y)
    op = HessianOperator(model, (x, y), method=method, chunk_size=10)
    v = torch.randn(op.dim, dtype=F64, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(op(v), H @ v, rtol=1e-10, atol=1e-12)
    assert op.method != "auto" and op.count == 1


def test_hvp_exact_over_chunks_and_iterables():
    """The mean over all samples, however the data are split (chunks weighted by size)."""
    model = _mlp()
    x, y = _data(model, n=37)
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=F64)
    whole = HessianOperator(model, (x, y), chunk_size=1000)(v)
    chunked = HessianOperator(model, (x, y), chunk_size=8)(v)
    pairs = [(x[:30], y[:30]), (x[30:], y[30:])]
    # chunk_size=30 keeps the given pairs apart (30 + 7): unequal chunks, weighted by size
    iterable = HessianOperator(model, iter(pairs), chunk_size=30)(v)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(iterable, whole, rtol=1e-12, atol=1e-14)


def test_iterable_batches_are_merged_into_chunks_with_the_same_products():
    """A DataLoader's small batches become a few large chunks (fewer passes per product),
    up to ``chunk_size``; batches of another trailing shape or dtype are not merged, empty
    ones are dropped; the product is the dense Hessian's either way."""
    from torch.utils.data import DataLoader, TensorDataset

    model = _mlp()
    x, y = _data(model, n=37)
    H = dense_hessian(model, x, y)
    v = torch.randn(H.shape[0], dtype=F64, generator=torch.Generator().manual_seed(3))
    loader = DataLoader(TensorDataset(x, y), batch_size=5)  # 8 batches, the last of 2
    merged = HessianOperator(model, loader)
    assert [int(c[0].shape[0]) for c in merged.chunks] == [37]
    capped = HessianOperator(model, loader, chunk_size=12)
    assert [int(c[0].shape[0]) for c in capped.chunks] == [10, 10, 10, 7]
    for op in (merged, capped):
        torch.testing.assert_close(op(v), H @ v, rtol=1e-10, atol=1e-12)
    # a batch larger than the cap is kept whole; a dtype change starts a new chunk
    big = HessianOperator(model, [(x[:30], y[:30]), (x[30:], y[30:])], chunk_size=12)
    assert [int(c[0].shape[0]) for c in big.chunks] == [30, 7]
    mixed = [(x[:10], y[:10]), (x[10:20], y[10:20].int()), (x[20:], y[20:].int())]
    assert [int(c[0].shape[0]) for c in HessianOperator(model, mixed).chunks] == [10, 27]
    # another trailing shape starts a new chunk (only the chunking is checked here)
    shaped = [(x[:10], y[:10]), (x[10:20, None], y[10:20]), (x[20:, None], y[20:])]
    assert [tuple(c[0].shape) for c in HessianOperator(model, shaped).chunks] == [
        (10, x.shape[1]),
        (27, 1, x.shape[1]),
    ]
    # an empty batch is dropped (its mean loss would be NaN), not merged or kept
    empty = [(x[:0], y[:0]), (x[:20], y[:20]), (x[:0], y[:0]), (x[20:], y[20:])]
    op = HessianOperator(model, empty, chunk_size=20)
    assert [int(c[0].shape[0]) for c in op.chunks] == [20, 17]
    torch.testing.assert_close(op(v), H @ v, rtol=1e-10, atol=1e-12)
    with pytest.raises(LandscapeError, match="targets must be tensors"):
        HessianOperator(model, [(x, y.tolist())])


def test_merged_chunks_are_sized_for_the_device_the_products_run_on():
    """A CPU loader feeding a CUDA model merges up to the CUDA budget, not the CPU one."""
    from landscape.analysis.hessian.hvp import _merge, default_chunk_size

    batches = [(torch.zeros(1000, 40), torch.zeros(1000, dtype=torch.long))] * 10
    cpu = _merge(batches, None, torch.device("cpu"))
    cuda = _merge(batches, None, torch.device("cuda"))  # no GPU needed: only the budget
    assert default_chunk_size(40, torch.device("cpu")) == 8192
    assert [int(x.shape[0]) for x, _ in cpu] == [8000, 2000]
    assert [int(x.shape[0]) for x, _ in cuda] == [10000]


def test_analytic_quadratic():
    """Least squares ``mean (w·x − t)²`` has ``H = 2XᵀX/N`` exactly."""
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(40, 6, generator=g, dtype=F64), torch.randn(40, 1, generator=g, dtype=F64)
    model = nn.Linear(6, 1, bias=False).to(F64)
    H = 2 * x.T @ x / 40
    res = spectrum(
        model, (x, t), top_k=3, trace_probes=400, loss_fn=nn.functional.mse_loss, tol=1e-12
    )
    exact = torch.linalg.eigvalsh(H).flip(0).numpy()
    np.testing.assert_allclose(res.eigenvalues, exact[:3], rtol=1e-10)
    assert abs(res.trace - float(H.trace())) < 3 * res.trace_stderr


def test_bn_runs_in_eval_mode_and_mode_is_restored():
    model = _bn_net().train()
    x, y = _data(model)
    H = dense_hessian(model, x, y)  # eval-mode reference
    op = HessianOperator(model, (x, y))
    v = torch.ones(op.dim, dtype=F64)
    torch.testing.assert_close(op(v), H @ v, rtol=1e-10, atol=1e-12)
    assert model.training and model[1].training
    running = model[1].running_mean.clone()
    op(v)
    torch.testing.assert_close(model[1].running_mean, running, rtol=0, atol=0)


def test_auto_choice_is_measured_and_recorded():
    model = _mlp()
    x, y = _data(model)
    big = HessianOperator(model, (x, y), memory_budget=2**30)
    assert big.choose() == "cached" and big.choice["graph_bytes"] > 0
    small = HessianOperator(model, (x, y), memory_budget=0)
    assert small.choose() in ("double-backward", "forward-over-reverse")
    assert set(small.choice["seconds_per_chunk"]) == {"double-backward", "forward-over-reverse"}


# --------------------------------------------------------------------------- eigenvalues, trace


@pytest.mark.parametrize("name", sorted(MODELS))
def test_top_k_and_trace_equal_dense_eigendecomposition(name):
    model = MODELS[name]()
    x, y = _data(model)
    ev = torch.linalg.eigvalsh(dense_hessian(model, x, y)).numpy()
    res = spectrum(model, (x, y), top_k=5, trace_probes=300, tol=1e-10, max_steps=500)
    np.testing.assert_allclose(res.eigenvalues, ev[::-1][:5], rtol=1e-6)
    assert res.eigen_converged and res.num_kept == len(ev) == res.num_params
    # Hutchinson: unbiased, within 3 standard errors of the exact trace.
    assert abs(res.trace - ev.sum()) < 3 * res.trace_stderr
    np.testing.assert_allclose(res.trace, res.trace_samples.mean())
    assert res.hvp_count["trace"] == 300


def test_smallest_and_magnitude_ends():
    model = _mlp()
    x, y = _data(model)
    ev = torch.linalg.eigvalsh(dense_hessian(model, x, y)).numpy()
    low = spectrum(model, (x, y), top_k=3, which="smallest", tol=1e-10, max_steps=500)
    np.testing.assert_allclose(low.eigenvalues, ev[:3], rtol=1e-6, atol=1e-9)
    mag = spectrum(model, (x, y), top_k=2, which="magnitude", tol=1e-10, max_steps=500)
    by_mag = ev[np.argsort(-np.abs(ev))][:2]
    np.testing.assert_allclose(mag.eigenvalues, by_mag, rtol=1e-6)


def test_eigenvectors_are_eigenvectors():
    model = _mlp()
    x, y = _data(model)
    H = dense_hessian(model, x, y)
    mask = _mask(model)
    res = spectrum(model, (x, y), top_k=2, mask=mask, eigenvectors=True, tol=1e-10, max_steps=500)
    idx = _kept_index(model, mask)
    for lam, vec in zip(res.eigenvalues, res.eigenvectors):
        for n, m in mask.items():
            assert torch.all(vec[n][~m] == 0), "eigenvectors are zero at pruned coordinates"
        v = torch.cat([t.reshape(-1) for t in vec.values()])
        assert abs(float(v.norm()) - 1) < 1e-10
        hv = H[idx][:, idx] @ v[idx]
        torch.testing.assert_close(hv, lam * v[idx], rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_masked_spectrum_equals_kept_submatrix(name):
    model = MODELS[name]()
    x, y = _data(model)
    mask = _mask(model)
    idx = _kept_index(model, mask)
    Hk = dense_hessian(model, x, y)[idx][:, idx]
    ev = torch.linalg.eigvalsh(Hk).numpy()
    res = spectrum(model, (x, y), top_k=4, trace_probes=300, mask=mask, tol=1e-10, max_steps=500)
    assert res.num_kept == len(idx) < res.num_params
    np.testing.assert_allclose(res.eigenvalues, ev[::-1][:4], rtol=1e-6)
    assert abs(res.trace - ev.sum()) < 3 * res.trace_stderr
    # The operator itself is m ⊙ H ⊙ m on the kept coordinates.
    op = HessianOperator(model, (x, y), mask=mask)
    v = torch.randn(op.dim, dtype=F64)
    torch.testing.assert_close(op(v), Hk @ v, rtol=1e-10, atol=1e-12)


def test_parameter_subset_is_the_diagonal_block():
    model = _bn_net()
    x, y = _data(model)
    groups = param_groups(model, "layer")
    assert list(groups) == ["0", "1", "4"]
    assert groups["1"] == ["1.weight", "1.bias"]
    assert param_groups(model, "block") == groups  # a flat Sequential: blocks are layers
    names = groups["4"]
    Hb = dense_hessian(model, x, y, names)
    res = spectrum(model, (x, y), top_k=3, params=names, tol=1e-10, max_steps=500)
    np.testing.assert_allclose(
        res.eigenvalues, torch.linalg.eigvalsh(Hb).flip(0)[:3].numpy(), rtol=1e-6
    )


def test_seeded_and_deterministic():
    model = _mlp()
    x, y = _data(model)
    a = spectrum(model, (x, y), top_k=2, trace_probes=5, density=True, seed=7, density_steps=10)
    b = spectrum(model, (x, y), top_k=2, trace_probes=5, density=True, seed=7, density_steps=10)
    c = spectrum(model, (x, y), top_k=2, trace_probes=5, seed=8)
    np.testing.assert_array_equal(a.trace_samples, b.trace_samples)
    np.testing.assert_array_equal(a.density, b.density)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert not np.array_equal(a.trace_samples, c.trace_samples)


def test_lanczos_handles_repeated_eigenvalues_and_breakdown():
    """A diagonal operator with a 3-fold top eigenvalue: restarts find every copy."""
    d = torch.tensor([5.0, 5.0, 5.0, 2.0, 1.0, 1.0, 0.5, 0.0], dtype=F64)
    res = top_eigen(lambda v: d * v, 8, 4, tol=1e-12, max_steps=8, dtype=F64)
    np.testing.assert_allclose(res.values, [5, 5, 5, 2], rtol=1e-12)
    assert res.converged


def test_hutchinson_is_exact_for_diagonal_operators():
    """Rademacher probes: vᵀDv = tr D for every probe, so the standard error is 0."""
    d = torch.arange(1.0, 11.0, dtype=F64)
    est = hutchinson(lambda v: d * v, 10, 4, dtype=F64)
    assert est.value == pytest.approx(55.0) and est.stderr == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- SLQ, density, tr f(H)


def test_quadrature_reproduces_moments_of_each_probe():
    """Gauss quadrature from m steps is exact for vᵀHᵏv, k < 2m (here m = dim)."""
    model = _mlp()
    x, y = _data(model)
    H = dense_hessian(model, x, y)
    op = HessianOperator(model, (x, y))
    quad = slq(op, op.dim, probes=3, steps=op.dim, seed=11, dtype=F64)
    gen = torch.Generator().manual_seed(11)
    for i in range(3):
        v = rademacher(op.dim, gen, "cpu", F64)
        for k in (0, 1, 2, 3):
            exact = float(v @ torch.linalg.matrix_power(H, k) @ v) / op.dim
            got = float(np.sum(quad.weights[i] * quad.nodes[i] ** k))
            assert got == pytest.approx(exact, rel=1e-8, abs=1e-12)


def test_density_integrates_to_one_and_matches_exact_moments():
    model = _mlp()
    x, y = _data(model)
    ev = torch.linalg.eigvalsh(dense_hessian(model, x, y)).numpy()
    res = spectrum(model, (x, y), top_k=0, density=True, density_steps=len(ev), density_probes=40,
                   density_bins=4000)  # fmt: skip
    grid, dens, q = res.density_grid, res.density, res.quadrature
    assert np.all(dens >= 0)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-6)
    # Smoothing keeps the mean and adds σ² to the second moment.
    m1 = np.sum(q.weights * q.nodes, axis=1)  # per-probe estimates of tr(H)/n
    m2 = np.sum(q.weights * q.nodes**2, axis=1)
    assert np.trapezoid(grid * dens, grid) == pytest.approx(m1.mean(), rel=1e-6, abs=1e-9)
    assert np.trapezoid(grid**2 * dens, grid) == pytest.approx(
        m2.mean() + res.density_sigma**2, rel=1e-5
    )
    for est, exact in ((m1, ev.mean()), (m2, (ev**2).mean())):
        assert abs(est.mean() - exact) < 3 * est.std(ddof=1) / math.sqrt(len(est))


def test_trace_fn_matches_exact_matrix_function():
    model = _mlp()
    x, y = _data(model)
    mask = _mask(model)
    idx = _kept_index(model, mask)
    ev = torch.linalg.eigvalsh(dense_hessian(model, x, y)[idx][:, idx]).numpy()
    op = HessianOperator(model, (x, y), mask=mask)
    c = 2.0  # 1 + cλ > 0 on this spectrum, as for the bound's tr[(I + c·H)^{-1}]
    assert 1 + c * ev.min() > 0
    est = trace_fn(op, op.dim, lambda t: 1 / (1 + c * t), probes=30, steps=op.dim, seed=1)
    exact = np.sum(1 / (1 + c * ev))
    assert abs(est.value - exact) < 3 * est.stderr
    # A polynomial f is integrated exactly, so the estimate equals Hutchinson's with the same probes.
    quad = slq(op, op.dim, probes=5, steps=op.dim, seed=2, dtype=F64)
    square = quadrature_trace(quad, lambda t: t**2)
    hutch = hutchinson(lambda v: op(op(v)), op.dim, 5, seed=2, dtype=F64)
    np.testing.assert_allclose(square.samples, hutch.samples, rtol=1e-8)


def test_trace_fn_on_a_plain_matrix():
    A = torch.diag(torch.arange(1.0, 5.0, dtype=F64))
    est = trace_fn(lambda v: A @ v, 4, lambda t: 1 / t, probes=2, steps=4, dtype=F64)
    assert est.value == pytest.approx(1 + 1 / 2 + 1 / 3 + 1 / 4, rel=1e-12)


def test_spectral_density_grid_resolves_the_kernel():
    from landscape.analysis.hessian.slq import Quadrature

    quad = Quadrature(np.array([[0.0, 100.0]]), np.array([[0.5, 0.5]]), dim=2, matvecs=0)
    d = spectral_density(quad, num_bins=500)
    spacing = d.grid[1] - d.grid[0]
    assert d.sigma >= 1.5 * spacing * (1 - 1e-9)
    assert np.trapezoid(d.values, d.grid) == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- PyHessian


def test_agrees_with_pyhessian():
    """Same model and data: PyHessian's power iteration and Hutchinson vs ours (float32)."""
    pyhessian = pytest.importorskip("pyhessian")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 5, generator=g), torch.randint(0, 3, (64,), generator=g)
    ours = spectrum(model, (x, y), top_k=2, trace_probes=200, tol=1e-6)
    ref = copy.deepcopy(model)  # PyHessian leaves graph-holding tensors in .grad
    with torch.random.fork_rng():
        torch.manual_seed(0)
        comp = pyhessian.hessian(ref, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        top, _ = comp.eigenvalues(top_n=2, maxIter=1000, tol=1e-7)
        samples = np.array(comp.trace(maxIter=200, tol=0.0))
    np.testing.assert_allclose(ours.eigenvalues, top, rtol=1e-3)
    se = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(samples.mean() - ours.trace) < 3 * math.hypot(se, ours.trace_stderr)


# --------------------------------------------------------------------------- bad input


def test_bad_input_says_what_to_do():
    model = _mlp()
    x, y = _data(model)
    with pytest.raises(LandscapeError, match="no parameters named"):
        HessianOperator(model, (x, y), params=["nope.weight"])
    with pytest.raises(LandscapeError, match="mask 0.weight has shape"):
        HessianOperator(model, (x, y), mask={"0.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(LandscapeError, match="keeps no coordinate"):
        HessianOperator(model, (x, y), params=["0.weight"],
                        mask={"0.weight": torch.zeros(6, 5, dtype=torch.bool)})  # fmt: skip
    with pytest.raises(LandscapeError, match="no data"):
        HessianOperator(model, [])
    with pytest.raises(LandscapeError, match="differ in length"):
        HessianOperator(model, (x, y[:3]))
    with pytest.raises(LandscapeError, match="pair"):
        HessianOperator(model, [x])
    mixed = _mlp()
    mixed[2].float()
    with pytest.raises(LandscapeError, match="one device and dtype"):
        HessianOperator(mixed, (x, y))
    with pytest.raises(ValueError, match="unknown HVP method"):
        HessianOperator(model, (x, y), method="fast")
    with pytest.raises(ValueError, match="exceeds the"):
        spectrum(model, (x, y), top_k=1000)
    with pytest.raises(ValueError, match="which must be"):
        spectrum(model, (x, y), which="middle")
    with pytest.raises(ValueError, match="length"):
        HessianOperator(model, (x, y))(torch.ones(3, dtype=F64))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    """Same seeds, same probes (drawn on the CPU): the GPU gives the CPU's numbers."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model = _bn_net()
    x, y = _data(model)
    kw = {"top_k": 3, "trace_probes": 20, "density": True, "density_steps": 20, "tol": 1e-10}
    cpu = spectrum(model, (x, y), mask=_mask(model), **kw)
    gpu_model = copy.deepcopy(model).cuda()
    gpu = spectrum(gpu_model, (x.cuda(), y.cuda()), mask=_mask(model), **kw)
    np.testing.assert_allclose(gpu.eigenvalues, cpu.eigenvalues, rtol=1e-8)
    np.testing.assert_allclose(gpu.trace_samples, cpu.trace_samples, rtol=1e-8)
    np.testing.assert_allclose(gpu.density, cpu.density, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- batched products


@pytest.mark.parametrize("method", ["cached", "double-backward", "forward-over-reverse"])
@pytest.mark.parametrize("net", [_mlp, _bn_net])
def test_block_products_equal_single_products(method, net):
    """``matmat`` (one batched pass for a block of vectors) is ``matvec`` row by row."""
    model = net()
    x, y = _data(model)
    mask = _mask(model)
    op = HessianOperator(model, (x, y), mask=mask, method=method, chunk_size=20, block_size=4)
    vecs = torch.randn(7, op.dim, dtype=F64, generator=torch.Generator().manual_seed(3))
    got = op.matmat(vecs)  # blocks of 4 and 3
    assert op.count == 7
    want = torch.stack([op(v) for v in vecs])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_slq_probes_in_lockstep_equal_probes_one_after_another():
    """SLQ through an operator with block products runs its probes side by side; the rules
    are those of one Lanczos run per probe, including a run that breaks down early."""
    model = _mlp()
    x, y = _data(model)
    op = HessianOperator(model, (x, y), block_size=8)
    lockstep = slq(op, op.dim, probes=5, steps=30, seed=4, dtype=F64)
    single = slq(lambda v: op(v), op.dim, probes=5, steps=30, seed=4, dtype=F64)
    np.testing.assert_allclose(lockstep.nodes, single.nodes, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lockstep.weights, single.weights, rtol=1e-9, atol=1e-12)
    assert lockstep.matvecs == single.matvecs
    # A 6-dimensional diagonal operator with 3 distinct eigenvalues: Krylov spaces of
    # dimension 3, so every run breaks down after 3 of its 6 steps.
    d = torch.tensor([1.0, 1.0, 2.0, 2.0, 5.0, 5.0], dtype=F64)

    class Diagonal:
        def __call__(self, v):
            return d * v

        def matmat(self, vs):
            return vs * d

        block = 4

    from landscape.analysis.hessian import batched

    assert batched.block_size(Diagonal()) == 4
    a = slq(Diagonal(), 6, probes=3, steps=6, seed=1, dtype=F64)
    b = slq(lambda v: d * v, 6, probes=3, steps=6, seed=1, dtype=F64)
    np.testing.assert_allclose(a.nodes, b.nodes, atol=1e-12)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-12)
    assert a.matvecs == b.matvecs == 9
