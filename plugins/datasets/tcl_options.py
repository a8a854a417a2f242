"""The `tcl` data set's options: sizes, the recipe, the recipe's values a spec may override, and what each costs.

Apart from `ica.plugins.datasets.tcl` (which generates the data) because the options are a job of their own:
which option goes with which recipe (the validators) and how much memory a setting takes before anything is
drawn (`TCLOptions.estimated_bytes`). Not a plugin itself: `tcl` registers them.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator

from ica.plugin import DatasetOptions, Field
from ica.plugins.datasets.tcl_recipes import (
    CONDITION_CHUNK_ELEMENTS,
    DEFAULT_RECIPE,
    EXACT_CONDITION,
    ORIGINAL_DRAWS,
    ORIGINAL_PERCENTILE,
    RECIPES,
    Recipe,
)


GENERATION_TEMPORARIES = 3
"""float64 arrays of one split's size alive at once while drawing or mixing it (the noise, ``h`` and
``h @ Wᵀ`` or the LeakyReLU's output)."""

MATRIX_TEMPORARIES = 4
"""``dim × dim`` float64 arrays alive at once while one mixing matrix is made (Gaussian, Q, R, U·σ)."""

CONDITION_TEMPORARIES = 3
"""Chunk-sized float64 arrays alive at once while estimating a threshold (the draws, their squares, and
the copy the SVD makes)."""

MAX_LAYERS = 1_000
"""``mixing_layers`` at most: the paper mixes with up to 5; each layer is a matrix drawn (under thresholded
recipes, after ``condition_draws`` more), so a count far beyond any study is a typo that would generate for days."""

MAX_DRAWS = 10**9
"""``condition_draws`` at most: 100,000 times the original code's 10,000 (each draw a matrix's SVD, per layer;
their condition numbers alone take 8 GB, which the memory estimate weighs)."""

RECIPE_FIELDS = ("negative_slope", "mean_range", "std_range")
"""Options whose unset value is the recipe's own."""


class TCLOptions(DatasetOptions):
    """The TCL generator of §4.1 (defaults: the paper's d = 5, 20 segments, 4-layer mixing, its text's recipe)."""

    mixing: Literal["paper", "ivae", "tcl", "exact", "original"] = Field(
        DEFAULT_RECIPE,
        description="The generating recipe (mixing matrices, slope, source ranges). 'paper': the paper's §4.1 "
        "text (orthogonal full-rank weights, slope 0.2, means U[-3,3], stds U[0.01,3]). 'ivae': iVAE's code "
        "(one thresholded matrix reused in every layer, slope 0.1, zero means, stds U[0.5,3]). 'tcl': icebeem's "
        "TCL generator (mixing_layers - 1 orthogonal matrices, LeakyReLU first, zero means). 'exact': ica's "
        "earlier recipe, condition number exactly max_condition. 'original': ica's earlier blend (the default "
        "before 'paper'). 'exact' and 'original' reproduce ica's earlier data bit-for-bit.",
    )
    segments: int = Field(20, ge=2, description="Number of segments, i.e. distinct values of u.")
    samples_per_segment: int = Field(1000, ge=1, description="Training samples per segment.")
    eval_samples_per_segment: int = Field(
        500, ge=1, description="Held-out samples per segment, drawn from the same segments' distributions."
    )
    dim: int = Field(5, ge=1, description="Number of sources and of observed dimensions (d_x = d_z).")
    mixing_layers: int = Field(
        4,
        ge=1,
        le=MAX_LAYERS,
        description="Layers of the mixing MLP, as the recipe's "
        "code counts them (1 is a linear mixing; 'tcl' draws one matrix fewer).",
    )
    negative_slope: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Slope of the mixing MLP's LeakyReLU "
        "for x < 0 (unset: the recipe's own, 0.1 for 'ivae', else 0.2).",
    )
    max_condition: float | None = Field(
        None,
        ge=1,
        description="mixing='exact' only: condition number of every mixing matrix, exactly "
        "(unset: 2). Refused with other recipes.",
    )
    condition_draws: int | None = Field(
        None,
        ge=1,
        le=MAX_DRAWS,
        description="mixing='original' or 'ivae' only: random matrices drawn to "
        "estimate the condition-number threshold (unset: 10000, as the iVAE/TCL code).",
    )
    condition_percentile: float | None = Field(
        None,
        gt=0,
        le=100,
        description="mixing='original' or 'ivae' only: the threshold is this percentile of "
        "the draws' condition numbers (unset: 25, as the iVAE/TCL code; lower is better conditioned).",
    )
    mean_range: tuple[float, float] | None = Field(
        None,
        description="Source means are uniform on [low, high); [a, a] makes them all a (unset: the "
        "recipe's own, [0, 0] for 'ivae' and 'tcl', else [-3, 3]).",
    )
    std_range: tuple[float, float] | None = Field(
        None,
        description="Source standard deviations are uniform on [low, high), low > 0 (unset: the "
        "recipe's own, [0.5, 3] for 'ivae', else [0.01, 3]).",
    )
    data_seed: int = Field(0, ge=0, description="Seed of the data (independent of the models' seeds).")

    def estimated_bytes(self) -> int | None:
        """Memory `generate_tcl` takes at its peak, from the options alone (nothing is drawn): the segment
        parameters, both splits' float64 sources and labels, the temporaries of drawing and mixing the larger
        split (`GENERATION_TEMPORARIES` float64 copies), the mixing matrices (with, for thresholded recipes,
        the threshold draws' condition numbers and `CONDITION_TEMPORARIES` chunks) and the float32 tensors."""
        n_train = self.segments * self.samples_per_segment
        n_eval = self.segments * self.eval_samples_per_segment
        rows, dim = n_train + n_eval, self.dim
        parameters = 2 * self.segments * dim * 8
        sources = rows * (dim * 8 + 8)
        temporaries = GENERATION_TEMPORARIES * max(n_train, n_eval) * dim * 8
        matrices = (self.mixing_layers + MATRIX_TEMPORARIES) * dim * dim * 8
        if self.recipe.thresholded:
            chunk = min(self.threshold_draws, max(1, CONDITION_CHUNK_ELEMENTS // (dim * dim)))
            matrices += self.threshold_draws * 8 + CONDITION_TEMPORARIES * chunk * dim * dim * 8
        returned = rows * dim * 4 * 2
        return parameters + sources + temporaries + matrices + returned

    @property
    def recipe(self) -> Recipe:
        """The recipe ``mixing`` names."""
        return RECIPES[self.mixing]

    @property
    def slope(self) -> float:
        """The LeakyReLU slope used: ``negative_slope``, or the recipe's own when unset."""
        return self.recipe.negative_slope if self.negative_slope is None else self.negative_slope

    @property
    def means(self) -> tuple[float, float]:
        """The range source means are drawn from: ``mean_range``, or the recipe's own when unset."""
        return self.recipe.mean_range if self.mean_range is None else self.mean_range

    @property
    def stds(self) -> tuple[float, float]:
        """The range source standard deviations are drawn from: ``std_range``, or the recipe's own when unset."""
        return self.recipe.std_range if self.std_range is None else self.std_range

    @property
    def overrides(self) -> dict[str, Any]:
        """The recipe options given with a value other than the recipe's own."""
        given = {field: getattr(self, field) for field in RECIPE_FIELDS if getattr(self, field) is not None}
        return {field: value for field, value in given.items() if value != getattr(self.recipe, field)}

    @property
    def exact_condition(self) -> float:
        """The condition number of every matrix under ``mixing="exact"``."""
        return EXACT_CONDITION if self.max_condition is None else self.max_condition

    @property
    def threshold_draws(self) -> int:
        """Draws per threshold under thresholded recipes."""
        return ORIGINAL_DRAWS if self.condition_draws is None else self.condition_draws

    @property
    def threshold_percentile(self) -> float:
        """The percentile the threshold is taken at under thresholded recipes."""
        return ORIGINAL_PERCENTILE if self.condition_percentile is None else self.condition_percentile

    @field_validator("mixing_layers")
    @classmethod
    def _enough_layers(cls, v: int, info: ValidationInfo) -> int:
        mixing = info.data.get("mixing")
        recipe = RECIPES[mixing] if mixing in RECIPES else None
        if recipe is not None and v < recipe.min_layers:
            why = (
                "'tcl' draws mixing_layers - 1 matrices, so 1 would leave x = s"
                if recipe.nonlinearity_first
                else "its code asserts n_layers > 1"
            )
            raise ValueError(f"mixing={info.data['mixing']!r} needs at least {recipe.min_layers} layers ({why})")
        return v

    @field_validator("max_condition")
    @classmethod
    def _exact_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        mixing = info.data.get("mixing")
        if v is not None and mixing in RECIPES and mixing != "exact":
            raise ValueError(
                f"applies to mixing='exact' only: mixing={mixing!r} does not set a condition number; "
                'add "mixing": "exact" to set it'
            )
        return v

    @field_validator("condition_draws", "condition_percentile")
    @classmethod
    def _thresholded_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        mixing = info.data.get("mixing")
        if v is not None and mixing in RECIPES and not RECIPES[mixing].thresholded:
            raise ValueError(
                f"applies to mixing='original' or 'ivae' only: mixing={mixing!r} draws no condition-number threshold"
            )
        return v

    @field_validator("mean_range", "std_range")
    @classmethod
    def _finite_ordered(cls, v: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        if v is None:
            return v
        low, high = v
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("both ends must be finite")
        if info.field_name == "std_range" and not low < high:
            raise ValueError(f"low must be below high, got ({low}, {high})")
        if not low <= high:
            raise ValueError(f"low must not be above high, got ({low}, {high})")
        return v

    @field_validator("std_range")
    @classmethod
    def _positive_std(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] > 0:
            raise ValueError(f"standard deviations must be positive, got low = {v[0]}")
        return v
