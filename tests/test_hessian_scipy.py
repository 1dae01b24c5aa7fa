"""The Hessian operator as a SciPy ``LinearOperator``, checked against exact references.

``matvec``/``matmat`` against the dense float64 Hessian of
``torch.autograd.functional.hessian``, and our Lanczos (:func:`top_eigen`) against
ARPACK (``scipy.sparse.linalg.eigsh``) on that ``LinearOperator``, with and without
a mask, on the tiny MLP of ``tests/test_hessian.py`` (63 parameters, 48 samples).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

from landscape.errors import LandscapeError
from landscape.hessian import HessianOperator, as_linear_operator, top_eigen
from tests._reference import dense_hessian
from tests.test_hessian import _data, _kept_index, _mask, _mlp

F64 = torch.float64


def _setup(masked: bool):
    """The MLP, its operator (masked or not) and the dense Hessian on the kept coordinates."""
    model = _mlp()
    x, y = _data(model)
    H = dense_hessian(model, x, y)
    mask = _mask(model) if masked else None
    if mask is not None:
        idx = _kept_index(model, mask)
        H = H[idx][:, idx]
    return model, (x, y), HessianOperator(model, (x, y), mask=mask), H.numpy()


@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
def test_matvec_equals_dense_hessian_times_vector(masked):
    model, _, op, H = _setup(masked)
    A = op.to_scipy()
    assert isinstance(A, LinearOperator)
    assert A.shape == (op.dim, op.dim) == H.shape and A.dtype == np.float64
    if masked:
        assert op.dim < sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    v, w = rng.standard_normal(op.dim), rng.standard_normal(op.dim)
    hv = A.matvec(v)
    assert hv.shape == (op.dim,) and hv.dtype == np.float64
    np.testing.assert_allclose(hv, H @ v, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A @ v, H @ v, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A.matvec(v[:, None]), (H @ v)[:, None], rtol=1e-8, atol=1e-10)
    # Symmetric: the adjoint and the transpose are the operator itself.
    np.testing.assert_allclose(A.rmatvec(v), H @ v, rtol=1e-8, atol=1e-10)
    assert A.H is A and A.T is A
    # A block: one column per product, converted once each way.
    V = np.stack([v, w, v - 2 * w], axis=1)
    count = op.count
    np.testing.assert_allclose(A.matmat(V), H @ V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(A.rmatmat(V), H @ V, rtol=1e-8, atol=1e-10)
    assert op.count == count + 6
    assert A.matmat(np.zeros((op.dim, 0))).shape == (op.dim, 0)
    # Complex vectors (as some SciPy routines pass): H acts on both parts.
    np.testing.assert_allclose(A.matvec(v + 1j * w), H @ v + 1j * (H @ w), rtol=1e-8, atol=1e-10)
    # Float32 input is promoted to the operator's dtype; the wrapper has the function's name too.
    np.testing.assert_allclose(as_linear_operator(op).matvec(v.astype(np.float32)),
                               H @ v.astype(np.float32), rtol=1e-8, atol=1e-10)  # fmt: skip


@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
def test_top_eigen_agrees_with_eigsh(masked):
    _, _, op, H = _setup(masked)
    k = 4
    ours = top_eigen(op, op.dim, k, tol=1e-10, max_steps=500, dtype=F64)
    assert ours.converged
    v0 = np.random.default_rng(1).standard_normal(op.dim)
    ref = eigsh(op.to_scipy(), k=k, which="LA", v0=v0, return_eigenvectors=False)
    ref = np.sort(ref)[::-1]
    np.testing.assert_allclose(ours.values, ref, rtol=1e-6)
    # Both are the kept submatrix's exact top-k.
    exact = np.linalg.eigvalsh(H)[::-1][:k]
    np.testing.assert_allclose(ref, exact, rtol=1e-6)


def test_float32_operator_is_float32():
    model = _mlp().float()
    x, y = _data(model)
    op = HessianOperator(model, (x.float(), y))
    A = op.to_scipy()
    assert A.dtype == np.float32
    v = np.random.default_rng(2).standard_normal(op.dim)  # float64 in, float32 out
    hv = A.matvec(v)
    assert hv.dtype == np.float32
    exact = op(torch.from_numpy(v.astype(np.float32))).numpy()
    np.testing.assert_array_equal(hv, exact)


def test_unsupported_dtype_says_what_to_do():
    model = _mlp().half()
    x, y = _data(model)
    op = HessianOperator(model, (x.half(), y))
    with pytest.raises(LandscapeError, match="float32 or float64"):
        op.to_scipy()


@pytest.mark.gpu
def test_cuda_operator_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model = _mlp()
    x, y = _data(model)
    mask = _mask(model)
    cpu = HessianOperator(model, (x, y), mask=mask).to_scipy()
    gpu_mask = {n: m.cuda() for n, m in mask.items()}
    gpu = HessianOperator(copy.deepcopy(model).cuda(), (x.cuda(), y.cuda()), mask=gpu_mask)
    A = gpu.to_scipy()
    V = np.random.default_rng(3).standard_normal((cpu.shape[0], 3))
    out = A.matmat(V)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, cpu.matmat(V), rtol=1e-10, atol=1e-12)
    top = eigsh(A, k=2, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.sort(eigsh(cpu, k=2, which="LA")[0]), rtol=1e-8)
