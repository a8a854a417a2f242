"""``ica.consistency``: how well any embeddings of the same points agree, pair by pair, in one call.

CEBRA's ``consistency_score`` (between runs) for embeddings from anywhere, measured the way `ica` measures its own
seeds. The numbers come from the very metric plugins a run and ``ica score`` use (``cca_mcc`` and
``consistency_r2``, built through the registry), on an `Evaluation` made as `ica.trained.scoring.score` makes
it, so each pair's values equal those ``ica score`` reports for the same arrays; the directed R² is
`ica.evaluation.affine.linear_r2`, the half of the consistency R² that goes one way.

The pairs are unordered: CCA treats both embeddings alike, and the consistency R² averages the affine map's
R² in both directions (one embedding may hold what the other lacks, so the two directions differ). Both
matrices are therefore symmetric; ``directed_r2[i, j]`` keeps the one-way R² of predicting embedding j from
embedding i, which is what CEBRA's ``consistency_score`` reports for its ordered pairs (in sample there).

The held-out split: the N rows are put in a fixed random order (``numpy.random.default_rng(shuffle_seed)
.permutation(N)``; ``shuffle_seed=None`` keeps their order), the first ``round(N * fit_fraction)`` of that order
fit the CCA or the affine map, and the rest are scored. The same rows serve every pair and the observation
control; the result names them (``fit_rows``, ``scored_rows``). The observation control's PCA (where the
observations' width differs from an embedding's) is fitted on all N rows, as ``ica score`` fits it.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ica.components.protocols import BuildContext, DataSplits, Split
from ica.components.registry import Registry, registry
from ica.errors import DataError
from ica.evaluation.affine import linear_r2
from ica.evaluation.cca_pairs import _split, fewest_points
from ica.evaluation.seeds import Evaluation, SeedOutcome, fixed_order
from ica.evaluation.observations import observations_vary
from ica.spec.models import spec_models
from ica.trained.scoring import IdenticalEmbeddings, _array, _embeddings, check_magnitude, identical

PAIR_MEASURES = {"cca_mcc": "cca_mcc_out", "cca_mcc_in": "cca_mcc_in", "consistency_r2": "consistency_r2"}
"""Each matrix of the result and the metric record it is read from."""


class ConsistencyInputError(DataError, ValueError):
    """Embeddings or observations `consistency` cannot compare (a `DataError`, and a ``ValueError`` as a
    scikit-learn or CEBRA user catches it)."""


@dataclass(frozen=True, eq=False)
class ObservationControl:
    """Each embedding against the raw observations, measured as the pairs are (a floor, not a pair)."""

    cca_mcc: np.ndarray  # [S] out of sample
    cca_mcc_in: np.ndarray  # [S] in sample
    consistency_r2: np.ndarray  # [S]


@dataclass(frozen=True, eq=False)
class Consistency:
    """The pairwise agreement of S embeddings (`consistency`): ``[S, S]`` matrices, NaN on the diagonal."""

    names: tuple[str, ...]
    cca_mcc: np.ndarray  # CCA-MCC out of sample, symmetric
    cca_mcc_in: np.ndarray  # CCA-MCC in sample (optimistic: CCA was fitted there), symmetric
    consistency_r2: np.ndarray  # the consistency R², symmetric
    directed_r2: np.ndarray  # [i, j]: R² of embedding j predicted affinely from embedding i, held out
    observations: ObservationControl | None  # None unless observations were given
    fit_rows: np.ndarray  # the rows the CCA and the affine maps are fitted on
    scored_rows: np.ndarray  # the rows they are scored on
    fit_fraction: float
    shuffle_seed: int | None
    notes: tuple[str, ...] = ()  # identical embeddings, measures that failed for a pair

    def pairs(self) -> list[dict[str, Any]]:
        """One dict per unordered pair ``(a, b)``: its CCA-MCC in and out of sample, consistency R², and the
        R² each way."""
        rows = []
        for i, j in itertools.combinations(range(len(self.names)), 2):
            rows.append(
                {
                    "a": self.names[i],
                    "b": self.names[j],
                    **{name: float(getattr(self, name)[i, j]) for name in PAIR_MEASURES},
                    "r2_a_to_b": float(self.directed_r2[i, j]),
                    "r2_b_to_a": float(self.directed_r2[j, i]),
                }
            )
        return rows

    def to_frame(self, measure: str | None = None) -> Any:
        """A pandas DataFrame: one row per pair (`pairs`), or with ``measure`` (``"cca_mcc"``, ``"cca_mcc_in"``,
        ``"consistency_r2"``, ``"directed_r2"``) that square matrix labelled by the names (for a heat map).
        Needs pandas; everything else here is plain numpy."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Consistency.to_frame needs pandas (pip install pandas); the matrices are numpy arrays: "
                "result.cca_mcc, result.consistency_r2, ..."
            ) from None
        if measure is None:
            return pd.DataFrame(self.pairs())
        if measure not in (*PAIR_MEASURES, "directed_r2"):
            raise ValueError(
                f"unknown measure {measure!r}; expected one of {', '.join([*PAIR_MEASURES, 'directed_r2'])}"
            )
        return pd.DataFrame(getattr(self, measure), index=list(self.names), columns=list(self.names))

    def __repr__(self) -> str:
        width = max(6, *(len(n) for n in self.names))
        lines = [
            f"Consistency of {len(self.names)} embeddings (fitted on {len(self.fit_rows)} rows, scored on "
            f"{len(self.scored_rows)}; shuffle_seed {self.shuffle_seed})"
        ]
        for title, matrix in (("CCA-MCC out of sample", self.cca_mcc), ("consistency R²", self.consistency_r2)):
            lines.append(f"{title}:")
            lines.append(" " * (width + 1) + " ".join(f"{n[:width]:>{width}}" for n in self.names))
            for name, row in zip(self.names, matrix):
                cells = " ".join(f"{'-':>{width}}" if np.isnan(v) else f"{v:>{width}.3f}" for v in row)
                lines.append(f"{name[:width]:>{width}} {cells}")
        if self.observations is not None:
            lines.append("against the observations (control):")
            for name, mcc, r2 in zip(self.names, self.observations.cca_mcc, self.observations.consistency_r2):
                lines.append(f"{name[:width]:>{width}} CCA-MCC {mcc:.3f}, consistency R² {r2:.3f}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def consistency(
    embeddings: Sequence[Any] | Mapping[str, Any] | Any,
    observations: Any = None,
    *,
    names: Sequence[str] | None = None,
    fit_fraction: float = 0.5,
    shuffle_seed: int | None = 0,
    reg: Registry | None = None,
) -> Consistency:
    """The pairwise consistency of embeddings of the same N points, in one call.

    Args:
        embeddings: a list of S arrays ``[N, d_i]`` (the widths may differ; tensors too), one array
            ``[S, N, d]``, or a dict ``{name: [N, d_i]}``. Rows must be the same points in the same order.
        observations: the points themselves ``[N, ...]``; adds the observation control (each embedding
            against the observations, flattened, or their PCA to the embedding's width where it differs).
        names: a name per embedding (default: the dict's keys, else ``"0"`` .. ``"S-1"``).
        fit_fraction: the fraction of rows the CCA and the affine maps are fitted on; the rest are scored.
        shuffle_seed: seed of the fixed order the rows are split in (None: the given order).

    Returns:
        `Consistency`: ``cca_mcc``, ``cca_mcc_in``, ``consistency_r2`` and ``directed_r2`` as ``[S, S]`` arrays
        with ``names``, the observation control, and the rows fitted and scored.

    Raises:
        ConsistencyInputError (a ``ValueError``): fewer than two embeddings, rows that differ in number,
            non-finite values, a bad ``fit_fraction`` or ``shuffle_seed``, observations that do not fit.
    """
    reg = reg or registry()
    arrays, names = _named(embeddings, names)
    if not (isinstance(fit_fraction, float | int) and 0.0 < fit_fraction < 1.0):
        raise ConsistencyInputError(f"must lie strictly between 0 and 1, got {fit_fraction!r}", where="fit_fraction")
    if shuffle_seed is not None and not (isinstance(shuffle_seed, int) and shuffle_seed >= 0):
        raise ConsistencyInputError(f"must be a whole number >= 0 or None, got {shuffle_seed!r}", where="shuffle_seed")
    try:
        z = _embeddings(arrays, fewest_points([float(fit_fraction)]))
        x = None if observations is None else _observations(observations, z[0].shape[0])
    except DataError as exc:
        raise ConsistencyInputError(exc.message, where=exc.where) from None
    if len(z) < 2:
        raise ConsistencyInputError(f"needs two embeddings or more to compare, got {len(z)}", where="embeddings")
    labels = [str(i) for i in range(len(z))] if names is None else [str(name) for name in names]
    if len(labels) != len(z) or len(set(labels)) != len(labels):
        raise ConsistencyInputError(f"must name each of the {len(z)} embeddings once, got {labels}", where="names")
    n = z[0].shape[0]
    points = Split(torch.zeros(n, 1) if x is None else torch.from_numpy(x).float(), None, None)  # as `score` makes it
    evaluation = Evaluation(
        DataSplits(points, points, None), "eval", [SeedOutcome(i, "finished", latents=e) for i, e in enumerate(z)]
    )
    if x is not None and not observations_vary(evaluation):
        raise ConsistencyInputError(
            "are the same at every point: there is nothing to compare with", where="observations"
        )
    updates = {"fit_fraction": float(fit_fraction), "shuffle_seed": shuffle_seed}
    records = [r for name in ("cca_mcc", "consistency_r2") for r in _metric(reg, name, updates)(evaluation)]
    order = fixed_order(n, shuffle_seed)
    n_fit = _split(n, float(fit_fraction))
    notes = [
        f"embeddings {', '.join(labels[i] for i in group)} are identical: their pairs measure nothing (1.0)"
        for group in identical(z)
    ]
    for note in notes:
        warnings.warn(note, IdenticalEmbeddings, stacklevel=2)
    notes += [f"{r.metric} of {_pair_names(r, labels)}: {r.error}" for r in records if r.error]
    return Consistency(
        names=tuple(labels),
        **{field: _matrix(records, metric, len(z)) for field, metric in PAIR_MEASURES.items()},
        directed_r2=_directed(z, order, float(fit_fraction)),
        observations=None if x is None else _control(records, len(z)),
        fit_rows=order[:n_fit],
        scored_rows=order[n_fit:],
        fit_fraction=float(fit_fraction),
        shuffle_seed=shuffle_seed,
        notes=tuple(notes),
    )


def _named(embeddings: Any, names: Sequence[str] | None) -> tuple[Any, Sequence[str] | None]:
    """The embeddings as `score` reads them (a dict's values), and the names given (a dict's keys)."""
    if not isinstance(embeddings, Mapping):
        return embeddings, names
    if names is not None:
        raise ConsistencyInputError("give the names either as the dict's keys or as names=, not both", where="names")
    return list(embeddings.values()), [str(k) for k in embeddings]


def _observations(observations: Any, n: int) -> np.ndarray:
    """The observations as ``score`` checks them: ``n`` finite rows of a usable magnitude."""
    x = _array(observations, "observations", float)
    if x.ndim == 0 or x.shape[0] != n or not np.isfinite(x).all():
        raise DataError(
            f"must be {n} finite rows, one per embedded point, got shape {list(x.shape)}", where="observations"
        )
    check_magnitude(x, "observations")
    return x


def _metric(reg: Registry, name: str, updates: dict[str, Any]) -> Any:
    """The registered metric ``name`` with its default options but ``updates`` (the split)."""
    options = spec_models(reg).default("metric", name)
    return reg.build(type(options).model_validate({**options.model_dump(), **updates}), BuildContext())


def _matrix(records: list, metric: str, count: int) -> np.ndarray:
    matrix = np.full((count, count), np.nan)
    for r in records:
        if r.metric == metric and r.pair is not None:
            matrix[r.pair[0], r.pair[1]] = matrix[r.pair[1], r.pair[0]] = r.value
    return matrix


def _control(records: list, count: int) -> ObservationControl:
    def per_seed(metric: str) -> np.ndarray:
        values = np.full(count, np.nan)
        for r in records:
            if r.metric == metric and r.seed is not None:
                values[r.seed] = r.value
        return values

    return ObservationControl(
        per_seed("cca_mcc_out_observations"),
        per_seed("cca_mcc_in_observations"),
        per_seed("consistency_r2_observations"),
    )


def _directed(z: list[np.ndarray], order: np.ndarray, fit_fraction: float) -> np.ndarray:
    """``[i, j]``: `linear_r2` from embedding i to embedding j on the same rows as the pairs (NaN on the diagonal)."""
    matrix = np.full((len(z), len(z)), np.nan)
    for i, j in itertools.permutations(range(len(z)), 2):
        matrix[i, j] = linear_r2(z[i][order], z[j][order], fit_fraction)
    return matrix


def _pair_names(record: Any, labels: list[str]) -> str:
    if record.pair is not None:
        return f"{labels[record.pair[0]]} and {labels[record.pair[1]]}"
    return labels[record.seed] if record.seed is not None else "the embeddings"
