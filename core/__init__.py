"""ica: identifiable non-linear ICA with deep generative models.

Public API::

    import ica
    result = ica.run("specs/quickstart.json", out="runs/quickstart")   # as `ica run` trains it
    result.runs[0].summary["cells"]; result.decisions.workers         # summaries, and how it trained
    model = ica.load("runs/quickstart", model="vade")   # a trained model: model.transform(x_new)
    spec = ica.load_spec("specs/quickstart.json")
    ica.registry().names("prior")
    ica.mcc(latents, sources)                      # mean correlation coefficient
    ica.cca_mcc(z_seed0, z_seed1).out_of_sample    # between-seed MCC after CCA
    ica.score(embeddings, sources=s)               # a run's metrics for embeddings from anywhere [S, N, d]
    ica.consistency([z_a, z_b, z_c], observations=x)  # pairwise CCA-MCC and consistency R², held out
    ica.plot_embedding(z, color=labels, sources=s) # scatter of an embedding (matplotlib Axes)
    ica.extend(spec, out="runs/x")                 # continue a finished run to the spec's larger steps
    ica.estimators.VaDE(n_components=2).fit(X)     # scikit-learn estimators (fit = ica run on X)
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("ica-toolkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from ica.errors import DataError, IcaError, RegistryError, SpecError  # noqa: E402
from ica.evaluation.cca_pairs import cca_mcc  # noqa: E402
from ica.evaluation.correlation import mcc  # noqa: E402
from ica.components.registry import registry  # noqa: E402
from ica.running.dispatch import execute, run  # noqa: E402
from ica.spec.load import load_spec  # noqa: E402
from ica.running.validate import check  # noqa: E402
from ica.trained.loading import load  # noqa: E402
from ica.trained.scoring import score  # noqa: E402
from ica.trained.consistency import consistency  # noqa: E402
from ica.reporting.embedding import plot_embedding  # noqa: E402
from ica.running.extension import extend  # noqa: E402
from ica import _moved  # noqa: E402

_moved.install()


def __getattr__(name: str):
    """``ica.estimators`` (scikit-learn estimators) is imported the first time it is asked for."""
    if name == "estimators":
        import importlib

        return importlib.import_module("ica.estimators")
    raise AttributeError(f"module 'ica' has no attribute {name!r}")


__all__ = [
    "__version__",
    "run",
    "execute",
    "extend",
    "load",
    "score",
    "load_spec",
    "registry",
    "check",
    "mcc",
    "cca_mcc",
    "consistency",
    "plot_embedding",
    "IcaError",
    "SpecError",
    "DataError",
    "RegistryError",
]
