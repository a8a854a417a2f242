"""`cebra`: CEBRA (Schneider, Lee & Mathis, 2023), contrastive embeddings conditioned on u, as a peer model.

CEBRA learns an encoder by contrasting pairs: a positive shares the reference's label (``conditional:
"discrete"``, u the segment index, like TCL's own objective) or follows it in the training split's row order
(``"time"``, CEBRA's label-free mode: on TCL data, whose rows are segment-major, neighbours mostly share a
segment). CEBRA without labels *is* time-contrastive, so ``"time"`` is its unconditional choice. Its encoder
here looks at one row at a time (the ``offset1-model`` family): the rows are i.i.d. draws, not a time series.

It is a fitted peer (`ica.components.protocols.FittedPeer`): scikit-learn's ``cebra.CEBRA`` fitted per
seed. CEBRA takes no random_state, so each fit seeds what it draws from itself: torch, numpy's and Python's
global generators (restored afterwards) and the generators of CEBRA's own samplers, which it otherwise seeds
from the operating system. ``cebra`` is an optional dependency, imported when a seed is fitted; building the
model without it installed is an `IcaError` saying how to install it.
"""

from __future__ import annotations

import importlib.util
import math
import random
import warnings
from contextlib import contextmanager
from functools import cache
from typing import Any, Iterator, Literal

import numpy as np
import torch
from pydantic import PositiveInt

from ica.plugin import BuildContext, Field, hookimpl, IcaError, Options, SpecError

INSTALL = "install with pip install 'ica-toolkit[cebra]'"

MAX_ITERATIONS = 10**9
"""CEBRA's training steps, bounded as every model's are (`ica.spec.limits.MAX_STEPS`)."""

MAX_BATCH = 16_384
"""References per step: CEBRA's InfoNCE loss compares each reference with every other example of the batch, in
[batch, batch] matrices (1 GB each at this size), and this peer is fitted by CEBRA itself, outside the memory
checks of the models ica trains."""


class CEBRAOptions(Options):
    """CEBRA's estimator settings (its defaults, except the iterations: about 30 s on one CPU core)."""

    latent_dim: int | None = Field(
        None,
        ge=1,
        description="CEBRA's output_dimension; defaults to the number of true sources (named like "
        "every model's latent size, so 'models.*.latent_dim' grids reach it).",
    )
    conditional: Literal["discrete", "time"] = Field(
        "discrete",
        description="Positive pairs share u ('discrete', u the segment or class index), or are "
        "neighbouring rows of the training split ('time': CEBRA's label-free, time-contrastive mode).",
    )
    model_architecture: str = Field(
        "offset1-model",
        pattern=r"^offset1-model",
        description="A CEBRA encoder of the 'offset1-model' family: "
        "each looks at one row, as i.i.d. data needs (cebra.CEBRA.supported_model_architectures('offset1*')).",
    )
    hidden_units: PositiveInt = Field(32, description="Width of the encoder (CEBRA's num_hidden_units).")
    distance: Literal["cosine", "euclidean"] = Field(
        "cosine", description="Similarity of the InfoNCE loss (cosine embeds on the sphere)."
    )
    max_iterations: PositiveInt = Field(
        1500, le=MAX_ITERATIONS, description="Training steps (about 17 ms each for a batch of 512 on one CPU core)."
    )
    batch_size: PositiveInt = Field(512, le=MAX_BATCH, description="References per step (CEBRA advises at least 512).")
    learning_rate: float = Field(3e-4, gt=0, description="Adam's learning rate.")
    temperature: float = Field(1.0, gt=0, description="Temperature of the InfoNCE loss.")


class CEBRAPeer:
    """``cebra.CEBRA`` fitted per seed; ``fit_info`` holds its last training loss."""

    def __init__(self, options: CEBRAOptions, output_dimension: int):
        self.options, self.output_dimension = options, output_dimension
        self.estimator_: Any = None
        self.fit_info: dict[str, Any] = {}

    def fit(self, x: np.ndarray, u: np.ndarray | None, *, seed: int, device: str) -> None:
        """Fit on the training split (with u for ``conditional: "discrete"``), every draw from ``seed``."""
        o = self.options
        cebra = cebra_module()
        estimator = seeded_estimator_class(cebra.CEBRA, cebra.distributions.HasGenerator)(
            model_architecture=o.model_architecture,
            device=device,
            distance=o.distance,
            conditional=None if o.conditional == "discrete" else "time",
            temperature=o.temperature,
            max_iterations=o.max_iterations,
            batch_size=min(o.batch_size, len(x)),
            learning_rate=o.learning_rate,
            output_dimension=self.output_dimension,
            num_hidden_units=o.hidden_units,
            verbose=False,
        )
        estimator.sampler_seed = seed  # an attribute, not a constructor parameter: CEBRA's own stay as they are
        with seeded(seed, device):
            if o.conditional == "discrete":
                estimator.fit(x, u)
            else:
                estimator.fit(x)
        self.estimator_ = estimator
        history = getattr(estimator.solver_, "history", None)
        loss = float(history[-1]) if history else math.nan
        self.fit_info = {"final_loss": loss} if math.isfinite(loss) else {}

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The embedding of ``x`` ``[N, D]``: ``[N, latent_dim]``."""
        if self.estimator_ is None:
            raise RuntimeError("fit CEBRA before transforming")
        with torch.no_grad():
            return np.asarray(self.estimator_.transform(x), dtype=np.float32)


def cebra_module() -> Any:
    """The ``cebra`` package (its import warns about torch.jit, which is CEBRA's business, not the user's)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import cebra
    except ImportError as exc:
        raise IcaError(f"the cebra model needs the cebra package ({exc}); {INSTALL}", where="cebra") from None
    return cebra


@cache
def seeded_estimator_class(base: type, sampler: type) -> type:
    """``base`` (``cebra.CEBRA``) whose data loader's samplers draw from the estimator's ``sampler_seed``.

    CEBRA's samplers (``sampler``: `cebra.distributions.HasGenerator`) seed their torch generators from the
    operating system when made, inside ``fit``; the loader is made in ``_prepare_loader``, so that is where
    they are re-seeded (a discrete sampler draws from numpy's global generator instead, seeded by `seeded`).
    """

    class SeededCEBRA(base):
        sampler_seed = 0

        def _prepare_loader(self, *args: Any, **kwargs: Any) -> Any:
            prepared = super()._prepare_loader(*args, **kwargs)  # (loader, solver name) in cebra 0.6
            loader = prepared[0] if isinstance(prepared, tuple) else prepared
            for k, found in enumerate(samplers(loader, sampler)):
                found.generator.manual_seed(stream_seed(self.sampler_seed, 3 + k))
            return prepared

    return SeededCEBRA


def samplers(loader: Any, kind: type) -> list[Any]:
    """Every ``kind`` among the loader's attributes and theirs (its distribution, the distribution's prior),
    each once, in the order they were set."""
    found: list[Any] = []
    pending = [loader]
    while pending:
        for value in getattr(pending.pop(0), "__dict__", {}).values():
            if isinstance(value, kind) and all(value is not f for f in found):
                found.append(value)
                pending.append(value)
    return found


def stream_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for one random stream of a fit, from the spec seed and the stream's number."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(2, np.uint64)[0] >> np.uint64(1))


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Within the block, torch's, numpy's and Python's global generators start from ``seed`` (each its own
    stream); outside it they are as they were."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    chosen = torch.device(device)
    on_gpu = chosen.type == "cuda" and torch.cuda.is_available()
    devices = [chosen.index if chosen.index is not None else torch.cuda.current_device()] if on_gpu else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(stream_seed(seed, 0))
        np.random.seed(np.random.SeedSequence([seed, 1]).generate_state(4))
        random.seed(stream_seed(seed, 2))
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def build(options: CEBRAOptions, ctx: BuildContext) -> CEBRAPeer:
    """CEBRA as a peer: one fit per seed, conditioned on u or on row order."""
    if importlib.util.find_spec("cebra") is None:
        raise IcaError(f"the cebra model needs the cebra package, which is not installed; {INSTALL}", where="cebra")
    if options.conditional == "discrete":
        if ctx.u_dim is not None:
            raise SpecError(
                "conditional 'discrete' contrasts examples that share a value of u, and needs discrete u; this "
                "data set's u is continuous; use conditional 'time'",
                where="cebra.conditional",
            )
        if not ctx.n_u:
            raise SpecError(
                "conditional 'discrete' contrasts examples by u, and the data set provides none; use conditional "
                "'time'",
                where="cebra.conditional",
            )
        if ctx.n_u < 2:
            raise SpecError(
                "conditional 'discrete' contrasts examples by u, and the data set's u takes only one value, "
                "so every pair would count as positive; give u with several values, or use conditional "
                "'time'",
                where="cebra.conditional",
            )
    output_dimension = options.latent_dim or ctx.latent_dim
    if not output_dimension:
        raise SpecError(
            "latent_dim is required: the data set has no ground-truth sources to take its size from",
            where="cebra.latent_dim",
        )
    return CEBRAPeer(options, output_dimension)


@hookimpl
def ica_register(register):
    register(
        "model",
        "cebra",
        CEBRAOptions,
        build,
        description="CEBRA's contrastive embedding conditioned on u (needs ica-toolkit[cebra]): a peer baseline.",
    )
