"""The TCL data set's named recipes (issue #28): each one's slope, source ranges, matrices, conditioning and order
of nonlinearity, the recipe options' unset-means-the-recipe's rule, and old run directories that must still
resume with bit-identical data."""

from __future__ import annotations

import hashlib
import json
import typing

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from conftest import peak_bytes

import ica
from ica.errors import IcaError
from ica.plugins.datasets.tcl import TCLOptions, generate_tcl
from ica.plugins.datasets.tcl_recipes import (
    RECIPES,
    condition_threshold,
    draw_ivae,
    draw_paper,
    draw_tcl,
    leaky_relu,
    mix,
    mix_nonlinearity_first,
    uniform_unit_columns,
)
from ica.rundir.layout import RunLayout
from ica.running.claims import check_directory
from ica.spec.grid import grid_cells
from ica.spec.load import json_digest, load_spec, spec_hash, spec_json

SMALL = dict(segments=3, samples_per_segment=40, eval_samples_per_segment=15, dim=3)
PINNED = dict(segments=3, samples_per_segment=7, eval_samples_per_segment=4, dim=3, mixing_layers=3, data_seed=11)
"""The configuration whose digests were taken before the named recipes existed."""

BEFORE = {
    "original": ({"mixing": "original", "condition_draws": 200}, "288c5adaf382b003ea4b307ffbfe937d"),
    "original, 10,000 draws": ({"mixing": "original"}, "ff0a5ed95dbf3af1270002acdb12144a"),
    "exact": ({"mixing": "exact"}, "36097f3ca480dd3bdaafcf2f5b19eee0"),
    "exact, κ 3, slope 0.5": (
        {"mixing": "exact", "max_condition": 3.0, "negative_slope": 0.5},
        "428476f4b6b348322410f2430ffecb41",
    ),
}
"""Digests of ``generate_tcl`` output computed with the code as it was before this change."""

PAPER_DIGEST = "7fd0e14d960242d75980cf57d9288596"
"""The default ("paper") recipe's digest for `PINNED`, taken when it was written: a change to it shows here."""


def digest(data) -> str:
    h = hashlib.sha256()
    for split in (data.train, data.eval):
        for t in (split.x, split.u, split.s):
            h.update(t.numpy().tobytes())
    return h.hexdigest()[:32]


def same_data(a, b) -> bool:
    return all(
        torch.equal(getattr(sa, f), getattr(sb, f))
        for sa, sb in ((a.train, b.train), (a.eval, b.eval))
        for f in ("x", "u", "s")
    )


def mixing_stream(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed)).spawn(3)[2]


def sources(options: TCLOptions, standardize: bool = False) -> np.ndarray:
    """The float64 training sources, rebuilt from the documented draws."""
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    shape = (options.segments, options.dim)
    means, stds = root.uniform(*options.means, size=shape), root.uniform(*options.stds, size=shape)
    noise = root.spawn(3)[0].standard_normal((options.segments, options.samples_per_segment, options.dim))
    if standardize:
        flat = noise.reshape(-1, options.dim)
        noise = ((flat - flat.mean(0)) / flat.std(0)).reshape(noise.shape)
    return (noise * stds[:, None] + means[:, None]).reshape(-1, options.dim)


# ------------------------------------------------------------------------------------------- the earlier recipes
@pytest.mark.parametrize("case", list(BEFORE))
def test_original_and_exact_are_bit_identical_to_before(case):
    extra, expected = BEFORE[case]
    assert digest(generate_tcl(TCLOptions(**PINNED, **extra))) == expected


def test_the_default_recipe_is_paper_and_pinned():
    assert TCLOptions().mixing == "paper"
    assert digest(generate_tcl(TCLOptions(**PINNED))) == PAPER_DIGEST


def test_every_recipe_is_an_option_and_cites_its_source():
    names = typing.get_args(TCLOptions.model_fields["mixing"].annotation)
    assert set(names) == set(RECIPES) == {"paper", "ivae", "tcl", "exact", "original"}
    for name, recipe in RECIPES.items():
        assert recipe.source and recipe.draw.__doc__, name
    assert "ilkhem/iVAE data/data.py" in RECIPES["ivae"].source and "repeat_linearity" in RECIPES["ivae"].source
    assert "ilkhem/icebeem data/imca.py gen_TCL_data_ortho" in RECIPES["tcl"].source


# ------------------------------------------------------------------------------------------- paper
def test_paper_is_the_texts_ranges_with_orthogonal_layers_and_slope_two_tenths():
    options = TCLOptions(**SMALL, data_seed=4)
    data = generate_tcl(options)
    info = data.info
    assert (info["recipe"], info["negative_slope"], info["order"]) == ("paper", 0.2, "linear first")
    assert info["mean_range"] == [-3.0, 3.0] and info["std_range"] == [0.01, 3.0]
    assert info["mixing_matrices"] == info["distinct_matrices"] == 4
    assert info["condition_numbers"] == pytest.approx([1.0] * 4, abs=1e-12)
    matrices = draw_paper(mixing_stream(4), options).matrices
    for w in matrices:
        np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-12)
    s = sources(options)
    np.testing.assert_array_equal(data.train.x.numpy(), mix(s, matrices, 0.2).astype(np.float32))
    means, stds = np.array(info["segment_means"]), np.array(info["segment_stds"])
    assert ((means >= -3) & (means < 3)).all() and ((stds >= 0.01) & (stds < 3)).all()


# ------------------------------------------------------------------------------------------- ivae
def test_ivae_reuses_one_thresholded_matrix_with_slope_one_tenth_and_centred_sources():
    options = TCLOptions(**SMALL, mixing="ivae", condition_draws=500, data_seed=2)
    data = generate_tcl(options)
    info = data.info
    assert (info["recipe"], info["negative_slope"], info["order"]) == ("ivae", 0.1, "linear first")
    assert info["mixing_matrices"] == 4 and info["distinct_matrices"] == 1
    assert info["mean_range"] == [0.0, 0.0] and info["std_range"] == [0.5, 3.0]
    assert np.array(info["segment_means"]).tolist() == [[0.0] * 3] * 3
    stds = np.array(info["segment_stds"])
    assert ((stds >= 0.5) & (stds < 3)).all()
    # iVAE's generate_mixing_matrix: the 25th percentile of 500 draws' condition numbers, then candidates
    rng = mixing_stream(2)
    threshold = condition_threshold(rng, 3, 500, 25.0)
    assert info["condition_thresholds"] == [threshold]
    while np.linalg.cond(a := uniform_unit_columns(rng, (3, 3))) > threshold:
        pass
    assert len(set(info["condition_numbers"])) == 1 and info["condition_numbers"][0] <= threshold
    s = sources(options)
    np.testing.assert_array_equal(data.train.x.numpy(), mix(s, [a.T] * 4, 0.1).astype(np.float32))
    drawn = draw_ivae(mixing_stream(2), options).matrices
    assert len(drawn) == 4 and all(w is drawn[0] for w in drawn)  # repeat_linearity: the same matrix


def test_ivae_uncentred_means_are_an_override_that_is_recorded():
    data = generate_tcl(TCLOptions(**SMALL, mixing="ivae", condition_draws=200, mean_range=(-5.0, 5.0)))
    means = np.array(data.info["segment_means"])
    assert ((means >= -5) & (means < 5)).all() and np.abs(means).max() > 1
    assert data.info["overrides"] == {"mean_range": [-5.0, 5.0]} and data.info["mean_range"] == [-5.0, 5.0]


# ------------------------------------------------------------------------------------------- tcl
def test_tcl_applies_the_nonlinearity_first_through_one_orthogonal_matrix_fewer():
    options = TCLOptions(**SMALL, mixing="tcl", data_seed=6)
    data = generate_tcl(options)
    info = data.info
    assert (info["recipe"], info["negative_slope"], info["order"]) == ("tcl", 0.2, "nonlinearity first")
    assert info["mixing_matrices"] == info["distinct_matrices"] == 3  # mixing_layers 4: icebeem's Nlayer - 1
    assert info["condition_numbers"] == pytest.approx([1.0] * 3, abs=1e-12)
    assert info["mean_range"] == [0.0, 0.0] and info["std_range"] == [0.01, 3.0]
    matrices = draw_tcl(mixing_stream(6), options).matrices
    s = sources(options, standardize=True)
    np.testing.assert_array_equal(data.train.x.numpy(), mix_nonlinearity_first(s, matrices, 0.2).astype(np.float32))
    assert not np.allclose(data.train.x.numpy(), mix(s, matrices, 0.2), atol=1e-3)  # the order matters


def test_tcl_with_two_layers_is_one_matrix_after_a_leaky_relu_of_the_sources():
    data = generate_tcl(TCLOptions(**SMALL, mixing="tcl", mixing_layers=2))
    w = draw_tcl(mixing_stream(0), TCLOptions(**SMALL, mixing="tcl", mixing_layers=2)).matrices
    assert len(w) == 1
    x, s = data.train.x.numpy().astype(np.float64), data.train.s.numpy().astype(np.float64)
    np.testing.assert_allclose(x @ w[0], leaky_relu(s, 0.2), atol=1e-5)  # W orthogonal: x Wᵀ⁻¹ = x W


def test_tcl_standardises_each_splits_noise_as_icebeem():
    data = generate_tcl(TCLOptions(**SMALL, mixing="tcl"))
    means, stds = np.array(data.info["segment_means"]), np.array(data.info["segment_stds"])
    for split in (data.train, data.eval):
        s, u = split.s.numpy().astype(np.float64), split.u.numpy()
        noise = (s - means[u]) / stds[u]
        np.testing.assert_allclose(noise.mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(noise.std(0), 1.0, atol=1e-5)


def test_one_layer_is_refused_where_it_would_leave_the_sources_unmixed():
    with pytest.raises(ValidationError) as caught:
        TCLOptions(mixing="tcl", mixing_layers=1)
    assert [e["loc"] for e in caught.value.errors()] == [("mixing_layers",)]
    assert "at least 2" in str(caught.value)


def test_ivae_at_one_layer_is_the_linear_mixing_by_its_matrix():
    data = generate_tcl(
        TCLOptions(mixing="ivae", mixing_layers=1, segments=3, samples_per_segment=10, dim=3, condition_draws=50)
    )
    s, x = data.train.s.numpy().astype(np.float64), data.train.x.numpy().astype(np.float64)
    a, *_ = np.linalg.lstsq(s, x, rcond=None)
    np.testing.assert_allclose(s @ a, x, atol=1e-4)  # linear: no LeakyReLU after the only layer
    assert data.info["mixing_matrices"] == 1


# ------------------------------------------------------------------------------------------- every recipe
RECIPE_CASES = [
    {"mixing": "paper"},
    {"mixing": "ivae", "condition_draws": 300},
    {"mixing": "tcl"},
    {"mixing": "exact"},
    {"mixing": "original", "condition_draws": 300},
]


@pytest.mark.parametrize("extra", RECIPE_CASES, ids=lambda e: e["mixing"])
def test_each_recipe_is_deterministic_and_moves_with_the_seed(extra):
    a, b = generate_tcl(TCLOptions(**SMALL, **extra)), generate_tcl(TCLOptions(**SMALL, **extra))
    assert same_data(a, b) and a.info == b.info
    c = generate_tcl(TCLOptions(**SMALL, **extra, data_seed=1))
    assert not torch.equal(a.train.x, c.train.x) and not torch.equal(a.train.s, c.train.s)
    d = generate_tcl(TCLOptions(**{**SMALL, **extra, "eval_samples_per_segment": 9}))
    assert all(torch.equal(getattr(a.train, f), getattr(d.train, f)) for f in ("x", "u", "s"))


@pytest.mark.parametrize("extra", RECIPE_CASES, ids=lambda e: e["mixing"])
def test_info_records_what_each_recipe_used(extra):
    options = TCLOptions(**SMALL, **extra)
    info = generate_tcl(options).info
    recipe = RECIPES[extra["mixing"]]
    assert info["recipe"] == info["mixing"] == extra["mixing"] and info["recipe_source"] == recipe.source
    assert info["negative_slope"] == recipe.negative_slope and info["overrides"] == {}
    assert info["mean_range"] == list(recipe.mean_range) and info["std_range"] == list(recipe.std_range)
    assert len(info["condition_numbers"]) == info["mixing_matrices"] >= info["distinct_matrices"] >= 1
    assert info["options"]["negative_slope"] is None  # unset: the recipe's own


@pytest.mark.parametrize("extra", RECIPE_CASES, ids=lambda e: e["mixing"])
def test_the_memory_estimate_covers_each_recipe(extra):
    options = TCLOptions(segments=5, samples_per_segment=2000, dim=6, **extra)
    assert options.estimated_bytes() >= peak_bytes(lambda: generate_tcl(options))


# ------------------------------------------------------------------------------------------- options
def test_an_explicit_slope_overrides_the_recipe_and_is_recorded():
    options = TCLOptions(**SMALL, mixing="tcl", negative_slope=0.5)
    info = generate_tcl(options).info
    assert info["negative_slope"] == 0.5 and info["overrides"] == {"negative_slope": 0.5}
    assert (
        spec_json(
            load_spec({"data": {"name": "tcl", "mixing": "tcl", "negative_slope": 0.5}, "model": {"name": "ivae"}})
        )["data"]["negative_slope"]
        == 0.5
    )
    same = generate_tcl(TCLOptions(**SMALL, mixing="ivae", negative_slope=0.1, condition_draws=100)).info
    assert same["overrides"] == {}  # the recipe's own value, spelled out


def test_an_unset_recipe_option_is_written_as_null():
    data = spec_json(load_spec({"data": {"name": "tcl", "mixing": "ivae"}, "model": {"name": "ivae"}}))["data"]
    assert data["negative_slope"] is None and data["mean_range"] is None and data["std_range"] is None


def test_a_grid_over_recipes_gives_each_cell_its_own_recipes_values():
    spec = load_spec(
        {"data": {"name": "tcl"}, "model": {"name": "ivae"}, "grid": {"data.mixing": ["paper", "ivae", "tcl"]}}
    )
    slopes = {cell.spec.data.mixing: (cell.spec.data.slope, cell.spec.data.means) for cell in grid_cells(spec)}
    assert slopes == {"paper": (0.2, (-3.0, 3.0)), "ivae": (0.1, (0.0, 0.0)), "tcl": (0.2, (0.0, 0.0))}


def test_a_point_range_makes_every_mean_that_value():
    data = generate_tcl(TCLOptions(**SMALL, mean_range=(1.5, 1.5)))
    assert np.array(data.info["segment_means"]).tolist() == [[1.5] * 3] * 3


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"mixing": "paper", "max_condition": 2.0}, "max_condition"),
        ({"mixing": "ivae", "max_condition": 2.0}, "max_condition"),
        ({"mixing": "tcl", "max_condition": 2.0}, "max_condition"),
        ({"mixing": "paper", "condition_draws": 100}, "condition_draws"),
        ({"mixing": "tcl", "condition_percentile": 10.0}, "condition_percentile"),
        ({"mean_range": (2.0, 1.0)}, "mean_range"),
        ({"std_range": (1.0, 1.0)}, "std_range"),
        ({"mixing": "ivae", "std_range": (0.0, 1.0)}, "std_range"),
    ],
)
def test_options_a_recipe_cannot_use_are_refused_by_name(bad, field):
    with pytest.raises(ValidationError) as caught:
        TCLOptions(**bad)
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_thresholded_recipes_take_the_threshold_options():
    assert TCLOptions(mixing="ivae", condition_draws=100, condition_percentile=10.0).threshold_draws == 100
    assert TCLOptions(mixing="original", condition_draws=100).threshold_draws == 100


# ------------------------------------------------------------------------------------------- old run directories
OLD_DATA = {  # a tcl section as ica wrote it into spec.json before the named recipes: every value spelled out
    "standardize": False,
    "shuffle_u": False,
    "segments": 3,
    "samples_per_segment": 7,
    "eval_samples_per_segment": 4,
    "dim": 3,
    "mixing_layers": 3,
    "negative_slope": 0.2,
    "mixing": "original",
    "max_condition": None,
    "condition_draws": 200,
    "condition_percentile": None,
    "mean_range": [-3.0, 3.0],
    "std_range": [0.01, 3.0],
    "data_seed": 11,
    "name": "tcl",
}
REST = {
    "models": {"ivae": {"name": "ivae"}},
    "seeds": 1,
    "training": {"steps": 2, "batch_size": 7, "log_every": 2, "checkpoint_every": 2, "compile": False},
}


def old_run_directory(tmp_path):
    """A run directory whose spec.json was written before this change (its data section by hand)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    body = spec_json(load_spec({"data": {"name": "tcl"}, **REST}))
    body["data"] = dict(OLD_DATA)
    (tmp_path / "spec.json").write_text(json.dumps({**body, "spec_hash": json_digest(body)}))
    return tmp_path, body


def test_an_old_run_directory_resumes_from_its_spec_json_with_bit_identical_data(tmp_path):
    root, _ = old_run_directory(tmp_path)
    stored = json.loads((root / "spec.json").read_text())
    recorded = stored.pop("spec_hash")
    spec = load_spec(stored)
    assert spec_hash(spec) == recorded and spec_json(spec)["data"] == OLD_DATA
    check_directory(RunLayout(root), spec)  # refused if the spec were another's
    assert digest(generate_tcl(spec.data)) == BEFORE["original"][1]


@pytest.mark.slow
def test_an_old_run_directory_trains_on_when_run_again(tmp_path):
    root, body = old_run_directory(tmp_path / "run")
    summary = ica.run(body, root)
    assert summary["cells"]["ivae"]["seeds"]["0"]


@pytest.mark.parametrize("mixing", ["original", "exact"])
def test_an_old_run_directory_resumes_from_a_spec_file_naming_its_recipe(tmp_path, mixing):
    root, body = old_run_directory(tmp_path)
    if mixing == "exact":
        body["data"].update(mixing="exact", condition_draws=None)
        (root / "spec.json").write_text(json.dumps({**body, "spec_hash": json_digest(body)}))
    data = {k: v for k, v in OLD_DATA.items() if k not in ("negative_slope", "mean_range", "std_range")}
    data.update(mixing=mixing, condition_draws=200 if mixing == "original" else None)
    check_directory(RunLayout(root), load_spec({**body, "data": data}))


def test_a_newer_recipe_with_its_own_slope_never_matches_a_directory_written_with_0_2(tmp_path):
    """The earlier defaults hold only for the recipes that existed then: an 'ivae' run made with an explicit
    slope of 0.2 is another spec than one leaving the slope to the recipe (0.1)."""
    root, body = old_run_directory(tmp_path)
    body["data"].update(mixing="ivae", mixing_layers=2)
    (root / "spec.json").write_text(json.dumps({**body, "spec_hash": json_digest(body)}))
    data = {**body["data"], "negative_slope": None}
    with pytest.raises(IcaError, match="different spec"):
        check_directory(RunLayout(root), load_spec({**body, "data": data}))


@pytest.mark.slow
def test_a_run_records_its_recipe_and_every_layers_condition_number(tmp_path):
    spec = {
        "data": {
            "name": "tcl",
            "segments": 3,
            "samples_per_segment": 20,
            "eval_samples_per_segment": 10,
            "dim": 2,
            "mixing_layers": 3,
            "mixing": "ivae",
            "condition_draws": 50,
        },
        "models": {"fastica": {"name": "fastica"}},
        "seeds": 1,
        "evaluation": {"controls": []},
    }
    summary = ica.run(spec, tmp_path / "run")
    generated = json.loads((tmp_path / "run" / "summary.json").read_text())["data"]["generated"]
    assert summary["data"]["generated"] == generated
    assert generated["recipe"] == "ivae" and generated["negative_slope"] == 0.1
    assert len(generated["condition_numbers"]) == 3 and generated["distinct_matrices"] == 1
    assert "options" not in generated
