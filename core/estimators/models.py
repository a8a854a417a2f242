"""The paper's three models as estimators with named parameters: iVAE (y is u), VaDE and GMM-Flow (both
cluster: ``predict``). Each is `IcaEstimator` with its spec entry written from its parameters
(`ica.estimators.options`): the latent size, the parts (likelihood, prior, encoder, decoder) by name or as
their options, and the sizes inside them; what is not a parameter here keeps the plugin's default, and
`IcaEstimator(model={...})` reaches every option.
"""

from __future__ import annotations

from typing import Any

from ica.estimators.base import IcaEstimator
from ica.estimators.options import mixture_prior, vae_options, with_parts


class IVAE(IcaEstimator):
    """iVAE (Khemakhem et al., 2020): q(z|x,u) and p(z|u), with u given as y (class or segment labels of
    any type, new labels at transform time refused; or, with ``u_kind="continuous"``, numbers such as a
    position). ``transform``, ``score`` take y as well.

    Parameters:
        n_components (int): the latent size d_z.
        hidden (list[int] | None): widths of the encoder's and decoder's MLPs (None: the plugin's [50, 50]).
        likelihood (str | dict | None): p(x|z) by name (``"bernoulli"``) or as its options
            (``{"name": "gaussian", "learn_scale": True}``); None: the plugin's (a Gaussian of scale 0.1).
        prior (str | dict | None): p(z|u) the same way (None: ``{"name": "conditional"}``, a Gaussian per u).
        encoder (str | dict | None): q(z|x,u) the same way (None: an MLP); ``hidden`` sets its widths, and
            giving them in both is an error naming both.
        decoder (str | dict | None): from z to the likelihood's parameters, the same way (None: an MLP).
        n_seeds (int): seeds trained together as one batched model; ``consistency_`` compares them.
        steps (int): training steps.
        batch_size (int): rows per step (clipped to the rows of X).
        lr (float): the learning rate.
        random_state (int | None): the first seed (seeds ``random_state .. random_state + n_seeds - 1``); None
            means 0.
        standardize (bool): z-score each feature with the statistics of X (kept, and applied to new data).
        u_kind (str): what y is: ``"discrete"`` labels, or ``"continuous"`` numbers ``[n_samples]`` or
            ``[n_samples, d_u]``, as in `IcaEstimator`.
        device (str): ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        verbose (bool | int | None): show the fit's progress (False: nothing), as in `IcaEstimator`.
        run_dir (str | Path | None): a new or empty directory to keep the run in; None trains in a temporary
            directory that ``fit`` removes.

    Attributes, methods and the rest: as in [`IcaEstimator`][ica.estimators.IcaEstimator].
    """

    _y_is_u = "always"
    _assigns = False  # u is given, not inferred: there is nothing to predict

    def __init__(
        self,
        n_components=2,
        hidden=None,
        likelihood=None,
        prior=None,
        encoder=None,
        decoder=None,
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        u_kind="discrete",
        device="auto",
        verbose=False,
        run_dir=None,
    ):
        self.n_components = n_components
        self.hidden = hidden
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

    def _model_options(self) -> dict[str, Any]:
        return vae_options(self, "ivae", self.hidden)


class VaDE(IcaEstimator):
    """VaDE (Jiang et al., 2017): a VAE with a Gaussian-mixture prior of ``n_clusters`` components; y is
    ignored. ``predict`` gives each row's cluster, argmax p(u|z).

    Parameters:
        n_components (int): the latent size d_z.
        n_clusters (int | None): mixture components K (the paper: 40 on TCL); None: those ``prior`` gives, else 10.
        hidden (list[int] | None): widths of the encoder's and decoder's MLPs (None: the plugin's [50, 50]).
        likelihood (str | dict | None): p(x|z) by name (``"bernoulli"``) or as its options
            (``{"name": "gaussian", "learn_scale": True}``); None: the plugin's (a Gaussian of scale 0.1).
        prior (str | dict | None): the mixture prior p(z) the same way (None: ``"gmm"``); ``n_clusters`` sets a
            ``gmm`` prior's components (giving them in both is an error naming both), another prior its own size.
        encoder (str | dict | None): q(z|x) the same way (None: an MLP); ``hidden`` sets its widths, and
            giving them in both is an error naming both.
        decoder (str | dict | None): from z to the likelihood's parameters, the same way (None: an MLP).
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

    _y_is_u = "never"

    def __init__(
        self,
        n_components=2,
        n_clusters=None,
        hidden=None,
        likelihood=None,
        prior=None,
        encoder=None,
        decoder=None,
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
        self.n_clusters = n_clusters
        self.hidden = hidden
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
        self.device = device
        self.verbose = verbose
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        return mixture_prior(vae_options(self, "vade", self.hidden), self.n_clusters)

    def predict(self, X, y=None):
        """The cluster of every row by the first seed, argmax p(u|z): a ``numpy.ndarray`` ``[n_samples]``."""
        return self._predict(X)


class GMMFlow(IcaEstimator):
    """GMM-Flow (the paper's App. D): an autoregressive flow whose base is a Gaussian mixture of
    ``n_clusters`` components, by maximum likelihood. Its representation is f^-1(x), so ``transform``
    gives as many columns as X has features; ``score`` is the mean log-likelihood; ``predict`` the
    most responsible component.

    Parameters:
        n_clusters (int | None): mixture components (App. D: 50); None: those ``prior`` gives, else 10.
        transforms (int): autoregressive layers (App. D: 10).
        hidden (list[int] | None): widths of each layer's conditioner (None: the plugin's [64, 64]).
        prior (str | dict | None): the base distribution, by name or as its options (None: ``"gmm"``);
            ``n_clusters`` sets a ``gmm`` prior's components (giving them in both is an error naming both).
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

    _y_is_u = "never"

    def __init__(
        self,
        n_clusters=None,
        transforms=10,
        hidden=None,
        prior=None,
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
        self.n_clusters = n_clusters
        self.transforms = transforms
        self.hidden = hidden
        self.prior = prior
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
        options = with_parts({"name": "gmmflow", "transforms": self.transforms}, self, "model", ("prior",))
        options = mixture_prior(options, self.n_clusters)
        return options if self.hidden is None else {**options, "hidden": list(self.hidden)}

    def predict(self, X, y=None):
        """The mixture component of every row's f^-1(x) by the first seed: a ``numpy.ndarray`` ``[n_samples]``."""
        return self._predict(X)
