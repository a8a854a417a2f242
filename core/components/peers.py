"""The contract of a fitted peer: a baseline fitted seed by seed as an estimator, not trained by the loop."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class FittedPeer(Protocol):
    """A model that is a fitted estimator, not a torch module: a baseline from outside (FastICA, CEBRA) that
    one spec compares with the models on the same data, seeds and metrics.

    A ``model`` plugin may return one instead of a module; it is then fitted seed by seed
    (`ica.running.peers`) rather than trained by the loop, and has no seed axis, no loss and no ELBO.
    ``fit(x, u, seed=, device=)`` fits on the training split: ``x`` ``[N, D]`` float32 numpy (observations
    flattened), ``u`` ``[N]`` int64 (discrete), ``[N, d_u]`` float32 (continuous) or None, every random draw
    from ``seed``, computing on ``device`` (a torch device string: 'cpu', 'cuda:0') where the estimator can
    choose. ``transform(x)`` gives the latents ``[N, d_z]`` of other points ``[N, D]``. An optional
    ``fit_info`` dict (JSON values: convergence, final loss) set by ``fit`` is recorded in the seed's
    result.json.
    """

    def fit(self, x: Any, u: Any, *, seed: int, device: str) -> None: ...

    def transform(self, x: Any) -> Any: ...


def is_fitted_peer(model: Any) -> bool:
    """Whether a built model is a `FittedPeer` (fitted seed by seed) rather than a module the loop trains."""
    return isinstance(model, FittedPeer) and not isinstance(model, nn.Module)
