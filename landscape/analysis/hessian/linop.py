"""The Hessian operator as a ``scipy.sparse.linalg.LinearOperator`` (docs/science.md).

:func:`as_linear_operator` (also :meth:`HessianOperator.to_scipy`) wraps a
:class:`~landscape.analysis.hessian.hvp.HessianOperator` so that SciPy's iterative
solvers accept it: ``eigsh`` and ``lobpcg`` for eigenvalues, ``cg`` and ``minres``
for solves with ``H_m`` (or ``H_m + λI`` via ``aslinearoperator`` arithmetic), and
anything else that takes a ``LinearOperator``.

Every product runs in PyTorch on the operator's device and dtype; the wrapper only
converts its NumPy input to a tensor there and the result back to NumPy, so the
one host transfer (and, on a GPU, the one synchronisation) per call is that
conversion. A block of ``k`` vectors (``matmat``) is converted once each way and
costs ``k`` Hessian-vector products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from landscape.errors import LandscapeError

if TYPE_CHECKING:
    from landscape.analysis.hessian.hvp import HessianOperator

__all__ = ["HessianLinearOperator", "as_linear_operator"]

_NUMPY_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}


class HessianLinearOperator(LinearOperator):
    """``H_m`` as a SciPy ``LinearOperator``; build it with :func:`as_linear_operator`.

    ``shape`` is ``(op.dim, op.dim)`` and ``dtype`` the NumPy twin of ``op.dtype``.
    The Hessian is real and symmetric, so the adjoint and the transpose are the
    operator itself (``rmatvec`` is ``matvec``). :attr:`operator` is the wrapped
    :class:`HessianOperator`; its ``count`` counts the products made through here too.
    """

    def __init__(self, operator: HessianOperator) -> None:
        dtype = _NUMPY_DTYPES.get(operator.dtype)
        if dtype is None:
            raise LandscapeError(
                f"SciPy's solvers need float32 or float64, but the model is {operator.dtype}; "
                "convert it first (e.g. model.double())"
            )
        super().__init__(dtype=dtype, shape=(operator.dim, operator.dim))
        self.operator = operator

    def _apply(self, X: np.ndarray) -> np.ndarray:
        """``H_m X`` for the columns of an ``(n, k)`` array, in the operator's dtype."""
        if np.iscomplexobj(X):  # H_m is real: apply it to both parts in one pass
            k = X.shape[1]
            both = self._apply(np.concatenate([X.real, X.imag], axis=1))
            return both[:, :k] + 1j * both[:, k:]
        if X.shape[1] == 0:
            return np.zeros(X.shape, dtype=self.dtype)
        op = self.operator
        # One copy to the device as rows (contiguous vectors), one copy back.
        cols = torch.from_numpy(np.array(X.T, dtype=self.dtype, order="C")).to(op.device)
        out = torch.stack([op.matvec(v) for v in cols])
        return out.detach().cpu().numpy().T

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._apply(np.asarray(x).reshape(-1, 1))[:, 0]

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        return self._apply(np.asarray(X))

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        return self._matmat(X)

    def _adjoint(self) -> HessianLinearOperator:
        return self

    def _transpose(self) -> HessianLinearOperator:
        return self


def as_linear_operator(operator: HessianOperator) -> HessianLinearOperator:
    """A :class:`HessianOperator` as a ``scipy.sparse.linalg.LinearOperator``.

    Args:
        operator: the Hessian operator; its model must be float32 or float64.

    Returns:
        A ``LinearOperator`` of shape ``(operator.dim, operator.dim)`` (the kept
        coordinates when a mask was given) and dtype ``float64`` or ``float32`` as
        the operator's. ``matvec``/``matmat`` take and return NumPy arrays; the
        products run in PyTorch on the operator's device. ``rmatvec`` equals
        ``matvec`` (the Hessian is symmetric).

    Raises:
        LandscapeError: the operator's dtype has no SciPy counterpart (e.g. float16).

    Example:
        >>> from scipy.sparse.linalg import eigsh
        >>> from landscape.hessian import HessianOperator, as_linear_operator
        >>> model = torch.nn.Sequential(
        ...     torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
        ... ).double()
        >>> x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))
        >>> A = as_linear_operator(HessianOperator(model, (x, y)))
        >>> A.shape, A.dtype
        ((51, 51), dtype('float64'))
        >>> top = eigsh(A, k=3, which="LA", return_eigenvectors=False)
    """
    return HessianLinearOperator(operator)
