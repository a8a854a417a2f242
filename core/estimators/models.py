"""The paper's three models as estimators with named parameters: iVAE (y is u), VaDE and GMM-Flow (both
cluster: ``predict``). Each is `IcaEstimator` with its spec entry written from its parameters; what is not
a parameter here keeps the plugin's default, and `IcaEstimator(model={...})` reaches every option.
"""

from __future__ import annotations

from typing import Any

from ica.estimators.base import IcaEstimator


def _mlp(hidden: Any) -> dict[str, Any]:
    return (
        {}
        if hidden is None
        else {"encoder": {"name": "mlp", "hidden": list(hidden)}, "decoder": {"name": "mlp", "hidden": list(hidden)}}
    )


class IVAE(IcaEstimator):
    """iVAE (Khemakhem et al., 2020): q(z|x,u) and p(z|u), with u given as y (class or segment labels of
    any type; new labels at transform time are refused). ``transform``, ``score`` take y as well.

    Parameters:
        n_components: the latent size d_z. hidden: widths of the encoder's and decoder's MLPs (None: the
            plugin's [50, 50]). The rest as in `IcaEstimator`.
    """

    _y_is_u = "always"
    _assigns = False  # u is given, not inferred: there is nothing to predict

    def __init__(
        self,
        n_components=2,
        hidden=None,
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        device="auto",
        run_dir=None,
    ):
        self.n_components = n_components
        self.hidden = hidden
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.device = device
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        return {"name": "ivae", "latent_dim": self.n_components, **_mlp(self.hidden)}


class VaDE(IcaEstimator):
    """VaDE (Jiang et al., 2017): a VAE with a Gaussian-mixture prior of ``n_clusters`` components; y is
    ignored. ``predict`` gives each row's cluster, argmax p(u|z).

    Parameters:
        n_components: the latent size d_z. n_clusters: mixture components K (the paper: 40 on TCL).
        hidden: widths of the encoder's and decoder's MLPs (None: the plugin's [50, 50]).
    """

    _y_is_u = "never"

    def __init__(
        self,
        n_components=2,
        n_clusters=10,
        hidden=None,
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        device="auto",
        run_dir=None,
    ):
        self.n_components = n_components
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.device = device
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        return {
            "name": "vade",
            "latent_dim": self.n_components,
            **_mlp(self.hidden),
            "prior": {"name": "gmm", "components": self.n_clusters},
        }

    def predict(self, X, y=None):
        """The cluster of every row by the first seed, argmax p(u|z), ``[n_samples]``."""
        return self._predict(X)


class GMMFlow(IcaEstimator):
    """GMM-Flow (the paper's App. D): an autoregressive flow whose base is a Gaussian mixture of
    ``n_clusters`` components, by maximum likelihood. Its representation is f^-1(x), so ``transform``
    gives as many columns as X has features; ``score`` is the mean log-likelihood; ``predict`` the
    most responsible component.

    Parameters:
        n_clusters: mixture components (App. D: 50). transforms: autoregressive layers (App. D: 10).
        hidden: widths of each layer's conditioner (None: the plugin's [64, 64]).
    """

    _y_is_u = "never"

    def __init__(
        self,
        n_clusters=10,
        transforms=10,
        hidden=None,
        n_seeds=1,
        steps=10_000,
        batch_size=64,
        lr=1e-3,
        random_state=None,
        standardize=False,
        device="auto",
        run_dir=None,
    ):
        self.n_clusters = n_clusters
        self.transforms = transforms
        self.hidden = hidden
        self.n_seeds = n_seeds
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.standardize = standardize
        self.device = device
        self.run_dir = run_dir

    def _model_options(self) -> dict[str, Any]:
        options = {
            "name": "gmmflow",
            "transforms": self.transforms,
            "prior": {"name": "gmm", "components": self.n_clusters},
        }
        return options if self.hidden is None else {**options, "hidden": list(self.hidden)}

    def predict(self, X, y=None):
        """The mixture component of every row's f^-1(x) by the first seed, ``[n_samples]``."""
        return self._predict(X)
