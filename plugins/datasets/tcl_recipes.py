"""The TCL data set's named recipes: how each draws its mixing matrices and mixes (``tcl``'s option ``mixing``).

A recipe fixes what the code it follows fixes: its LeakyReLU slope, its source means' and standard deviations'
ranges, how its matrices are drawn, how many there are and where the nonlinearity sits. Each recipe's function
below cites the file and function it follows and every point where ``ica`` deviates. All of them draw their
matrices only from the ``mixing`` child stream (see `ica.plugins.datasets.tcl`), in float64, from numpy's
PCG64 rather than the legacy global generator the cited code seeds: the same laws, never the same numbers.

``h_0 = s``; a *linear-first* recipe computes ``h_l = W_l h_{l-1}`` with a LeakyReLU after every layer but
the last; the *nonlinearity-first* one (``"tcl"``) computes ``h_l = W_l LeakyReLU(h_{l-1})``. Either way the
last operation is linear, every layer is a bijection of R^d and ``x = h_L`` ranges over all of R^d. Those
parts (the matrices, the two orders of mixing) are in `ica.plugins.datasets.tcl_mixing`.
"""

from __future__ import annotations

from typing import Any, Callable, Final, NamedTuple, TypedDict

import numpy as np

from ica.plugin import DataError
from ica.plugins.datasets.tcl_mixing import (  # the parts, still importable from here
    conditions,
    haar_orthogonal,
    leaky_relu as leaky_relu,
    mix,
    mix_nonlinearity_first,
    mixing_matrices,
    uniform_unit_columns,
)


EXACT_CONDITION = 2.0
"""``max_condition`` when it is unset with ``mixing="exact"`` (the value ``ica`` always used before)."""

ORIGINAL_DRAWS = 10_000
"""``condition_draws`` when unset: iVAE's ``n_iter_4_cond=1e4`` and TCL's ``iter4condthresh=10000``."""

ORIGINAL_PERCENTILE = 25.0
"""``condition_percentile`` when unset: iVAE's ``np.percentile(..., 25)`` and TCL's ``cond_thresh_ratio=0.25``."""

CONDITION_CHUNK_ELEMENTS = 1 << 20
"""float64 entries of threshold draws made at once (8 MiB): bounds memory for large ``dim``, changes no value."""

MAX_CANDIDATES = 1_000_000
"""Candidates one layer may draw before giving up: far beyond the ~100/percentile expected."""


class Drawn(NamedTuple):
    """What a recipe drew: the matrices in the order they are applied, and what ``info`` records of them."""

    matrices: list[np.ndarray]
    info: dict[str, Any]


# ------------------------------------------------------------------------------------ thresholded draws
def condition_threshold(rng: np.random.Generator, dim: int, draws: int, percentile: float) -> float:
    """The ``percentile`` (numpy's linear interpolation) of the condition numbers of ``draws`` matrices from
    `uniform_unit_columns`: the iVAE/TCL bound on a "well-conditioned" layer, drawn in chunks."""
    chunk = max(1, CONDITION_CHUNK_ELEMENTS // (dim * dim))
    conditions = np.empty(draws)
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        conditions[start : start + n] = np.linalg.cond(uniform_unit_columns(rng, (n, dim, dim)))
    return float(np.percentile(conditions, percentile))


class OriginalMixing(NamedTuple):
    """What `original_mixing_matrices` drew: the weights and, per matrix, what ``info`` records."""

    matrices: list[np.ndarray]
    conditions: list[float]
    thresholds: list[float]
    draws: list[int]


def original_mixing_matrices(
    rng: np.random.Generator, dim: int, layers: int, draws: int, percentile: float
) -> OriginalMixing:
    """``layers`` matrices by iVAE's ``generate_mixing_matrix`` rule: per matrix, a threshold from ``draws``
    random matrices, then candidates until ``cond <= threshold``; the weight is the accepted ``A`` transposed
    (iVAE's ``x = h A`` is ``h_l = W h_{l-1}`` with ``W = Aᵀ``). A NaN condition (a zero column) is refused."""
    drawn = OriginalMixing([], [], [], [])
    for _ in range(layers):
        threshold = condition_threshold(rng, dim, draws, percentile)
        for tries in range(1, MAX_CANDIDATES + 1):  # noqa: B007 - the count is read after the loop
            a = uniform_unit_columns(rng, (dim, dim))
            condition = float(np.linalg.cond(a))
            if condition <= threshold:
                break
        else:
            raise DataError(
                f"no matrix of {MAX_CANDIDATES} drawn had a condition number at most {threshold:.4g} "
                f"(percentile {percentile} of {draws} draws): raise it",
                where="condition_percentile",
            )
        drawn.matrices.append(np.ascontiguousarray(a.T))
        drawn.conditions.append(condition)
        drawn.thresholds.append(threshold)
        drawn.draws.append(tries)
    return drawn


# ------------------------------------------------------------------------------------------ the recipes
def draw_paper(rng: np.random.Generator, options: Any) -> Drawn:
    """``"paper"`` (the default): the paper's text, §4.1 "Synthetic Data".

    Stated there: per segment independent Gaussians, means U[-3, 3], standard deviations U[0.01, 3]; a
    "4-layer random MLP, where the weight matrices were constructed to be full-rank, with LeakyRelu
    activations". Chosen where the text is silent:

    - "4-layer" is 4 weight matrices (``mixing_layers``, as hmorioka/TCL's ``num_layer`` and iVAE's
      ``n_layers`` count), a LeakyReLU after every layer but the last and none on the sources: an MLP's
      hidden activations, and a linear last layer keeps the mixing a bijection onto R^d.
    - "full-rank" is met by Haar-random orthogonal matrices (condition number 1), one per layer. Why: every
      number the text gives (d = 5, 20 segments, n in {100, ..., 2000}, those two ranges, 70,000 steps at
      learning rate 0.001, 3-layer MLPs) is that of ilkhem/icebeem's simulations (``configs/imca.yaml``,
      ``runners/simulation_runner.py`` ``run_ivae_exp``), whose generator ``data/imca.py``
      ``gen_TCL_data_ortho`` draws its weights with ``scipy.stats.ortho_group``; no threshold to invent.
    - slope 0.2: that generator's ``negSlope`` (and hmorioka/TCL's ``negative_slope``); iVAE's 0.1 is ``"ivae"``.

    Unlike icebeem's own code (``"tcl"``) the count, the place of the nonlinearity and the means follow the
    text: L matrices rather than L - 1 after a LeakyReLU on the sources, means U[-3, 3] rather than the zero
    means its runners passed (``varyMean=False``), Gaussian noise not re-standardised. Per layer one
    `haar_orthogonal` draw.
    """
    matrices = [haar_orthogonal(rng, options.dim) for _ in range(options.mixing_layers)]
    return Drawn(matrices, {"condition_numbers": conditions(matrices)})


def draw_ivae(rng: np.random.Generator, options: Any) -> Drawn:
    """``"ivae"``: Khemakhem et al.'s iVAE experiments, ilkhem/iVAE ``data/data.py``.

    Their runner (``runners/ivae.py``) builds ``SyntheticDataset``, whose ``load_tcl_data`` calls
    ``generate_data`` with ``repeat_linearity=True``, the config's prior, activation and ``uncentered``
    (``configs/ivae.yaml``: ``'gauss'``, ``'xtanh'``, ``false``) and ``generate_data``'s defaults ``slope=.1``,
    ``var_bounds=[0.5, 3]``, ``lin_type='uniform'``, ``n_iter_4_cond=1e4``. So, as there:

    - sources (``generate_nonstationary_sources``): ``randn · L + m`` per segment, ``L ~ U[0.5, 3]`` (a
      standard deviation, despite the name ``var_bounds``), ``m = 0`` (``mean_range [0, 0]``; their
      ``uncentered=True`` draws ``m ~ U[-5, 5]``: set ``mean_range [-5, 5]``);
    - one matrix (``generate_mixing_matrix``): uniform entries, unit columns, redrawn until its condition
      number is at most ``np.percentile`` 25 (``condition_percentile``) of 10^4 (``condition_draws``) such
      draws' — and, ``repeat_linearity`` with ``d_sources == d_data`` (``B = A``), used in every layer;
    - LeakyReLU(0.1) after every layer but the last (``lrelu``: ``x`` if ``x > 0`` else ``slope · x``);
      ``mixing_layers`` is their ``n_layers``. Their code asserts ``n_layers > 1``; here 1 is allowed and is
      the linear mixing by that matrix, so that a sweep over depth starts at the linear case, as the paper's.

    Deviations: their shipped configs choose ``act: 'xtanh'`` (``tanh(x) + 0.1 x``), which ``ica`` does not
    offer: this is ``generate_data``'s default ``activation='lrelu'`` at the same ``slope``, the LeakyReLU
    mixing §4.1 names. float64 where they use float32; candidates ``uniform(-1, 1)`` for their
    ``uniform(0, 2) - 1`` (the same law). Segment and layer counts are ``ica``'s options (their configs: 40
    segments, 3 layers). The matrix is `original_mixing_matrices` with one layer.
    """
    one = original_mixing_matrices(rng, options.dim, 1, options.threshold_draws, options.threshold_percentile)
    matrices = one.matrices * options.mixing_layers
    return Drawn(
        matrices,
        {
            "condition_numbers": one.conditions * options.mixing_layers,
            "condition_thresholds": one.thresholds,
            "draws_per_layer": one.draws,
        },
    )


def draw_tcl(rng: np.random.Generator, options: Any) -> Drawn:
    """``"tcl"``: the TCL generator of ilkhem/icebeem, ``data/imca.py`` ``gen_TCL_data_ortho``, as
    ``generate_synthetic_data(simulationMethod='TCL')`` calls it from ``runners/simulation_runner.py``.

    - sources: Gaussian noise standardised over all of the data set's points (``sklearn`` ``scale``: each
      column to mean 0, population standard deviation 1), multiplied per segment by ``U[0.01, 3]``; means
      zero (``varyMean=False``, what ``run_ivae_exp`` passes and the other runners default to; their
      ``varyMean=True`` draws ``U[-3, 3]``: set ``mean_range [-3, 3]``);
    - ``Nlayer - 1`` Haar-random orthogonal matrices (``scipy.stats.ortho_group.rvs``), ``Nlayer`` being
      ``mixing_layers`` (their ``configs/imca.yaml``: 2 and 4); each layer applies LeakyReLU(0.2) first,
      then its matrix, so the sources pass a LeakyReLU and the last operation is linear. One layer would
      draw no matrix at all (``x = s``) and is refused.

    Deviations: each split is standardised over its own points (icebeem draws one data set); float64; QR of
    a Gaussian matrix for ``ortho_group`` (both Haar). Not hmorioka/TCL's own generator
    (``subfunc/generate_artificial_data.py``: Laplace sources of standard deviation U[0, 1], ``num_layer``
    uniform unit-column matrices under one threshold, linear first), which ``ica`` does not offer.
    """
    matrices = [haar_orthogonal(rng, options.dim) for _ in range(options.mixing_layers - 1)]
    return Drawn(matrices, {"condition_numbers": conditions(matrices)})


def draw_exact(rng: np.random.Generator, options: Any) -> Drawn:
    """``"exact"``: ``ica``'s earlier recipe, bit for bit (what ``ica`` generated before ``mixing`` existed).

    Each weight is ``U diag(σ) Vᵀ`` with ``U, V`` Haar-random orthogonal and ``log σ_i ~ U[-½ log κ, ½ log κ]``,
    ``κ = max_condition`` (unset: 2); when ``dim ≥ 2`` the largest ``σ`` is then set to ``√κ`` and the
    smallest to ``1/√κ``, so every ``W`` has condition number exactly ``κ`` (`mixing_matrices`). Follows no
    published code: a fixed conditioning, chosen for ``ica``'s own comparisons (``specs/fig2-tcl.json``).
    """
    matrices = mixing_matrices(rng, options.dim, options.mixing_layers, options.exact_condition)
    return Drawn(matrices, {"condition_numbers": conditions(matrices)})


def draw_original(rng: np.random.Generator, options: Any) -> Drawn:
    """``"original"``: ``ica``'s earlier blend (the default before ``"paper"``), kept bit for bit so that run
    directories made with it resume and regenerate the same data. It credits no single source, because it
    follows none:

    - matrices: ilkhem/iVAE ``data/data.py`` ``generate_mixing_matrix`` (``lin_type='uniform'``,
      ``n_iter_4_cond=1e4``): per layer its own threshold (``np.percentile`` of ``condition_draws`` draws at
      ``condition_percentile``), then candidates until ``cond <= threshold``, ``W = Aᵀ``; a distinct matrix
      in every layer, iVAE's ``repeat_linearity=False`` path, which their runner does not take;
    - LeakyReLU slope 0.2: hmorioka/TCL's and icebeem's, not iVAE's 0.1;
    - source ranges U[-3, 3] and U[0.01, 3]: the paper's text (icebeem's with ``varyMean=True``), not
      iVAE's (0 or U[-5, 5]; U[0.5, 3]).

    hmorioka/TCL's ``apply_MLP_to_source`` would estimate one threshold for all layers, as the order statistic
    ``sorted(conds)[int(0.25 n)]``, and mix columns (``A @ h``). float64 throughout. Layer ``l + 1``'s
    threshold draws follow layer ``l``'s accepted matrix; the draws come ``CONDITION_CHUNK_ELEMENTS``
    entries at a time, which changes no value.
    """
    drawn = original_mixing_matrices(
        rng, options.dim, options.mixing_layers, options.threshold_draws, options.threshold_percentile
    )
    return Drawn(
        drawn.matrices,
        {
            "condition_numbers": drawn.conditions,
            "condition_thresholds": drawn.thresholds,
            "draws_per_layer": drawn.draws,
        },
    )


class Recipe(NamedTuple):
    """One named recipe: its own option values, what it accepts, and how it draws and mixes."""

    source: str
    negative_slope: float
    mean_range: tuple[float, float]
    std_range: tuple[float, float]
    draw: Callable[[np.random.Generator, Any], Drawn]
    nonlinearity_first: bool = False
    standardize_noise: bool = False
    thresholded: bool = False  # takes condition_draws and condition_percentile
    min_layers: int = 1


class Ranges(TypedDict):
    """A recipe's source ranges, as `Recipe` takes them by keyword."""

    mean_range: tuple[float, float]
    std_range: tuple[float, float]


PAPER_RANGES: Ranges = {"mean_range": (-3.0, 3.0), "std_range": (0.01, 3.0)}

RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        "the paper's §4.1 text; orthogonal weights and slope from ilkhem/icebeem data/imca.py",
        0.2,
        **PAPER_RANGES,
        draw=draw_paper,
    ),
    "ivae": Recipe(
        "ilkhem/iVAE data/data.py generate_data(repeat_linearity=True)",
        0.1,
        (0.0, 0.0),
        (0.5, 3.0),
        draw=draw_ivae,
        thresholded=True,
    ),
    "tcl": Recipe(
        "ilkhem/icebeem data/imca.py gen_TCL_data_ortho",
        0.2,
        (0.0, 0.0),
        (0.01, 3.0),
        draw=draw_tcl,
        nonlinearity_first=True,
        standardize_noise=True,
        min_layers=2,
    ),
    "exact": Recipe(
        "ica's earlier recipe (condition number exactly max_condition)", 0.2, **PAPER_RANGES, draw=draw_exact
    ),
    "original": Recipe(
        "ica's earlier blend of ilkhem/iVAE data/data.py and hmorioka/TCL",
        0.2,
        **PAPER_RANGES,
        draw=draw_original,
        thresholded=True,
    ),
}
"""Every recipe by name; ``mixing`` takes these names."""

DEFAULT_RECIPE: Final = "paper"


def mix_by(recipe: Recipe, sources: np.ndarray, matrices: list[np.ndarray], negative_slope: float) -> np.ndarray:
    """``x`` from ``sources`` in the order ``recipe`` applies its nonlinearity."""
    if recipe.nonlinearity_first:
        return mix_nonlinearity_first(sources, matrices, negative_slope)
    return mix(sources, matrices, negative_slope)
