"""y as u: discrete labels coded ``0..k-1`` in sorted order (as the ``npz`` data set codes them), or, declared
with ``u_kind="continuous"`` (never guessed from y's dtype: whole-number positions are still positions), a
continuous u used as given, float32 ``[n, d_u]``, as CEBRA takes a behaviour variable."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ica.estimators.fitting import MIN_ROWS, InvalidParameter

U_KINDS = ("discrete", "continuous")


def check_u_kind(u_kind: Any) -> None:
    """``u_kind`` is one of `U_KINDS`, said before any array is copied."""
    if u_kind not in U_KINDS:
        raise InvalidParameter(f"u_kind must be 'discrete' or 'continuous', not {u_kind!r}", where="u_kind")


def fitted_u(estimator: Any, X: Any, y: Any, u_kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """X checked (float32), u (codes ``[n]``, or ``[n, d_u]`` float32) and the labels the codes stand for (None
    for a continuous u), with scikit-learn's checks (NaN, rows that disagree, a continuous y where labels are
    expected: "Unknown label type", which names ``u_kind``'s job)."""
    if u_kind == "continuous":
        X, y = validate_data(
            estimator, X, y, dtype=np.float32, ensure_min_samples=MIN_ROWS, multi_output=True, y_numeric=True
        )
        return X, np.asarray(y, dtype=np.float32).reshape(len(X), -1), None
    X, y = validate_data(estimator, X, y, dtype=np.float32, ensure_min_samples=MIN_ROWS)
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise ValueError(f"{exc}; for a continuous u (a position, a speed) pass u_kind='continuous'") from None
    classes, codes = np.unique(y, return_inverse=True)
    return X, codes, classes


def u_for(y: Any, n: int, classes: np.ndarray | None, u_dim: int | None) -> np.ndarray:
    """y given to ``transform``, ``score`` or ``predict`` as the model's u: the codes of labels seen in ``fit``,
    or a continuous u of the width ``fit`` saw."""
    y = np.asarray(y)
    if classes is None:
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape != (n, u_dim) or not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"y must be numbers of shape ({n}, {u_dim}), as in fit; got {y.shape} of {y.dtype}")
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite values")
        return y.astype(np.float32)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},), one label per row of X; got {y.shape}")
    codes = np.searchsorted(classes, y)
    unseen = (codes >= len(classes)) | (classes[np.minimum(codes, len(classes) - 1)] != y)
    if unseen.any():
        raise ValueError(f"y contains labels not seen in fit: {np.unique(y[unseen])[:10].tolist()}")
    return codes
