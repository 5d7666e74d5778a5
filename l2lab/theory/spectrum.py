"""The spectrum of a kernel ``Theta_0`` on the training set: eigenvalues that are round-off of
zero snapped to exactly 0, and the check that the kernel is positive semi-definite.

Eq. (1) decouples in the eigenbasis of ``Theta_0`` (MSE loss, :mod:`l2lab.theory.train_set`); the
cross-entropy flow (:mod:`l2lab.theory.cross_entropy`) needs only the PSD check.  The tolerance
``1e-5 max|gamma|`` accepts the round-off of float32 kernels (neural-tangents' default dtype).
Internal helpers of the theory wing: ``kernel`` is a symmetric float64 ``(N, N)`` matrix
(:func:`l2lab._checks.symmetric_matrix`).
"""
from __future__ import annotations

import numpy as np

from l2lab import _checks

__all__ = ["psd_eigenvalues", "eigh_psd", "check_psd"]

_PSD_RTOL = 1e-5  # round-off of float32 kernels


def psd_eigenvalues(name: str, gammas: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues ``(N,)`` with round-off snapped to 0; ValueError if not PSD.

    Eigenvalues within ``N * eps * max|gamma|`` of zero are round-off of zero modes (LAPACK
    returns them as +-1e-16 relative, with a sign that depends on the BLAS build): they are set
    to exactly 0, so a rank-deficient kernel keeps its null space (e.g. the lam = 0 projection).
    An eigenvalue below ``-1e-5 max|gamma|`` is a ValueError naming ``name``.
    """
    scale = max(float(np.max(np.abs(gammas))), 1e-300)
    if gammas[0] < -_PSD_RTOL * scale:
        raise _checks.bad_value(name, f"must be positive semi-definite (min eigenvalue "
                                      f"{gammas[0]:.3g})")
    zero = gammas.shape[0] * np.finfo(np.float64).eps * scale
    return np.where(gammas <= zero, 0.0, gammas)


def eigh_psd(name: str, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the symmetric ``(N, N)`` ``kernel``: ``(gammas (N,), vecs (N, N))``,
    eigenvalues ascending and snapped by :func:`psd_eigenvalues`, eigenvectors as columns."""
    gammas, vecs = np.linalg.eigh(kernel)
    return psd_eigenvalues(name, gammas), vecs


def check_psd(name: str, kernel: np.ndarray) -> None:
    """ValueError naming ``name`` unless the symmetric ``(N, N)`` ``kernel`` is PSD (with the
    slack of :func:`psd_eigenvalues`); a Cholesky factorisation first, 3x cheaper than the
    eigenvalues that are computed only if it fails."""
    diag = float(np.max(np.abs(np.diag(kernel))))
    try:
        np.linalg.cholesky(kernel + _PSD_RTOL * max(diag, 1e-300) * np.eye(kernel.shape[0]))
    except np.linalg.LinAlgError:
        psd_eigenvalues(name, np.linalg.eigvalsh(kernel))
