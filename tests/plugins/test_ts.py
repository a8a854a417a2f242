"""The `ts` data set: AR(1) sources with Laplace or Gaussian innovations (PCL), segments of K kinds, time order,
and the mixing of `tcl`'s recipes. Statistical checks use tolerances of 5 standard errors computed from the
sample size (formulas beside each), on fixed seeds."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from typer.testing import CliRunner

import ica
from conftest import TINY_SPEC, peak_bytes
from ica.cli import app
from ica.components.sequences import sequence_problem
from ica.plugins.datasets import ts as ts_plugin
from ica.plugins.datasets.tcl_options import TCLOptions
from ica.plugins.datasets.ts import generate_ts
from ica.plugins.datasets.ts_options import MIXING_FIELDS, TSOptions

SMALL = dict(dim=3, length=300, eval_length=120, sequences=2)
SEGMENTED = dict(SMALL, segments=3, segment_length=50)
FIELDS = ("x", "u", "s", "sequence")


def same_split(a, b) -> bool:
    return all(
        (getattr(a, f) is None and getattr(b, f) is None) or torch.equal(getattr(a, f), getattr(b, f)) for f in FIELDS
    )


def pairs(split) -> tuple[np.ndarray, np.ndarray]:
    """Each row with a predecessor in its recording, and that predecessor (float64 sources)."""
    s = split.s.double().numpy()
    same = (split.sequence[1:] == split.sequence[:-1]).numpy()
    return s[1:][same], s[:-1][same]


# ============================================================================================ shapes
def test_shapes_and_dtypes_stationary():
    data = generate_ts(TSOptions(**SMALL))
    for split, length in ((data.train, 300), (data.eval, 120)):
        assert split.x.shape == (2 * length, 3) and split.x.dtype == torch.float32
        assert split.s.shape == (2 * length, 3) and split.s.dtype == torch.float32
        assert split.sequence.dtype == torch.int64 and split.u is None and split.previous is None
    assert data.n_u is None and data.source_dim == 3
    assert data.info["generator"] == "ts" and data.info["n_train"] == 600 and data.info["n_eval"] == 240


def test_shapes_and_dtypes_segmented():
    data = generate_ts(TSOptions(**SEGMENTED))
    assert data.n_u == 3
    for split, length in ((data.train, 300), (data.eval, 120)):
        assert split.u.shape == (2 * length,) and split.u.dtype == torch.int64


def test_sequence_is_each_rows_recording_in_order():
    data = generate_ts(TSOptions(**SMALL))
    for split, length in ((data.train, 300), (data.eval, 120)):
        assert split.sequence.tolist() == [0] * length + [1] * length
        assert sequence_problem(split.sequence, len(split)) is None


def test_adding_recordings_leaves_the_earlier_ones_unchanged():
    two, three = generate_ts(TSOptions(**SEGMENTED)), generate_ts(TSOptions(**{**SEGMENTED, "sequences": 3}))
    for f in FIELDS:
        assert torch.equal(getattr(two.train, f), getattr(three.train, f)[:600])


# ============================================================================================ seeds
def test_same_options_give_identical_data():
    a, b = generate_ts(TSOptions(**SEGMENTED)), generate_ts(TSOptions(**SEGMENTED))
    assert same_split(a.train, b.train) and same_split(a.eval, b.eval)
    assert a.info == b.info


def test_data_seed_changes_the_data():
    a, b = generate_ts(TSOptions(**SEGMENTED, data_seed=0)), generate_ts(TSOptions(**SEGMENTED, data_seed=1))
    assert not torch.equal(a.train.s, b.train.s) and not torch.equal(a.eval.x, b.eval.x)
    assert a.info["segment_stds"] != b.info["segment_stds"]


@pytest.mark.parametrize("base", [SMALL, SEGMENTED], ids=["stationary", "segmented"])
def test_eval_length_leaves_training_data_bit_identical(base):
    a = generate_ts(TSOptions(**{**base, "eval_length": 120}))
    b = generate_ts(TSOptions(**{**base, "eval_length": 170}))
    assert same_split(a.train, b.train)
    assert a.info["segment_means"] == b.info["segment_means"] and a.info["segment_stds"] == b.info["segment_stds"]


def test_mixing_is_the_same_whatever_the_sizes():
    """The mixing stream is spawned apart: the same s mixes to the same x at any length."""
    a = generate_ts(TSOptions(**SMALL, mixing="exact", max_condition=3.0))
    b = generate_ts(TSOptions(**{**SMALL, "length": 500}, mixing="exact", max_condition=3.0))
    assert a.info["condition_numbers"] == b.info["condition_numbers"]
    assert torch.equal(a.eval.x, b.eval.x)


# ====================================================================================== the process
LONG = dict(dim=4, length=25_000, eval_length=50, sequences=2)


@pytest.mark.parametrize("rho", [0.7, -0.5, 0.95])
def test_lag_one_autocorrelation_is_the_ar_coefficient(rho):
    """Bartlett: the lag-1 autocorrelation of an AR(1) has standard error √((1 - ρ²) / n)."""
    now, before = pairs(generate_ts(TSOptions(**LONG, ar_coefficient=rho)).train)
    estimate = (now * before).sum(0) / np.sqrt((now * now).sum(0) * (before * before).sum(0))
    tolerance = 5 * math.sqrt((1 - rho**2) / now.shape[0])
    assert np.all(np.abs(estimate - rho) < tolerance), (estimate, tolerance)


@pytest.mark.parametrize("law, excess, n_variance", [("laplace", 3.0, 1188.0), ("gaussian", 0.0, 24.0)])
def test_innovations_have_the_laws_kurtosis(law, excess, n_variance):
    """Excess kurtosis m4/m2² - 3 of the innovations e_t = s_t - ρ s_(t-1) (mean 0 known). By the delta method
    n·Var = μ8 - μ4² - 4 μ4 (μ6 - μ4) + 4 μ4² (μ4 - 1) in units of σ: 24 for a Gaussian (μ4, μ6, μ8 = 3, 15,
    105) and 1188 for a Laplace (6, 90, 2520). The sources are independent, so their innovations pool."""
    now, before = pairs(generate_ts(TSOptions(**LONG, innovation=law)).train)
    e = (now - 0.7 * before).ravel()
    kurtosis = np.mean(e**4) / np.mean(e**2) ** 2 - 3
    assert abs(kurtosis - excess) < 5 * math.sqrt(n_variance / e.size), kurtosis


@pytest.mark.parametrize("law, eta", [("laplace", 6.0), ("gaussian", 3.0)])
def test_stationary_variance_is_one(law, eta):
    """Bartlett for the variance of a linear process (mean 0 known): n·Var(γ̂(0)) = (η - 3) + 2 (1 + ρ²) / (1 - ρ²),
    η the innovations' kurtosis; each source, every recording from its first point (the start is stationary)."""
    s = generate_ts(TSOptions(**LONG, innovation=law)).train.s.double().numpy()
    rho = 0.7
    tolerance = 5 * math.sqrt(((eta - 3) + 2 * (1 + rho**2) / (1 - rho**2)) / s.shape[0])
    assert np.all(np.abs((s**2).mean(0) - 1) < tolerance), ((s**2).mean(0), tolerance)


def test_each_recording_starts_stationary():
    """The first points of 2,000 independent recordings have variance 1 (started at 0 without a burn-in they
    would have 1 - ρ² = 0.51). Their kurtosis is 3 + 3 (1 - ρ²)² / (1 - ρ⁴) ≈ 4.03, so Var(s²) ≈ 3.03."""
    data = generate_ts(TSOptions(dim=4, length=2, eval_length=2, sequences=2_000))
    first = data.train.s.double().numpy()[::2].ravel()
    assert abs(np.mean(first**2) - 1) < 5 * math.sqrt(3.03 / first.size), np.mean(first**2)


def test_no_autocorrelation_at_zero():
    now, before = pairs(generate_ts(TSOptions(**LONG, ar_coefficient=0.0)).train)
    assert TSOptions(ar_coefficient=0.0).burn_in == 0
    assert np.all(np.abs((now * before).mean(0)) < 5 / math.sqrt(now.shape[0]))


# ========================================================================================== segments
SEGMENTS = dict(dim=2, segments=3, segment_length=200, length=6_000, eval_length=600, sequences=2,
                ar_coefficient=0.5, mean_range=(-2.0, 2.0), std_range=(0.5, 3.0))  # fmt: skip


def test_u_is_the_kind_of_each_points_block():
    data = generate_ts(TSOptions(**SEGMENTS))
    for split, length in ((data.train, 6_000), (data.eval, 600)):
        u = split.u.numpy().reshape(2, length // 200, 200)  # recording, block, point
        assert np.all(u == u[:, :, :1])  # constant within each block
        assert set(split.u.tolist()) == {0, 1, 2}  # every kind in both splits
    kinds = data.train.u.numpy().reshape(-1, 200)[:, 0]
    for group in kinds[: len(kinds) // 3 * 3].reshape(-1, 3):  # dealt as consecutive permutations
        assert sorted(group.tolist()) == [0, 1, 2]


def test_a_partial_last_block_keeps_its_kind():
    data = generate_ts(TSOptions(**{**SEGMENTS, "length": 5_950}))
    u = data.train.u.numpy()[:5_950]
    assert np.all(u[5_800:] == u[5_800])


def test_each_kind_has_its_drawn_innovation_mean_and_scale():
    """Within a block of kind k, e_t = (1 - ρ) m_k + σ_k √(1 - ρ²) ε_t: its mean and standard deviation per kind
    and source match the drawn ones (relative standard error of a Laplace sample's standard deviation
    √((κ - 1) / 4n) with κ = 6; of its mean σ/√n)."""
    data = generate_ts(TSOptions(**SEGMENTS))
    rho, split = 0.5, data.train
    same = (split.sequence[1:] == split.sequence[:-1]).numpy()
    s = split.s.double().numpy()
    e, kind = (s[1:] - rho * s[:-1])[same], split.u.numpy()[1:][same]
    means, stds = np.array(data.info["segment_means"]), np.array(data.info["segment_stds"])
    assert np.ptp(stds) > 0.5  # the kinds differ as drawn
    for k in range(3):
        rows = e[kind == k]
        scale = stds[k] * math.sqrt(1 - rho**2)
        assert np.all(np.abs(rows.std(0) / scale - 1) < 5 * math.sqrt(5 / (4 * rows.shape[0]))), (k, rows.std(0), scale)
        assert np.all(np.abs(rows.mean(0) - (1 - rho) * means[k]) < 5 * scale / math.sqrt(rows.shape[0]))


def test_one_kind_has_no_u_and_no_segment_parameters():
    data = generate_ts(TSOptions(**SMALL))
    assert data.info["segment_means"] is None and data.info["segments"] == 1 and data.train.u is None


# ============================================================================================ mixing
def _linear_residual(split) -> float:
    s, x = split.s.double().numpy(), split.x.double().numpy()
    coef, *_ = np.linalg.lstsq(s, x, rcond=None)
    return float(np.linalg.norm(x - s @ coef) / np.linalg.norm(x))


def test_mixing_layers_reach_the_mixing():
    assert _linear_residual(generate_ts(TSOptions(**SMALL, mixing_layers=1)).train) < 1e-6
    assert _linear_residual(generate_ts(TSOptions(**SMALL, mixing_layers=4)).train) > 1e-2


def test_recipe_options_reach_the_mixing_and_info():
    data = generate_ts(TSOptions(**SMALL, mixing="ivae", mixing_layers=3, negative_slope=0.3))
    info = data.info
    assert info["recipe"] == "ivae" and "iVAE" in info["recipe_source"]
    assert info["mixing_matrices"] == 3 and info["distinct_matrices"] == 1  # iVAE reuses one matrix
    assert info["negative_slope"] == 0.3 and info["overrides"] == {"negative_slope": 0.3}
    assert generate_ts(TSOptions(**SMALL, mixing="tcl", mixing_layers=2)).info["order"] == "nonlinearity first"


def test_mixing_options_are_tcls_with_its_defaults():
    ts, tcl = TSOptions(), TCLOptions()
    for name in MIXING_FIELDS:
        assert getattr(ts, name) == getattr(tcl, name), name
        assert TSOptions.model_fields[name].description == TCLOptions.model_fields[name].description


def test_defaults():
    o = TSOptions()
    assert (o.dim, o.segments, o.segment_length, o.length, o.eval_length, o.sequences) == (5, 1, 100, 10_000, 2_000, 1)
    assert (o.ar_coefficient, o.innovation, o.mixing, o.mixing_layers, o.data_seed) == (0.7, "laplace", "paper", 4, 0)
    assert o.mean_range is None and o.std_range is None and o.burn_in == 39  # 0.7^39 < 1e-6 < 0.7^38


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"ar_coefficient": 1.0}, "ar_coefficient"),
        ({"ar_coefficient": -1.0}, "ar_coefficient"),
        ({"innovation": "cauchy"}, "innovation"),
        ({"segments": 0}, "segments"),
        ({"length": 1}, "length"),
        ({"sequences": 0}, "sequences"),
        ({"mixing": "tcl", "mixing_layers": 1}, "needs at least 2 layers"),
        ({"max_condition": 2.0}, "mixing='exact' only"),
        ({"condition_draws": 10}, "'original' or 'ivae' only"),
        ({"std_range": (0.0, 1.0)}, "positive"),
        ({"mean_range": (1.0, -1.0)}, "low must not be above high"),
        ({"segments": 30, "length": 1_000, "segment_length": 100, "eval_length": 200_000}, "training split has 10"),
        ({"segments": 3, "eval_length": 200}, "evaluation split has 2 block(s)"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_options_refuse_bad_values(bad, fragment):
    with pytest.raises(ValidationError) as info:
        TSOptions(**bad)
    assert fragment in str(info.value), str(info.value)


def test_every_option_is_described_and_registered():
    calls = []
    ts_plugin.ica_register(lambda kind, name, options, build, description="": calls.append((kind, name, options)))
    assert calls == [("dataset", "ts", TSOptions)]
    assert "ts" in ica.registry().names("dataset")
    assert all(info.description for info in TSOptions.model_fields.values())


def test_estimated_bytes_cover_the_peak():
    options = TSOptions(**{**SEGMENTS, "length": 40_000, "eval_length": 20_000, "dim": 5})
    peak = peak_bytes(lambda: generate_ts(options))
    assert peak <= options.estimated_bytes() < 4 * peak


def test_ica_validate_accepts_a_spec_on_ts(tmp_path):
    spec = copy.deepcopy(TINY_SPEC)
    spec["data"] = {"name": "ts", "dim": 3, "segments": 4, "segment_length": 20, "length": 200, "eval_length": 100}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
