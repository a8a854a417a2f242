"""The discriminative models of nonlinear ICA as estimators: TCL (y is each row's segment) and PCL (X's rows are
in time order, one recording or several given by ``sequence``). Each is `IcaEstimator` with its spec entry written
from its parameters, as `ica.estimators.models` does for the generative ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ica.estimators.base import IcaEstimator
from ica.estimators.fitting import InvalidData
from ica.estimators.options import vae_options


class TCL(IcaEstimator):
    """Time-contrastive learning (Hyvärinen & Morioka, 2016): a feature network h(x) and a multinomial logistic
    regression that tells each row's segment (y, any labels) from h(x). ``transform`` gives h(x), which TCL's
    theory relates to the sources' sufficient statistics (|s|, s²) by a linear map, not to s itself; ``predict``
    the segment the classifier reads (y is not needed to transform or predict).

    Parameters:
        n_components (int): the features' size.
        hidden (list[int] | None): widths of the feature MLP (None: the plugin's).
        encoder (str | dict | None): the feature network by name or as its options (None: an MLP); ``hidden`` sets
            its widths, and giving them in both is an error naming both.
        feature_nonlinearity (str): the features' last nonlinearity, ``"abs"`` (the original's), ``"square"`` or
            ``"none"``.
        n_seeds (int): seeds trained together as one batched model; ``consistency_`` compares them.
        steps (int): training steps.
        batch_size (int): rows per step (clipped to the rows of X).
        lr (float): the learning rate.
        random_state (int | None): the first seed (seeds ``random_state .. random_state + n_seeds - 1``); None
            means 0.
        standardize (bool): z-score each feature with the statistics of X (kept, and applied to new data).
        device (str): ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        verbose (bool | int | None): show the fit's progress (False: nothing), as in `IcaEstimator`.
        run_dir (str | Path | None): a new or empty directory to keep the run in; None trains in a temporary
            directory that ``fit`` removes.

    Attributes, methods and the rest: as in [`IcaEstimator`][ica.estimators.IcaEstimator].
    """

    _y_is_u = "always"

    def __init__(
        self,
        n_components=2,
        hidden=None,
        encoder=None,
        feature_nonlinearity="abs",
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        device="auto",
        verbose=False,
        run_dir=None,
    ):
        self.n_components = n_components
        self.hidden = hidden
        self.encoder = encoder
        self.feature_nonlinearity = feature_nonlinearity
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.device = device
        self.verbose = verbose
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        options = vae_options(self, "tcl", self.hidden, ("encoder",))
        return {**options, "feature_nonlinearity": self.feature_nonlinearity}

    def score(self, X, y=None):
        """The mean log-probability the classifier gives each row's segment y, minus the weight penalty (higher
        is better): TCL's objective, not a likelihood of X, so y is needed here."""
        if y is None:
            raise ValueError("TCL's score is its classifier's log-probability of each row's segment: pass y")
        return super().score(X, y)

    def predict(self, X, y=None):
        """The segment of every row by the first seed's classifier: a ``numpy.ndarray`` ``[n_samples]`` of the
        labels y had in ``fit``."""
        found = self._predict(X, y)
        classes = getattr(self, "classes_", None)
        return found if classes is None else np.asarray(classes)[found]


class PCL(IcaEstimator):
    """Permutation-contrastive learning (Hyvärinen & Morioka, 2017): a feature network h(x) trained to tell pairs
    of consecutive rows (x_t, x_t-1) from pairs whose second row is another time point's. X's rows are in time
    order: one recording, as CEBRA-Time reads them, or several given by ``fit(X, sequence=...)``, each recording's
    rows contiguous. y is ignored. ``transform`` gives h(x) of any rows, in any order.

    Parameters:
        n_components (int): the features' size.
        hidden (list[int] | None): widths of the feature MLP (None: the plugin's).
        encoder (str | dict | None): the feature network by name or as its options (None: an MLP); ``hidden`` sets
            its widths, and giving them in both is an error naming both.
        n_seeds (int): seeds trained together as one batched model; ``consistency_`` compares them.
        steps (int): training steps.
        batch_size (int): rows per step (clipped to the rows of X): pairs of consecutive rows.
        lr (float): the learning rate.
        random_state (int | None): the first seed (seeds ``random_state .. random_state + n_seeds - 1``); None
            means 0.
        standardize (bool): z-score each feature with the statistics of X (kept, and applied to new data).
        device (str): ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        verbose (bool | int | None): show the fit's progress (False: nothing), as in `IcaEstimator`.
        run_dir (str | Path | None): a new or empty directory to keep the run in; None trains in a temporary
            directory that ``fit`` removes.

    Attributes, methods and the rest: as in [`IcaEstimator`][ica.estimators.IcaEstimator].
    """

    _y_is_u = "never"
    _assigns = False

    def __init__(
        self,
        n_components=2,
        hidden=None,
        encoder=None,
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        device="auto",
        verbose=False,
        run_dir=None,
    ):
        self.n_components = n_components
        self.hidden = hidden
        self.encoder = encoder
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.device = device
        self.verbose = verbose
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        return vae_options(self, "pcl", self.hidden, ("encoder",))

    def fit(self, X, y=None, sequence=None):
        """Train on X's rows in time order: ``sequence`` (``[n_samples]`` integers, each recording's rows
        contiguous) names the recording of each row; None: X is one recording. Otherwise as `IcaEstimator.fit`."""
        self._sequence = sequence
        try:
            return super().fit(X, y)
        finally:
            del self._sequence

    def _fit_arrays(self, X: np.ndarray) -> dict[str, np.ndarray]:
        given = getattr(self, "_sequence", None)
        if given is None:
            return {"sequence": np.zeros(len(X), np.int64)}
        sequence = np.asarray(given)
        if sequence.shape != (len(X),) or not np.issubdtype(sequence.dtype, np.integer):
            raise InvalidData(
                f"must be one whole number per row of X ({len(X)}), the recording of each row; got an array of "
                f"shape {list(sequence.shape)} and dtype {sequence.dtype}",
                where="sequence",
            )
        return {"sequence": sequence.astype(np.int64)}
