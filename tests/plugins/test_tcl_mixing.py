"""The TCL generator's two earlier mixing recipes (issue #15): 'original' (ica's blend of the iVAE and TCL
code) and 'exact' (ica's earlier one); both must stay bit-identical. The named recipes: test_tcl_recipes.py."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from pydantic import ValidationError

from conftest import peak_bytes
from ica.errors import DataError, SpecError
from ica.plugins.datasets import tcl_recipes
from ica.plugins.datasets.tcl import (
    TCLOptions,
    condition_threshold,
    generate_tcl,
    mix,
    mixing_matrices,
    original_mixing_matrices,
)
from ica.spec.load import load_spec, spec_json

SMALL = dict(segments=3, samples_per_segment=40, eval_samples_per_segment=15, dim=3)
FEW = dict(SMALL, mixing="original", condition_draws=500)  # fewer threshold draws: fast, same recipe


def mixing_stream(seed: int) -> np.random.Generator:
    """The `mixing` child stream of the module docstring: root parameters first, then spawn(3)[2]."""
    return np.random.Generator(np.random.PCG64(seed)).spawn(3)[2]  # the root's own draws do not move it


def training_sources(options: TCLOptions) -> np.ndarray:
    """The float64 training sources of ``options``, rebuilt from the documented draws."""
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    shape = (options.segments, options.dim)
    means, stds = root.uniform(*options.means, size=shape), root.uniform(*options.stds, size=shape)
    noise = root.spawn(3)[0].standard_normal((options.segments, options.samples_per_segment, options.dim))
    return (noise * stds[:, None] + means[:, None]).reshape(-1, options.dim)


def same_data(a, b) -> bool:
    return all(
        torch.equal(getattr(sa, f), getattr(sb, f))
        for sa, sb in ((a.train, b.train), (a.eval, b.eval))
        for f in ("x", "u", "s")
    )


def unit_columns(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-2, keepdims=True)


# ------------------------------------------------------------------------------------------- exact
@pytest.mark.parametrize("extra", [{}, {"max_condition": 7.0, "mixing_layers": 2, "data_seed": 4}])
def test_exact_is_the_earlier_recipe_bit_for_bit(extra):
    """`mixing_matrices` (unchanged) on the mixing stream, κ = 2 when unset: what ica generated before."""
    options = TCLOptions(**SMALL, mixing="exact", **extra)
    data = generate_tcl(options)
    kappa = extra.get("max_condition", 2.0)
    matrices = mixing_matrices(mixing_stream(options.data_seed), 3, options.mixing_layers, kappa)
    for split in (data.train, data.eval):
        x = mix(split.s.numpy().astype(np.float64), matrices, options.slope)
        # s is stored as float32; mixing its float64 original is what generate_tcl does, so compare loosely
        # here and exactly below through a float64 rebuild of the sources.
        np.testing.assert_allclose(split.x.numpy(), x, rtol=1e-5, atol=1e-5)
    assert data.info["condition_numbers"] == pytest.approx([kappa] * options.mixing_layers, rel=1e-6)
    assert data.info["mixing"] == "exact" and "condition_thresholds" not in data.info


def test_exact_rebuilds_exactly_from_the_documented_draws():
    options = TCLOptions(**SMALL, mixing="exact", data_seed=5)
    root = np.random.Generator(np.random.PCG64(5))
    means, stds = root.uniform(-3, 3, size=(3, 3)), root.uniform(0.01, 3, size=(3, 3))
    train_rng, _, mixing_rng = root.spawn(3)
    s = (train_rng.standard_normal((3, 40, 3)) * stds[:, None] + means[:, None]).reshape(120, 3)
    x = mix(s, mixing_matrices(mixing_rng, 3, 4, 2.0), 0.2)
    np.testing.assert_array_equal(generate_tcl(options).train.x.numpy(), x.astype(np.float32))


# ------------------------------------------------------------------------------------------- original
def rebuild_original(seed: int, dim: int, layers: int, draws: int, percentile: float):
    """The recipe written out from the module docstring, one full draw per threshold (no chunks)."""
    rng = mixing_stream(seed)
    matrices, thresholds, tries = [], [], []
    for _ in range(layers):
        threshold = np.percentile(np.linalg.cond(unit_columns(rng.uniform(-1, 1, (draws, dim, dim)))), percentile)
        count = 1
        while np.linalg.cond(a := unit_columns(rng.uniform(-1, 1, (dim, dim)))) > threshold:
            count += 1
        matrices.append(np.ascontiguousarray(a.T))
        thresholds.append(float(threshold))
        tries.append(count)
    return matrices, thresholds, tries


def test_original_is_kept_by_name():
    assert TCLOptions().mixing == "paper"  # the default since the named recipes
    assert generate_tcl(TCLOptions(**FEW)).info["mixing"] == "original"


@pytest.mark.parametrize("seed, percentile", [(0, 25.0), (3, 60.0)])
def test_original_rebuilds_exactly_from_the_documented_recipe(seed, percentile, monkeypatch):
    """Thresholds, draws per layer and the data itself; a chunk size far below the draws changes nothing."""
    monkeypatch.setattr(tcl_recipes, "CONDITION_CHUNK_ELEMENTS", 7 * 9)  # 7 matrices of 3 × 3 per chunk
    options = TCLOptions(**FEW, data_seed=seed, condition_percentile=percentile)
    data = generate_tcl(options)
    matrices, thresholds, tries = rebuild_original(seed, 3, 4, 500, percentile)
    assert data.info["condition_thresholds"] == thresholds
    assert data.info["draws_per_layer"] == tries
    s = training_sources(options)
    np.testing.assert_array_equal(data.train.s.numpy(), s.astype(np.float32))
    np.testing.assert_array_equal(data.train.x.numpy(), mix(s, matrices, 0.2).astype(np.float32))
    monkeypatch.undo()
    assert same_data(generate_tcl(options), data)


def test_threshold_is_the_percentile_of_draws_from_the_same_stream():
    threshold = condition_threshold(mixing_stream(2), 4, 800, 25.0)
    draws = unit_columns(mixing_stream(2).uniform(-1, 1, (800, 4, 4)))
    assert threshold == np.percentile(np.linalg.cond(draws), 25.0)
    assert threshold != np.percentile(np.linalg.cond(draws), 30.0)


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_every_accepted_matrix_is_below_its_threshold_with_unit_rows(dim):
    drawn = original_mixing_matrices(np.random.default_rng(dim), dim, 5, 400, 25.0)
    assert len(drawn.matrices) == len(drawn.thresholds) == len(drawn.draws) == 5
    for w, cond, threshold, tries in zip(drawn.matrices, drawn.conditions, drawn.thresholds, drawn.draws):
        assert w.shape == (dim, dim) and np.isfinite(w).all()
        assert np.linalg.cond(w) <= threshold * (1 + 1e-12) and cond <= threshold
        assert np.linalg.cond(w) == pytest.approx(cond, rel=1e-9)
        np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=1e-12)  # W = Aᵀ, A has unit columns
        assert isinstance(tries, int) and tries >= 1


def test_one_dimension_is_a_sign():
    data = generate_tcl(TCLOptions(**{**FEW, "dim": 1}))
    assert data.info["condition_numbers"] == [1.0] * 4 and data.info["condition_thresholds"] == [1.0] * 4
    gain = np.abs(data.train.x.numpy() / data.train.s.numpy()).ravel()  # ±1 weights: only LeakyReLUs scale
    assert np.isclose(gain[:, None], [1.0, 0.2, 0.2**2, 0.2**3], rtol=1e-5).any(axis=1).all()


def test_original_is_bit_identical_for_identical_options_and_moves_with_the_seed():
    a, b = generate_tcl(TCLOptions(**FEW)), generate_tcl(TCLOptions(**FEW))
    assert same_data(a, b) and a.info == b.info
    c = generate_tcl(TCLOptions(**FEW, data_seed=1))
    assert not torch.equal(a.train.x, c.train.x)
    assert a.info["condition_thresholds"] != c.info["condition_thresholds"]


def test_original_mixing_leaves_the_sources_alone_and_differs_from_exact():
    original, exact = generate_tcl(TCLOptions(**FEW)), generate_tcl(TCLOptions(**SMALL, mixing="exact"))
    assert torch.equal(original.train.s, exact.train.s) and torch.equal(original.eval.s, exact.eval.s)
    assert not torch.equal(original.train.x, exact.train.x)


def test_original_eval_size_leaves_the_mixing_unchanged():
    a = generate_tcl(TCLOptions(**FEW))
    b = generate_tcl(TCLOptions(**{**FEW, "eval_samples_per_segment": 31}))
    assert torch.equal(a.train.x, b.train.x)
    assert a.info["condition_thresholds"] == b.info["condition_thresholds"]


def test_original_data_is_finite_and_invertible():
    """Undo every layer (inverse matrix, inverse LeakyReLU) and get the sources back."""
    options = TCLOptions(**FEW, data_seed=7)
    data = generate_tcl(options)
    matrices, _, _ = rebuild_original(7, 3, 4, 500, 25.0)
    for split in (data.train, data.eval):
        x = split.x.numpy().astype(np.float64)
        assert np.isfinite(x).all()
        h = x
        for layer, w in reversed(list(enumerate(matrices))):
            if layer < len(matrices) - 1:
                h = np.where(h >= 0, h, h / options.slope)
            h = h @ np.linalg.inv(w).T
        np.testing.assert_allclose(h, split.s.numpy(), rtol=1e-3, atol=1e-3)


def test_info_records_each_layers_condition_threshold_and_draws():
    info = generate_tcl(TCLOptions(**FEW, mixing_layers=3)).info
    assert info["mixing"] == "original"
    assert len(info["condition_numbers"]) == len(info["condition_thresholds"]) == len(info["draws_per_layer"]) == 3
    assert all(c <= t for c, t in zip(info["condition_numbers"], info["condition_thresholds"]))
    assert all(isinstance(n, int) and n >= 1 for n in info["draws_per_layer"])
    assert info["options"]["condition_draws"] == 500 and info["options"]["max_condition"] is None


def test_a_threshold_no_candidate_meets_is_a_data_error_naming_the_percentile(monkeypatch):
    monkeypatch.setattr(tcl_recipes, "MAX_CANDIDATES", 1)
    with pytest.raises(DataError) as caught:
        generate_tcl(TCLOptions(**SMALL, mixing="original", condition_draws=2000, condition_percentile=0.01))
    assert caught.value.where == "condition_percentile"


# ------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "bad, field",
    [
        ({"max_condition": 3.0}, "max_condition"),  # the default recipe is 'paper'
        ({"mixing": "original", "max_condition": 2.0}, "max_condition"),
        ({"mixing": "exact", "condition_draws": 100}, "condition_draws"),
        ({"mixing": "exact", "condition_percentile": 10.0}, "condition_percentile"),
        ({"condition_draws": 0}, "condition_draws"),
        ({"condition_percentile": 0.0}, "condition_percentile"),
        ({"condition_percentile": 100.5}, "condition_percentile"),
        ({"mixing": "uniform"}, "mixing"),
    ],
)
def test_invalid_combinations_are_validation_errors_naming_the_field(bad, field):
    with pytest.raises(ValidationError) as caught:
        TCLOptions(**bad)
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_a_spec_with_max_condition_but_no_mixing_is_a_spec_error_saying_what_to_do():
    with pytest.raises(SpecError) as caught:
        load_spec({"data": {"name": "tcl", "max_condition": 4.0}, "model": {"name": "ivae"}})
    assert "data.max_condition" in str(caught.value) and '"mixing": "exact"' in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "tcl"},
        {"name": "tcl", "mixing": "original", "condition_percentile": 10.0},
        {"name": "tcl", "mixing": "exact", "max_condition": 3.0},
    ],
)
def test_the_written_spec_loads_again(data):
    """spec.json holds every default (None included): it must validate as it was written."""
    spec = load_spec({"data": data, "model": {"name": "ivae"}})
    again = load_spec(spec_json(spec))
    assert spec_json(again) == spec_json(spec)


# ------------------------------------------------------------------------------------------- memory
def test_the_estimate_covers_the_threshold_draws():
    """With dim 64 the threshold chunks (MiBs) dwarf the data; an estimate without them falls short."""
    options = TCLOptions(
        segments=2,
        samples_per_segment=5,
        eval_samples_per_segment=5,
        dim=64,
        mixing_layers=1,
        mixing="original",
        condition_draws=600,
    )
    peak = peak_bytes(lambda: generate_tcl(options))
    assert options.estimated_bytes() >= peak
    exact = TCLOptions(**{**options.model_dump(), "mixing": "exact", "condition_draws": None})
    assert exact.estimated_bytes() < peak


def test_huge_options_are_estimated_without_drawing():
    options = TCLOptions(dim=10**5, mixing="original", condition_draws=10**9)
    peak = peak_bytes(options.estimated_bytes)
    assert options.estimated_bytes() >= 10**9 * 8 + 3 * 10**10 * 8 and peak < 10**6
