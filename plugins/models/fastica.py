"""`fastica`: linear ICA (Hyvärinen, 1999) as a peer of the models, scikit-learn's FastICA fitted per seed.

§4.1 judges a non-linear ICA model by how far above linear ICA its MCC lies; the `mcc` metric reports
FastICA as a floor fitted once. As a model it is fitted once per seed of the spec (``random_state`` is the
seed), on the same training split, so its MCC, CCA-MCC between seeds and any other metric come out beside
iVAE's and VaDE's from the same spec. It never uses u: linear ICA has no auxiliary variable.

It is a fitted peer (`ica.components.protocols.FittedPeer`), not a torch module: no seed axis, no ELBO.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from pydantic import PositiveInt

from ica.plugin import BuildContext, Field, hookimpl, Options, SpecError

RANDOM_STATE_LIMIT = 2**32
"""scikit-learn's ``random_state`` must be below this; a larger spec seed is folded into range (`random_state`)."""


class FastICAOptions(Options):
    """scikit-learn's FastICA settings; the number of components is the model's latent size."""

    latent_dim: int | None = Field(
        None,
        ge=1,
        description="FastICA's n_components; defaults to the number of true sources, else the "
        "observed dimension (named like every model's latent size, so 'models.*.latent_dim' grids reach it).",
    )
    whiten: Literal["unit-variance", "arbitrary-variance"] = Field(
        "unit-variance", description="Whitening of the components (scikit-learn's whiten)."
    )
    algorithm: Literal["parallel", "deflation"] = Field(
        "parallel", description="Estimate all components at once ('parallel') or one after another ('deflation')."
    )
    fun: Literal["logcosh", "exp", "cube"] = Field("logcosh", description="The contrast function G.")
    max_iter: PositiveInt = Field(1000, description="Iterations of the fixed-point algorithm (as the mcc floor).")
    tol: float = Field(1e-4, gt=0, description="Convergence tolerance of the un-mixing matrix.")


class FastICAPeer:
    """FastICA fitted on x alone, seeded per fit; ``fit_info`` says whether it converged and in how many steps."""

    def __init__(self, options: FastICAOptions, n_components: int):
        self.options, self.n_components = options, n_components
        self.estimator_: Any = None
        self.fit_info: dict[str, Any] = {}

    def fit(self, x: np.ndarray, u: np.ndarray | None, *, seed: int, device: str) -> None:
        """Fit on the training observations ``x`` ``[N, D]`` (u is not used); all randomness from ``seed``."""
        from sklearn.decomposition import FastICA  # imported on use: loading the plugins stays quick
        from sklearn.exceptions import ConvergenceWarning

        o = self.options
        estimator = FastICA(
            n_components=self.n_components,
            whiten=o.whiten,
            algorithm=o.algorithm,
            fun=o.fun,
            max_iter=o.max_iter,
            tol=o.tol,
            random_state=random_state(seed),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(x)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.estimator_ = estimator
        self.fit_info = {"converged": converged, "iterations": int(estimator.n_iter_)}

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The estimated sources of ``x`` ``[N, D]``: ``[N, latent_dim]``."""
        if self.estimator_ is None:
            raise RuntimeError("fit FastICA before transforming")
        return self.estimator_.transform(x).astype(np.float32)


def random_state(seed: int) -> int:
    """``seed`` itself where scikit-learn takes it, else a value below 2**32 derived from all of its bits."""
    if 0 <= seed < RANDOM_STATE_LIMIT:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1)[0])


def build(options: FastICAOptions, ctx: BuildContext) -> FastICAPeer:
    """FastICA as a peer: one fit per seed, on x only."""
    observed = int(np.prod(ctx.x_shape)) if ctx.x_shape else 0
    n_components = options.latent_dim or ctx.latent_dim or observed
    if observed and n_components > observed:
        raise SpecError(
            f"latent_dim ({n_components}) is more than the {observed} observed dimensions; linear "
            "ICA finds at most that many components",
            where="fastica.latent_dim",
        )
    return FastICAPeer(options, n_components)


@hookimpl
def ica_register(register):
    register(
        "model",
        "fastica",
        FastICAOptions,
        build,
        description="Linear ICA (scikit-learn's FastICA), fitted per seed: a peer baseline (§4.1).",
    )
