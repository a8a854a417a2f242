"""`tcl`: the Time-Contrastive-Learning data of the paper's §4.1, generated reproducibly from one seed.

Sources are piecewise-stationary: segment ``k`` holds independent Gaussians ``s_j ~ N(m_kj, σ_kj²)`` with
means uniform on ``mean_range`` and standard deviations uniform on ``std_range``; they are mixed by a
random, invertible LeakyReLU MLP. ``u`` is the segment index (Hyvärinen & Morioka, 2016).

How the mixing is drawn, and the slope and ranges that go with it, is a named recipe (option ``mixing``,
`ica.plugins.datasets.tcl_recipes`, where each cites the code it follows): ``"paper"`` (the default: the
paper's §4.1 text, which is what ``ica`` reproduces, with the choices it leaves open filled from the code its
numbers match), ``"ivae"`` (Khemakhem et al.'s iVAE code), ``"tcl"`` (icebeem's TCL generator), ``"exact"``
(``ica``'s earlier fixed-conditioning recipe) and ``"original"`` (``ica``'s earlier blend, the default
before ``"paper"``). ``"exact"`` and ``"original"`` give bit for bit the data they always gave.

``negative_slope``, ``mean_range`` and ``std_range`` are unset (``null``) by default, meaning the recipe's
own value; a value given is used and recorded (``info["overrides"]`` lists those that differ from the
recipe's). Unset is not written out as a number, so a grid over ``mixing`` gives every cell its own recipe's
values. Options a recipe has no use for are refused: ``max_condition`` outside ``"exact"``,
``condition_draws`` and ``condition_percentile`` outside the thresholded ``"ivae"`` and ``"original"``
(the options and these rules: `ica.plugins.datasets.tcl_options`).

Random draws, all from ``numpy.random.Generator(PCG64(data_seed))`` in this fixed order, for every recipe:

1. means ``[segments, dim]`` ~ U[mean_range], then standard deviations ``[segments, dim]`` ~ U[std_range],
   from the root generator (a range ``[a, a]`` makes every value ``a``);
2. ``train, eval, mixing = root.spawn(3)``: three independent child streams. Spawning depends only on
   ``data_seed`` and the order of the spawn, never on how much was drawn, so changing
   ``eval_samples_per_segment`` leaves the training data (and the mixing) bit-identical, and changing
   ``samples_per_segment`` leaves the segment parameters and the mixing unchanged;
3. training sources from ``train``: one ``standard_normal([segments, samples_per_segment, dim])`` draw
   (``"tcl"``: standardised per column over the split, as icebeem's ``scale``), scaled and shifted per
   segment; evaluation sources likewise from ``eval``. Rows are segment-major;
4. the mixing matrices from ``mixing``, by the recipe.

Arithmetic is float64; the tensors returned are float32. ``info`` records the recipe and its source, the
effective ``negative_slope``, ``mean_range`` and ``std_range``, the overrides, ``mixing_matrices`` (matrices
applied) and ``distinct_matrices``, the ``order`` of linear map and nonlinearity, every applied matrix's
``condition_numbers`` and, for thresholded recipes, each drawn matrix's ``condition_thresholds`` and
``draws_per_layer`` (candidates drawn until one was accepted, threshold draws not counted).
"""

from __future__ import annotations

import numpy as np
import torch

from ica.plugin import BuildContext, DataSplits, hookimpl, Split
from ica.plugins.datasets.tcl_options import (  # noqa: F401 - the names `tcl` has always offered
    CONDITION_TEMPORARIES,
    GENERATION_TEMPORARIES,
    MATRIX_TEMPORARIES,
    MAX_DRAWS,
    MAX_LAYERS,
    RECIPE_FIELDS,
    TCLOptions,
)
from ica.plugins.datasets.tcl_recipes import (  # noqa: F401 - the names `tcl` has always offered
    CONDITION_CHUNK_ELEMENTS,
    DEFAULT_RECIPE,
    EXACT_CONDITION,
    MAX_CANDIDATES,
    ORIGINAL_DRAWS,
    ORIGINAL_PERCENTILE,
    RECIPES,
    OriginalMixing,
    Recipe,
    condition_threshold,
    haar_orthogonal,
    mix,
    mix_by,
    mixing_matrices,
    original_mixing_matrices,
    uniform_unit_columns,
)


def standardized(noise: np.ndarray) -> np.ndarray:
    """``noise`` ``[..., dim]`` with each column at mean 0 and population standard deviation 1 over all rows
    (``sklearn.preprocessing.scale``; a constant column is only centred, as there), in place."""
    flat = noise.reshape(-1, noise.shape[-1])
    flat -= flat.mean(axis=0)
    std = np.sqrt(np.einsum("ij,ij->j", flat, flat) / flat.shape[0])
    flat /= np.where(std == 0, 1.0, std)
    return noise


def _sources(rng: np.random.Generator, means: np.ndarray, stds: np.ndarray, per_segment: int, standardize: bool):
    segments, dim = means.shape
    noise = rng.standard_normal((segments, per_segment, dim))
    if standardize:
        noise = standardized(noise)
    s = (noise * stds[:, None, :] + means[:, None, :]).reshape(segments * per_segment, dim)
    u = np.repeat(np.arange(segments, dtype=np.int64), per_segment)
    return s, u


def generate_tcl(options: TCLOptions) -> DataSplits:
    """The TCL data set of ``options``: bit-identical for identical options (see the module docstring)."""
    recipe = options.recipe
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    shape = (options.segments, options.dim)
    means = root.uniform(*options.means, size=shape)
    stds = root.uniform(*options.stds, size=shape)
    train_rng, eval_rng, mixing_rng = root.spawn(3)
    s_train, u_train = _sources(train_rng, means, stds, options.samples_per_segment, recipe.standardize_noise)
    s_eval, u_eval = _sources(eval_rng, means, stds, options.eval_samples_per_segment, recipe.standardize_noise)
    drawn = recipe.draw(mixing_rng, options)

    def split(s: np.ndarray, u: np.ndarray) -> Split:
        x = mix_by(recipe, s, drawn.matrices, options.slope)
        return Split(
            x=torch.from_numpy(x.astype(np.float32)), u=torch.from_numpy(u), s=torch.from_numpy(s.astype(np.float32))
        )

    info = {
        "generator": "tcl",
        "options": options.model_dump(mode="json"),
        "segment_means": means.tolist(),
        "segment_stds": stds.tolist(),
        "mixing": options.mixing,
        "recipe": options.mixing,
        "recipe_source": recipe.source,
        "negative_slope": options.slope,
        "mean_range": list(options.means),
        "std_range": list(options.stds),
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in options.overrides.items()},
        "mixing_matrices": len(drawn.matrices),
        "distinct_matrices": len({id(w) for w in drawn.matrices}),
        "order": "nonlinearity first" if recipe.nonlinearity_first else "linear first",
        **drawn.info,
        "n_train": int(u_train.shape[0]),
        "n_eval": int(u_eval.shape[0]),
    }
    return DataSplits(train=split(s_train, u_train), eval=split(s_eval, u_eval), n_u=options.segments, info=info)


def build(options: TCLOptions, ctx: BuildContext) -> DataSplits:
    """The TCL data set; ``ctx`` is not needed."""
    return generate_tcl(options)


@hookimpl
def ica_register(register):
    register("dataset", "tcl", TCLOptions, build, description="Synthetic TCL sources mixed by a random MLP (§4.1).")
