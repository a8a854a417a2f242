"""What a run's data must hold before anything trains: examples and features in each split, enough evaluation
points for the metrics that fit on a part of them, and steps within bounds once the data fix an epoch's length.
Each is a clear error naming the field, where otherwise a run would train on nothing, or fail after training.
"""

from __future__ import annotations

from typing import Any

from ica.components.protocols import DataSplits
from ica.components.sequences import sequence_problem
from ica.errors import DataError, SpecError
from ica.spec.limits import MAX_STEPS
from ica.spec.experiment import ExperimentSpec


def check_step_count(spec: ExperimentSpec, n_train: int) -> None:
    """``epochs`` passes over the training split stay within `ica.spec.limits.MAX_STEPS` steps (``steps`` is
    bounded by the spec itself; the steps of an epoch are known only once the data are)."""
    from ica.training.sampling import epoch_steps

    epochs = spec.training.epochs
    if epochs is None:
        return
    per_epoch = epoch_steps(n_train, spec.training.batch_size)
    if epochs * per_epoch > MAX_STEPS:
        raise SpecError(
            f"{epochs:,} epochs of {per_epoch:,} steps each ({n_train:,} training examples in batches of "
            f"{min(spec.training.batch_size, n_train):,}) are {epochs * per_epoch:,} steps; at most "
            f"{MAX_STEPS:,} per seed",
            where="training.epochs",
        )


MIN_SPLIT = 2
"""Examples each split needs at least: one example has no spread to standardise, fit or correlate."""


def check_splits(data: DataSplits, name: str) -> None:
    """Refuse data that carries nothing to learn or measure, whichever plugin made it: a split with fewer than
    `MIN_SPLIT` examples, observations with an axis of size 0 (no features), sources with no columns, splits
    whose examples differ in shape, or a time order (``sequence``) that is not one whole number per row with each
    recording's rows contiguous (`ica.components.sequences.sequence_problem`)."""
    for split, part in (("training", data.train), ("evaluation", data.eval)):
        if len(part) < MIN_SPLIT:
            raise DataError(
                f"{name}: the {split} split has {len(part)} example(s); each split needs at least {MIN_SPLIT}",
                where="data",
            )
    if 0 in data.x_shape:
        raise DataError(
            f"{name}: each example x has shape {list(data.x_shape)}, which holds no values (no features to learn from)",
            where="data",
        )
    if data.source_dim == 0:
        raise DataError(f"{name}: the sources s have no columns (no ground truth to measure against)", where="data")
    if tuple(data.eval.x.shape[1:]) != data.x_shape:
        raise DataError(
            f"{name}: evaluation examples have shape {list(data.eval.x.shape[1:])}, training examples "
            f"{list(data.x_shape)}",
            where="data",
        )
    for split, part in (("training", data.train), ("evaluation", data.eval)):
        problem = None if part.sequence is None else sequence_problem(part.sequence, len(part))
        if problem is not None:
            raise DataError(f"{name}: the {split} split's time order (sequence): {problem}", where="data")


def check_evaluation_points(spec: ExperimentSpec, data: DataSplits, options: list[Any]) -> None:
    """Refuse an evaluation split too small for the metrics that fit on a ``fit_fraction`` of its points and
    score on the rest (two points or more in each part), before anything trains."""
    from ica.evaluation.cca_pairs import fewest_points

    fractions = [f for f in (getattr(o, "fit_fraction", None) for o in options) if isinstance(f, float)]
    points = len(data.eval if spec.evaluation.split == "eval" else data.train)
    needed = fewest_points(fractions) if fractions else 0
    if points < needed:
        raise DataError(
            f"the {spec.evaluation.split} split has {points} points, but the metrics fitted on a part of "
            f"them and scored on the rest (CCA-MCC, affine, consistency) need at least {needed}",
            where="data",
        )
