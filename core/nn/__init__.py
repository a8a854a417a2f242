"""The seed axis: building blocks whose every parameter starts with a seed dimension, so S seeds train as one.

Owns: batched linear layers, MLPs and dropout (`layers`), grouped convolutions and per-seed batch norm
(`conv`), S copies of any plain module run with ``vmap`` (`stacked`), Gaussian and mixture helpers,
per-seed draws from a prior included (`distributions`), and each seed's own random streams: derived seeds,
generators, per-seed initialisation, ``seed_rand``/``seed_randn`` and cutting one seed out of a batched state
(`seeding`).
May import: ica.errors, ica.components
Exports: every block below. Plugin authors import them through ``ica.plugin``.
"""

from ica.nn.conv import (
    SeedBatchNorm2d,
    SeedConv2d,
    SeedConvTranspose2d,
    from_grouped,
    grouped_flatten,
    grouped_unflatten,
    to_grouped,
)
from ica.nn.distributions import (
    DiagonalGaussianMixture,
    diagonal_normal,
    is_mixture,
    joint_log_prob,
    responsibilities,
    seed_sample,
    xavier_uniform_,
)
from ica.nn.layers import ACTIVATIONS, SeedDropout, SeedLinear, SeedMLP, activation, one_hot
from ica.nn.seeding import build_seeded, derived_seed, generator, seed_generators, seed_rand, seed_randn, seed_slice
from ica.nn.stacked import SeedStacked

__all__ = [
    "SeedLinear",
    "SeedMLP",
    "SeedDropout",
    "activation",
    "one_hot",
    "ACTIVATIONS",
    "SeedConv2d",
    "SeedConvTranspose2d",
    "SeedBatchNorm2d",
    "to_grouped",
    "from_grouped",
    "grouped_flatten",
    "grouped_unflatten",
    "SeedStacked",
    "diagonal_normal",
    "DiagonalGaussianMixture",
    "is_mixture",
    "joint_log_prob",
    "responsibilities",
    "xavier_uniform_",
    "seed_sample",
    "seed_rand",
    "seed_randn",
    "derived_seed",
    "generator",
    "build_seeded",
    "seed_generators",
    "seed_slice",
]
