"""The `ts` data set's options: the process (sizes, AR coefficient, innovations, segment kinds), the mixing
options of `tcl` under the same names and defaults, and what a setting costs in memory.

The mixing options are `tcl`'s own fields (`ica.plugins.datasets.tcl_options.TCLOptions`), reused as they are
and checked by its validators, so a spec's ``mixing``, ``mixing_layers``, ``negative_slope``, ``max_condition``,
``condition_draws`` and ``condition_percentile`` mean here what they mean there; `TSOptions.tcl` is the same
choice as a `TCLOptions`, which the recipes draw from. Not a plugin itself: `ica.plugins.datasets.ts`
registers them.
"""

from __future__ import annotations

import math
from copy import copy
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from ica.plugin import DatasetOptions, Field
from ica.plugins.datasets.tcl_options import CONDITION_TEMPORARIES, MATRIX_TEMPORARIES, TCLOptions
from ica.plugins.datasets.tcl_recipes import CONDITION_CHUNK_ELEMENTS

MIXING_FIELDS = (
    "mixing",
    "mixing_layers",
    "negative_slope",
    "max_condition",
    "condition_draws",
    "condition_percentile",
)
"""`tcl`'s options that choose and draw the mixing, offered by `ts` unchanged."""

BURN_IN_TOLERANCE = 1e-6
"""Each recording runs ``burn_in`` steps before its first point, enough for ``|ρ|^burn_in`` (the weight its
starting value keeps) to fall below this."""

MAX_BURN_IN = 100_000
"""``burn_in`` at most (reached for ``|ρ|`` above about 0.99986): the start's mean and variance are exact anyway,
only its shape (Gaussian, not the stationary law of Laplace innovations) then fades less completely."""

GENERATION_TEMPORARIES = 5
"""float64 arrays of one recording's size (burn-in included) alive at once while drawing it: the unit
innovations, the scales and levels of its points, the innovations, and the filtered series."""

MIXING_TEMPORARIES = 3
"""float64 arrays of one split's size alive at once while mixing it (``h``, ``h @ Wᵀ``, the LeakyReLU's output)."""


def _tcl(name: str) -> Any:
    """`tcl`'s field ``name`` (default, bounds, description), for a field of the same name here."""
    return copy(TCLOptions.model_fields[name])


class TSOptions(DatasetOptions):
    """AR(1) sources with non-Gaussian innovations (PCL), optionally nonstationary by segment, mixed as `tcl`."""

    dim: int = Field(5, ge=1, description="Number of sources and of observed dimensions (d_x = d_z).")
    segments: int = Field(
        1,
        ge=1,
        description="Distinct segment kinds K. 1: a stationary process and no u. K > 1: time is cut into blocks "
        "of segment_length points, each of one of K kinds with its own innovation mean and scale; u is the "
        "kind of a point's block.",
    )
    segment_length: int = Field(100, ge=1, description="Time points per block (segments > 1 only).")
    length: int = Field(10_000, ge=2, description="Time points of each training recording.")
    eval_length: int = Field(2_000, ge=2, description="Time points of each evaluation recording.")
    sequences: int = Field(1, ge=1, description="Independent recordings in each split.")
    ar_coefficient: float = Field(
        0.7, gt=-1, lt=1, description="ρ of s_t = ρ s_(t-1) + e_t, the same for every source; in (-1, 1)."
    )
    innovation: Literal["laplace", "gaussian"] = Field(
        "laplace",
        description="Law of the innovations e_t. 'laplace': PCL's non-Gaussian sources (identifiable). "
        "'gaussian': Gaussian AR(1) sources, which PCL cannot identify (the negative control).",
    )
    mixing: Literal["paper", "ivae", "tcl", "exact", "original"] = _tcl("mixing")
    mixing_layers: int = _tcl("mixing_layers")
    negative_slope: float | None = _tcl("negative_slope")
    max_condition: float | None = _tcl("max_condition")
    condition_draws: int | None = _tcl("condition_draws")
    condition_percentile: float | None = _tcl("condition_percentile")
    mean_range: tuple[float, float] | None = Field(
        None,
        description="segments > 1: each kind's level m per source is uniform on [low, high): its innovations "
        "have mean (1 - ρ) m, so a long block settles at mean m (unset: the recipe's own, as in tcl).",
    )
    std_range: tuple[float, float] | None = Field(
        None,
        description="segments > 1: each kind's scale σ per source is uniform on [low, high), low > 0: its "
        "innovations have standard deviation σ √(1 - ρ²), so a long block settles at standard deviation σ "
        "(unset: the recipe's own, as in tcl).",
    )
    data_seed: int = Field(0, ge=0, description="Seed of the data (independent of the models' seeds).")

    @property
    def tcl(self) -> TCLOptions:
        """The same mixing (and source ranges) as `tcl`'s options: what the recipes draw from."""
        chosen = {name: getattr(self, name) for name in (*MIXING_FIELDS, "mean_range", "std_range")}
        return TCLOptions(**chosen, dim=self.dim, data_seed=self.data_seed)

    @property
    def burn_in(self) -> int:
        """Steps each recording runs before its first point (`BURN_IN_TOLERANCE`, at most `MAX_BURN_IN`)."""
        rho = abs(self.ar_coefficient)
        if rho == 0:
            return 0
        return min(MAX_BURN_IN, math.ceil(math.log(BURN_IN_TOLERANCE) / math.log(rho)))

    def blocks(self, length: int) -> int:
        """Blocks of one recording of ``length`` points (the last one may be shorter)."""
        return -(-length // self.segment_length)

    def estimated_bytes(self) -> int | None:
        """Memory `generate_ts` takes at its peak, from the options alone: both splits' float64 sources with
        their u and sequence, one recording's `GENERATION_TEMPORARIES`, `MIXING_TEMPORARIES` copies of the
        larger split, the mixing matrices (and a thresholded recipe's draws) and the returned float32 tensors."""
        dim, train, evaluation = self.dim, self.sequences * self.length, self.sequences * self.eval_length
        rows = train + evaluation
        sources = rows * (dim * 8 + 2 * 8)
        recording = GENERATION_TEMPORARIES * (self.burn_in + max(self.length, self.eval_length)) * dim * 8
        mixing = MIXING_TEMPORARIES * max(train, evaluation) * dim * 8
        matrices = (self.mixing_layers + MATRIX_TEMPORARIES) * dim * dim * 8 + 2 * self.segments * dim * 8
        tcl = self.tcl
        if tcl.recipe.thresholded:
            chunk = min(tcl.threshold_draws, max(1, CONDITION_CHUNK_ELEMENTS // (dim * dim)))
            matrices += tcl.threshold_draws * 8 + CONDITION_TEMPORARIES * chunk * dim * dim * 8
        returned = rows * dim * 4 * 2
        return sources + recording + mixing + matrices + returned

    @field_validator("mixing_layers")
    @classmethod
    def _enough_layers(cls, v: int, info: ValidationInfo) -> int:
        return TCLOptions._enough_layers(v, info)

    @field_validator("max_condition")
    @classmethod
    def _exact_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        return TCLOptions._exact_only(v, info)

    @field_validator("condition_draws", "condition_percentile")
    @classmethod
    def _thresholded_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        return TCLOptions._thresholded_only(v, info)

    @field_validator("mean_range", "std_range")
    @classmethod
    def _finite_ordered(cls, v: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        return TCLOptions._finite_ordered(v, info)

    @field_validator("std_range")
    @classmethod
    def _positive_std(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return TCLOptions._positive_std(v)

    @model_validator(mode="after")
    def _every_kind_in_each_split(self) -> "TSOptions":
        if self.segments == 1:
            return self
        for split, length, field in (
            ("training", self.length, "length"),
            ("evaluation", self.eval_length, "eval_length"),
        ):
            blocks = self.sequences * self.blocks(length)
            if blocks < self.segments:
                raise ValueError(
                    f"segments = {self.segments} kinds must each appear in both splits, but the {split} split has "
                    f"{blocks} block(s) (sequences × ceil({field} / segment_length) = {self.sequences} × "
                    f"ceil({length} / {self.segment_length})); raise {field} or sequences, or lower segment_length "
                    "or segments"
                )
        return self
