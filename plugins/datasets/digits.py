"""`digits`: scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``), as ``[N, 1, 8, 8]``.

1,797 real 8×8 images (the UCI "Optical Recognition of Handwritten Digits" test set) that ship with
scikit-learn: no download, so it is the image data set that always works, offline and in seconds.

Pixels. Each pixel counts the set bits of a 4×4 block of the original 32×32 bitmap, an integer 0..16; it is
scaled as ``x = v / 16`` (exact in float32), so x takes 17 levels in [0, 1]. The discretised logistic
likelihood assumes 256 levels ``k/255`` and does NOT fit these data: use the Bernoulli likelihood (with
``binarize``, or on the grey levels as a cross-entropy) or the Gaussian one. ``u`` = the digit (0..9),
no sources; binarisation as in `ica.plugins.datasets.images` (``"threshold"`` keeps v ≥ 9).

Split (fixed, stratified by class). With ``rng = numpy.random.Generator(PCG64(split_seed))``, for each class
c = 0..9 in turn: ``rng.permutation`` of the indices of class c (in file order), of which the first
``floor(n_c · eval_fraction + 0.5)`` go to the evaluation split and the rest to training. Each split then
keeps file order. With the defaults (0.2, seed 0) that is 1,438 training and 359 evaluation images.
"""

from __future__ import annotations

import math

import numpy as np

from ica.plugin import BuildContext, DataError, DataSplits, Field, hookimpl
from ica.plugins.datasets.images import CLASSES, ImageOptions, image_bytes, image_splits

LEVELS = 16
"""The largest pixel value of the digits: pixels are counts of set bits in 4×4 blocks."""

IMAGES = 1797
"""Images in scikit-learn's copy of the data set (train and evaluation together)."""


class DigitsOptions(ImageOptions):
    """scikit-learn's 8×8 digits with a fixed, seeded, class-stratified evaluation split."""

    eval_fraction: float = Field(0.2, gt=0, lt=1, description="Fraction of each class held out for evaluation.")
    split_seed: int = Field(0, ge=0, description="Seed of the permutation that picks the held-out images.")

    def estimated_bytes(self) -> int | None:
        """Memory of the 1,797 images (read as float64 by scikit-learn) and of the splits (nothing is read)."""
        return image_bytes(IMAGES, IMAGES, (1, 8, 8), self.binarize, pixel_bytes=8)


def stratified_split(labels: np.ndarray, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and evaluation row indices, each in ascending order (recipe in the module docstring)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    train, evaluation = [], []
    for c in range(CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_eval = int(math.floor(rows.size * eval_fraction + 0.5))
        evaluation.append(rows[:n_eval])
        train.append(rows[n_eval:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(evaluation))


def load_digits(options: DigitsOptions) -> DataSplits:
    """The digits as `DataSplits` (see the module docstring)."""
    from sklearn.datasets import load_digits as sklearn_digits  # imported on use: plugins load quickly

    bunch = sklearn_digits()
    pixels = np.rint(bunch.images).astype(np.uint8)[:, None]  # float64 0..16, whole numbers
    labels = bunch.target.astype(np.int64)
    train, evaluation = stratified_split(labels, options.eval_fraction, options.split_seed)
    if train.size < 2 or evaluation.size < 2:
        raise DataError(
            f"digits: eval_fraction={options.eval_fraction} leaves {train.size} training and {evaluation.size} "
            "evaluation images; each split needs at least 2",
            where="data.eval_fraction",
        )
    info = {
        "dataset": "digits",
        "loader": "sklearn.datasets.load_digits",
        "train_split": f"class-stratified permutation (split_seed={options.split_seed}), {train.size} of {labels.size}",
        "eval_split": f"the other {evaluation.size} ({options.eval_fraction:g} of each class, rounded)",
    }
    return image_splits((pixels[train], labels[train]), (pixels[evaluation], labels[evaluation]), options, LEVELS, info)


def build(options: DigitsOptions, ctx: BuildContext) -> DataSplits:
    """The 8×8 digits; ``ctx`` is not needed."""
    return load_digits(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "digits",
        DigitsOptions,
        build,
        description="scikit-learn's 1,797 8x8 digits [1,8,8], bundled (no download); u = digit.",
    )
