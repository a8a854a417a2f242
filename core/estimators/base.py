"""The scikit-learn face of an `ica` model: ``fit`` is ``ica run`` on the user's arrays, the rest is the
trained model ``ica.load`` returns.

What scikit-learn code expects and `ica` adds, in one place: arrays checked with scikit-learn's own helpers
(so NaN, a wrong feature count or a missing y give the ValueErrors its checks look for), parameters stored
as given and read only in ``fit``, fitted attributes ending in ``_``, and pickling (the trained model holds
a spec whose pydantic class is built at run time, so it travels as its JSON and is validated again).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ica.estimators.labels import check_u_kind, fitted_u, u_for
from ica.estimators.fitting import (
    MIN_ROWS,
    Fitted,
    check_device,
    consistency,
    experiment,
    fit_run,
    seed_list,
    training_options,
    write_run,
)
from ica.estimators.options import with_parts
from ica.estimators.progress import FitProgress
from ica.spec.load import load_spec, spec_json
from ica.trained.model import TrainedModel


class IcaEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Any `ica` model as a scikit-learn transformer, from the ``models`` entry of a spec.

    ``fit(X, y)``: y, where given, is the u of each row (labels of any type, coded in sorted order as the
    ``npz`` data set codes them); a model that needs u (``{"name": "ivae"}``) then needs y in ``transform``,
    ``score`` and ``predict`` too, others ignore it there. X needs at least 4 rows (the run is evaluated on X: its
    metrics fit on half of the rows and score on the other half).

    Parameters:
        model (dict | None): the model's options as in a spec, e.g. ``{"name": "vade", "prior": {"name": "gmm"}}``.
        n_components (int | None): the latent size (the spec's ``latent_dim``); None keeps what ``model`` says.
        likelihood (str | dict | None): p(x|z), by name (``"bernoulli"``) or as its options
            (``{"name": "gaussian", "learn_scale": True}``); None keeps what ``model`` says (else the model's
            default). Set both here and in ``model``, it is an error naming both; so are ``prior``, ``encoder``
            and ``decoder``.
        prior (str | dict | None): p(z) or p(z|u) the same way (``{"name": "gmm", "components": 5}``).
        encoder (str | dict | None): q(z|x) the same way (``{"name": "mlp", "hidden": [64, 64]}``).
        decoder (str | dict | None): the network from z to the likelihood's parameters, the same way.
        n_seeds (int): seeds trained together as one batched model; ``consistency_`` compares them.
        steps (int | None): training steps (the spec's ``training.steps``); None takes it from ``training``,
            else 10,000. Given both here and in ``training``, a setting is an error naming both (one of them
            would otherwise be silently ignored); the same holds for ``batch_size`` and ``lr``.
        batch_size (int | None): rows per step (``training.batch_size``, clipped to the rows of X); None takes
            it from ``training``, else 64.
        lr (float | None): the learning rate (``training.lr``); None takes it from ``training``, else 0.001.
        random_state (int | None): the first seed (seeds are ``random_state .. random_state + n_seeds - 1``);
            None means 0, so that an estimator is deterministic like a spec. Fitting twice gives the same model.
        standardize (bool): z-score each feature with the statistics of X (kept, and applied to new data).
        u_kind (str): what y is: ``"discrete"`` labels (any type, coded in sorted order), or ``"continuous"``
            numbers ``[n_samples]`` or ``[n_samples, d_u]`` (a position, a speed) that the prior and encoder take
            as they are. Declared, never guessed from y's dtype.
        device (str): as torch writes it: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (one GPU of several), ``"mps"``
            (Apple's GPU); ``"auto"`` is CUDA when present, else the CPU. One this machine lacks is refused by
            ``fit`` before anything is written.
        verbose (bool | int | None): show the fit's progress on stderr: a progress bar per fit (steps, loss,
            elapsed) in an interactive terminal or notebook, plain lines elsewhere (inside joblib's workers, as
            under ``GridSearchCV(n_jobs=2)``, whole lines naming the worker, never a bar); 2 adds the run's
            notices. False (the default) shows nothing; None shows the bar only where someone is watching (an
            interactive terminal or notebook, not a worker).
        run_dir (str | Path | None): a new or empty directory to keep the run in (with the .npz of X); None
            trains in a temporary directory that ``fit`` removes.
        training (dict | None): further ``training`` options of a spec (e.g. ``{"scheduler": None}``).

    Attributes:
        model_ (TrainedModel): the trained model of all seeds, as ``ica.load`` returns it.
        seeds_ (list[int]): its seeds, first one first (``transform`` and ``predict`` use the first).
        consistency_ (float): the mean pairwise out-of-sample CCA-MCC between the seeds (NaN for one seed). The
            evaluation split is X itself: CCA is fitted on a fixed random half of X's rows (the ``cca_mcc`` metric's
            ``shuffle_seed``), measured on the rest.
        summary_ (dict): the run's summary of the model (``stats``, ``seeds``, ``pairs``), as ``ica results`` reads.
        spec_ (dict): the spec that was run (its data set is the .npz ``fit`` wrote).
        run_dir_ (Path | None): the kept run directory, or None.
        classes_ (numpy.ndarray): the labels of y seen in ``fit``, in the order their codes u take (set when
            ``fit`` was given y).
        n_features_in_ (int): the number of features of X, as in scikit-learn.
        feature_names_in_ (numpy.ndarray): X's column names, where X was a DataFrame, as in scikit-learn.
    """

    _y_is_u = "given"  # y, when fit gets one, is each row's u; "always": required (iVAE); "never": ignored
    _assigns = True  # predict is offered

    def __init__(
        self,
        model=None,
        n_components=None,
        likelihood=None,
        prior=None,
        encoder=None,
        decoder=None,
        n_seeds=1,
        steps=None,
        batch_size=None,
        lr=None,
        random_state=None,
        standardize=False,
        u_kind="discrete",
        device="auto",
        verbose=False,
        run_dir=None,
        training=None,
    ):
        self.model = model
        self.n_components = n_components
        self.likelihood = likelihood
        self.prior = prior
        self.encoder = encoder
        self.decoder = decoder
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.u_kind = u_kind
        self.device = device
        self.verbose = verbose
        self.run_dir = run_dir
        self.training = training

    # --------------------------------------------------------------------------- the spec
    def _model_options(self) -> dict[str, Any]:
        """The ``models`` entry of the spec: here the ``model`` parameter, with ``n_components`` and the parts."""
        if not isinstance(self.model, dict) or "name" not in self.model:
            raise ValueError(
                f"model must be a model's options as in a spec, e.g. {{'name': 'vade'}}; got {self.model!r}"
            )
        options = copy.deepcopy(self.model)
        if self.n_components is not None:
            if options.get("latent_dim", self.n_components) != self.n_components:
                raise ValueError(
                    f"n_components={self.n_components} contradicts model's latent_dim="
                    f"{options['latent_dim']}: give one of them"
                )
            options["latent_dim"] = self.n_components
        return with_parts(options, self, "model")

    def _spec(self, data_path: Path, has_u: bool) -> dict[str, Any]:
        """The spec ``fit`` runs; u, where given, of the kind ``u_kind`` declares."""
        named = {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr}
        training = training_options(named, getattr(self, "training", None))  # only IcaEstimator has `training`
        return experiment(
            self._model_options(),
            data_path,
            has_u=has_u,
            continuous_u=has_u and getattr(self, "u_kind", "discrete") == "continuous",
            standardize=self.standardize,
            seeds=seed_list(self.random_state, self.n_seeds),
            device=self.device,
            training=training,
        )

    # --------------------------------------------------------------------------- fitting
    def fit(self, X, y=None):
        """Train ``n_seeds`` seeds on every row of X: ``ica run`` on X, then ``ica.load``.

        Args:
            X (array-like): ``[n_samples, n_features]``, at least 4 rows.
            y (array-like | None): ``[n_samples]``, the u of each row (any labels), where the model takes u.

        Returns:
            IcaEstimator: the estimator itself, fitted.
        """
        uses_u = self._y_is_u == "always" or (self._y_is_u == "given" and y is not None)
        seed_list(self.random_state, self.n_seeds)  # before any array is copied or file written
        check_device(self.device)
        progress = FitProgress(self.verbose, self._model_options()["name"])
        u_kind = getattr(self, "u_kind", "discrete")  # only the estimators that take u have it
        check_u_kind(u_kind)
        if uses_u:
            X, u, classes = fitted_u(self, X, y, u_kind)
            self.__dict__.pop("classes_", None)  # a continuous u has no labels, whatever an earlier fit had
            if classes is not None:
                self.classes_ = classes
        else:
            X = validate_data(self, X, dtype=np.float32, ensure_min_samples=MIN_ROWS)
            u = None
        self._fit_u = uses_u
        with progress:
            spec_for = lambda path: self._spec(path, u is not None)  # noqa: E731
            fitted = fit_run(spec_for, X, u, self.run_dir, progress.event, self._fit_arrays(X))
        self._set_fitted(fitted)
        self.run_dir_ = None if self.run_dir is None else Path(self.run_dir)
        return self

    def _fit_arrays(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays ``fit`` writes beside x and u (a model that reads time order: its ``sequence``)."""
        return {}

    def _set_fitted(self, fitted: Fitted) -> None:
        self.model_ = fitted.model
        self.seeds_ = list(fitted.model.seeds)
        self.summary_ = fitted.summary
        self.consistency_ = consistency(fitted.summary)
        self.spec_ = fitted.spec
        self._run_files = fitted.files
        u_dim = self.model_.u_dim
        one_u = (
            None if not self._fit_u else np.zeros(1, np.int64) if u_dim is None else np.zeros((1, u_dim), np.float32)
        )
        self._n_features_out = int(
            self.model_.transform(np.zeros((1, self.n_features_in_), np.float32), one_u).shape[-1]
        )

    # --------------------------------------------------------------------------- using it
    def transform(self, X, y=None):
        """Posterior means (flows: f^-1(x)) of the FIRST seed, a float32 ``numpy.ndarray``
        ``[n_samples, n_components]``; ``transform_all`` gives every seed. X and y as in ``fit``."""
        return self.transform_all(X, y)[0]

    def transform_all(self, X, y=None):
        """The representation of X by every seed, a float32 ``numpy.ndarray``
        ``[n_seeds, n_samples, n_components]``. X and y as in ``fit``."""
        x, u = self._checked(X, y)
        out = self.model_.transform(x, u)
        return out[None] if len(self.seeds_) == 1 else out

    def fit_transform(self, X, y=None):
        """``fit(X, y)``, then ``transform(X, y)``: the first seed's representation of X,
        ``[n_samples, n_components]``."""
        return self.fit(X, y).transform(X, y)

    def score(self, X, y=None):
        """The mean ELBO per row of X over all seeds (flows: the log-likelihood); higher is better, as
        ``GridSearchCV`` wants: a float. X and y as in ``fit``."""
        x, u = self._checked(X, y)
        return float(np.mean(self.model_.elbo(x, u)))

    @available_if(lambda self: self._assigns)
    def predict(self, X, y=None):
        """The discrete u of every row (a cluster) by the first seed, for models that have one (VaDE,
        GMM-Flow, a Rademacher prior), a ``numpy.ndarray`` ``[n_samples]`` of whole numbers; others raise a
        ``DataError`` saying so. X and y as in ``fit``."""
        return self._predict(X, y)

    def _predict(self, X, y=None):
        x, u = self._checked(X, y)
        out = self.model_.assign(x, u)
        return out if len(self.seeds_) == 1 else out[0]

    def _checked(self, X, y) -> tuple[np.ndarray, np.ndarray | None]:
        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float32, reset=False)
        return x, self._u_for(y, len(x))

    def _u_for(self, y, n: int) -> np.ndarray | None:
        """y as the model's u: the codes ``0..k-1`` of the labels seen in ``fit``, or a continuous u (None where
        the model takes no u)."""
        if not self._fit_u or (y is None and not self.model_.needs_u):
            return None
        if y is None:
            raise ValueError(
                f"{type(self).__name__} encodes X together with u: pass y (the u of each row) to "
                "transform, score and predict too"
            )
        return u_for(y, n, getattr(self, "classes_", None), self.model_.u_dim)

    # --------------------------------------------------------------------------- saving
    def save(self, path) -> Path:
        """Write the fitted run as a run directory at ``path`` (new or empty), for ``ica.load(path)``,
        ``ica encode`` and ``ica results``; the resumable checkpoints and the training data are left out."""
        check_is_fitted(self)
        return write_run(path, self._run_files)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._y_is_u == "always"
        tags.transformer_tags.preserves_dtype = ["float32"]  # the networks compute in float32
        tags.non_deterministic = False  # each seed's random streams are fixed (random_state None means 0)
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the estimator itself keeps its model
        if "model_" in state:
            state["model_"] = _TrainedModelState(self.model_)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("model_"), _TrainedModelState):
            state = {**state, "model_": state["model_"].restored()}
        super().__setstate__(state)


class _TrainedModelState:
    """A `TrainedModel` for pickling: its fields, with the spec as JSON (its class is built at run time)."""

    def __init__(self, model: TrainedModel):
        self.fields = {k: v for k, v in vars(model).items() if k != "spec"}
        self.spec = spec_json(model.spec)

    def restored(self) -> TrainedModel:
        return TrainedModel(spec=load_spec(self.spec), **self.fields)
