"""`ts`: time series whose sources are stationary non-Gaussian AR(1) processes (the PCL model), optionally
nonstationary by segment, mixed by the `tcl` data set's recipes.

Permutation-contrastive learning (Hyvärinen & Morioka, 2017) identifies sources that are temporally dependent
and non-Gaussian; the model follows a public PCL generator (``gen_source_pcl`` in
``crc/baselines/PCL/subfunc/generate_artificial_data.py`` of simonbing/CRLSanityCheck, its PCL baseline):
each source is ``s_t = ρ s_(t-1) + e_t`` with Laplace innovations whose variance ``1 - ρ²`` makes the
stationary variance 1. Where ``ica`` differs: the innovations may be Gaussian (``innovation``), which gives
Gaussian AR(1) sources that PCL cannot identify (the negative control); a recording starts from the stationary
mean and variance (below) instead of from 0, so it needs no empirical normalisation afterwards; and ``segments``
adds the nonstationarity TCL needs.

The sources, each independently, with ``ρ`` = ``ar_coefficient`` and ``ε_t`` unit-variance innovations
(Laplace of scale 1/√2, or standard normal):

- ``segments`` = 1: ``e_t = √(1 - ρ²) ε_t``; the process is stationary with mean 0 and variance 1; u is None.
- ``segments`` = K > 1: each recording's time is cut into blocks of ``segment_length`` points (the last may be
  shorter), each block of one of K kinds, and a point of a block of kind k has
  ``e_t = (1 - ρ) m_kj + σ_kj √(1 - ρ²) ε_t``: a block held long settles at mean ``m_kj`` and standard deviation
  ``σ_kj`` (ρ = 0 with Gaussian innovations is `tcl`'s segment model). ``m`` ``[K, dim]`` is uniform on
  ``mean_range``, ``σ`` on ``std_range`` (unset: the recipe's own, as in `tcl`). u is the kind of each point's
  block (int64, n_u = K). Kinds are dealt to the blocks of a split, recordings in order, as consecutive random
  permutations of the K kinds (every K consecutive blocks hold each kind once, the last group cut short), so
  every kind appears in each split (the options refuse sizes with fewer than K blocks in a split) and about
  equally often. Both splits use the same K kinds, so u means the same in both.

Start: each recording draws ``s`` from ``N(m, σ²)`` of its first block's kind (K = 1: ``N(0, 1)``), then runs
``burn_in`` steps (`TSOptions.burn_in`: ``|ρ|^burn_in ≤ 10⁻⁶``, at most 10⁵) that are discarded. For K = 1 the
mean and variance are then exactly 0 and 1 at every step and the law is exactly stationary for Gaussian
innovations; for Laplace innovations the Gaussian start keeps a weight below 10⁻⁶ (for ``|ρ|`` up to 0.99986).

Recordings: each split holds ``sequences`` independent recordings of ``length`` (training) or ``eval_length``
(evaluation) points, rows recording-major and in time order; ``Split.sequence`` is each row's recording
(0..sequences-1 in each split). The evaluation recordings are recordings of their own, drawn independently.

Random draws, all from ``numpy.random.Generator(PCG64(data_seed))`` in this order: for K > 1, ``m`` then ``σ``
(``[K, dim]`` each) from the root generator; then ``train, eval, mixing = root.spawn(3)``. Each split's stream
spawns ``1 + sequences`` children: the first deals the kinds to the split's blocks, recording ``r`` draws from
child ``r + 1`` its start (``dim`` standard normals) and then its unit innovations ``[burn_in + length, dim]``.
The mixing matrices come from ``mixing`` by the recipe (`ica.plugins.datasets.tcl_recipes`). Spawning depends
only on ``data_seed`` and the order of the spawns, so changing ``eval_length`` leaves the training data and the
mixing bit-identical, and adding recordings leaves the earlier ones unchanged. The ``"tcl"`` recipe's
standardisation of its Gaussian noise does not apply: these innovations have unit variance by construction.

Arithmetic is float64; x and s are returned as float32. ``info`` records the process (``ar_coefficient``,
``innovation``, ``burn_in``, the kinds' ``segment_means`` and ``segment_stds``), the recipe facts `tcl` records
(recipe and its source, slope, ranges, overrides, matrices, order, condition numbers) and the sizes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ica.plugin import BuildContext, DataSplits, hookimpl, Split
from ica.plugins.datasets.tcl_recipes import Drawn, mix_by
from ica.plugins.datasets.ts_options import TSOptions


def dealt_kinds(rng: np.random.Generator, blocks: int, kinds: int) -> np.ndarray:
    """The kinds of ``blocks`` consecutive blocks: consecutive random permutations of ``kinds``, the last cut."""
    groups = -(-blocks // kinds)
    return np.concatenate([rng.permutation(kinds) for _ in range(groups)])[:blocks].astype(np.int64)


def unit_innovations(rng: np.random.Generator, shape: tuple[int, int], law: str) -> np.ndarray:
    """Innovations of mean 0 and variance 1: Laplace of scale 1/√2, or standard normal."""
    if law == "laplace":
        return rng.laplace(0.0, 1.0 / math.sqrt(2.0), size=shape)
    return rng.standard_normal(shape)


def recording(
    rng: np.random.Generator, options: TSOptions, levels: np.ndarray, scales: np.ndarray, length: int
) -> np.ndarray:
    """One recording's sources ``[length, dim]``: ``levels`` and ``scales`` (``[length, dim]``, or ``[1, dim]``
    for all points) are each point's ``m`` and ``σ``; the burn-in runs on the first point's."""
    rho, burn_in = options.ar_coefficient, options.burn_in
    start = levels[0] + scales[0] * rng.standard_normal(options.dim)
    eps = unit_innovations(rng, (burn_in + length, options.dim), options.innovation)
    eps *= math.sqrt(1.0 - rho * rho)
    eps[:burn_in] = eps[:burn_in] * scales[0] + (1.0 - rho) * levels[0]
    eps[burn_in:] = eps[burn_in:] * scales + (1.0 - rho) * levels
    from scipy.signal import lfilter  # imported on use: loading the plugins stays quick (`ica --help`, workers)

    s, _ = lfilter([1.0], [1.0, -rho], eps, axis=0, zi=(rho * start)[None, :])
    return s[burn_in:]


def split_sources(
    rng: np.random.Generator, options: TSOptions, length: int, kinds: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One split: sources ``[sequences · length, dim]``, u (None without ``kinds``, the ``m`` and ``σ`` of each
    kind) and each row's recording."""
    dealer, *streams = rng.spawn(1 + options.sequences)
    blocks = options.blocks(length)
    dealt = None if kinds is None else dealt_kinds(dealer, options.sequences * blocks, options.segments)
    parts, labels = [], []
    for r, stream in enumerate(streams):
        if kinds is None or dealt is None:
            levels, scales = np.zeros((1, options.dim)), np.ones((1, options.dim))
        else:
            point_kinds = np.repeat(dealt[r * blocks : (r + 1) * blocks], options.segment_length)[:length]
            levels, scales = kinds[0][point_kinds], kinds[1][point_kinds]
            labels.append(point_kinds)
        parts.append(recording(stream, options, levels, scales, length))
    sequence = np.repeat(np.arange(options.sequences, dtype=np.int64), length)
    return np.concatenate(parts), (np.concatenate(labels) if labels else None), sequence


def described(
    options: TSOptions, kinds: tuple[np.ndarray, np.ndarray] | None, drawn: Drawn, n_train: int, n_eval: int
) -> dict[str, Any]:
    """``info``: the process, the segment kinds, the recipe facts `tcl` records, and the sizes."""
    tcl, segmented = options.tcl, kinds is not None
    blocks = {"train": options.blocks(options.length), "eval": options.blocks(options.eval_length)}
    return {
        "generator": "ts",
        "options": options.model_dump(mode="json"),
        "process": "AR(1)",
        "ar_coefficient": options.ar_coefficient,
        "innovation": options.innovation,
        "identifiable_by_pcl": options.innovation != "gaussian",
        "burn_in": options.burn_in,
        "segments": options.segments,
        "segment_length": options.segment_length if segmented else None,
        "segment_means": None if kinds is None else kinds[0].tolist(),
        "segment_stds": None if kinds is None else kinds[1].tolist(),
        "blocks": {k: options.sequences * v for k, v in blocks.items()} if segmented else None,
        "mixing": options.mixing,
        "recipe": options.mixing,
        "recipe_source": tcl.recipe.source,
        "negative_slope": tcl.slope,
        "mean_range": list(tcl.means) if segmented else None,
        "std_range": list(tcl.stds) if segmented else None,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in tcl.overrides.items()},
        "mixing_matrices": len(drawn.matrices),
        "distinct_matrices": len({id(w) for w in drawn.matrices}),
        "order": "nonlinearity first" if tcl.recipe.nonlinearity_first else "linear first",
        **drawn.info,
        "sequences": options.sequences,
        "n_train": int(n_train),
        "n_eval": int(n_eval),
    }


def generate_ts(options: TSOptions) -> DataSplits:
    """The `ts` data set of ``options``: bit-identical for identical options (see the module docstring)."""
    tcl = options.tcl
    recipe = tcl.recipe
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    kinds = None
    if options.segments > 1:
        shape = (options.segments, options.dim)
        means = root.uniform(*tcl.means, size=shape)
        kinds = (means, root.uniform(*tcl.stds, size=shape))
    train_rng, eval_rng, mixing_rng = root.spawn(3)
    s_train, u_train, seq_train = split_sources(train_rng, options, options.length, kinds)
    s_eval, u_eval, seq_eval = split_sources(eval_rng, options, options.eval_length, kinds)
    drawn = recipe.draw(mixing_rng, tcl)

    def split(s: np.ndarray, u: np.ndarray | None, sequence: np.ndarray) -> Split:
        x = mix_by(recipe, s, drawn.matrices, tcl.slope)
        return Split(
            x=torch.from_numpy(x.astype(np.float32)),
            u=None if u is None else torch.from_numpy(u),
            s=torch.from_numpy(s.astype(np.float32)),
            sequence=torch.from_numpy(sequence),
        )

    info = described(options, kinds, drawn, n_train=s_train.shape[0], n_eval=s_eval.shape[0])
    train, evaluation = split(s_train, u_train, seq_train), split(s_eval, u_eval, seq_eval)
    return DataSplits(train=train, eval=evaluation, n_u=None if kinds is None else options.segments, info=info)


def build(options: TSOptions, ctx: BuildContext) -> DataSplits:
    """The time-series data set; ``ctx`` is not needed."""
    return generate_ts(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "ts",
        TSOptions,
        build,
        description="Time series: AR(1) sources with Laplace innovations (PCL), optionally segmented, mixed as tcl.",
    )
