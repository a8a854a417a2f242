"""`sprites`: rendered images of known sources in TCL's segments. Shapes, pixel levels and binarisation of both
variants; the draws (deterministic, segment-major, the training split untouched by the evaluation size); the
sources in their factors' ranges as a monotone map of the segment latents; the renderer's map from sources to
images (injective on a sample, every source moves the image, the triangle has no rotational symmetry); ``ica
validate`` on image models; bad options refused naming the field; the example grid.

Thresholds below were measured with the defaults (levels 256) on 200-500 random sources uniform on the factors'
ranges (rng seeds as in the tests) and are set at about half the smallest value measured:

* distinct sources: the smallest L2 pixel distance between the images of 500 random source vectors was 0.219
  (28x28x1, dim 3), 1.12 (28x28x1, dim 8), 0.320 (32x32x3, dim 3) and 2.41 (32x32x3, dim 8);
* close sources: 500 pairs 1% of every range apart in a random direction were at least 0.031 (28x28x1, dim 8:
  0.042) and 0.048 (32x32x3, dim 8: 0.114) apart;
* one source stepped by 1% of its range: the smallest change over 200 images was 0.008 (the background,
  28x28x1 dim 6; with 8 sources 0.011), 0.014 (brightness) and 0.018 (scale); position 0.08-0.24;
* the triangle turned by a half, third, quarter, fifth or sixth of a turn: at least 1.87 (28x28x1) and 2.68
  (32x32x3) from itself; by 2 degrees: 0.245 and 0.302.
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from typer.testing import CliRunner

import ica
from conftest import made_and_peak
from ica.cli.app import app
from ica.errors import SpecError
from ica.plugins.datasets import sprites_render
from ica.plugins.datasets.sprites import SpritesOptions, example_grid, factor_ranges, generate_sprites, images
from ica.spec.load import load_spec

VARIANTS = {"28x28x1": (1, 28, 28), "32x32x3": (3, 32, 32)}
SMALL = {"segments": 3, "samples_per_segment": 20, "eval_samples_per_segment": 5}


def small(**more) -> SpritesOptions:
    return SpritesOptions(**{**SMALL, **more})


def uniform_sources(options: SpritesOptions, n: int, seed: int) -> np.ndarray:
    low, high = factor_ranges(options)
    return np.random.default_rng(seed).uniform(low, high, size=(n, options.dim))


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def changes(options: SpritesOptions, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L2 pixel distance between the images of the rows of ``a`` and those of ``b``."""
    return np.linalg.norm(flat(images(a, options)) - flat(images(b, options)), axis=1)


# ------------------------------------------------------------------------------------------ the splits
@pytest.mark.parametrize("image", VARIANTS)
def test_both_variants_give_float32_images_of_8_bit_levels_in_the_unit_interval(image):
    data = generate_sprites(small(image=image, dim=8))
    for split, n in ((data.train, 60), (data.eval, 15)):
        assert split.x.shape == (n, *VARIANTS[image]) and split.x.dtype == torch.float32
        assert split.x.min() >= 0 and split.x.max() <= 1 and split.x.std() > 0.05
        levels = split.x * 255
        assert torch.equal(levels, levels.round())  # k/255, as the discretised logistic expects
        assert split.s.shape == (n, 8) and split.s.dtype == torch.float32
    assert data.x_shape == VARIANTS[image] and data.source_dim == 8
    assert data.info["pixels"] == "k/255 in [0, 1]" and data.info["x_shape"] == list(VARIANTS[image])


def test_levels_quantise_and_null_keeps_the_continuous_rendering():
    coarse = generate_sprites(small(levels=4)).train.x
    assert torch.equal(torch.unique(coarse * 3), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    continuous = generate_sprites(small(levels=None)).train.x
    assert not torch.equal(continuous * 255, (continuous * 255).round())
    assert torch.allclose(continuous, generate_sprites(small()).train.x, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("mode", ["threshold", "sample"])
def test_binarised_pixels_are_zero_or_one_and_the_same_on_every_build(mode):
    first = generate_sprites(small(binarize=mode, binarize_seed=3, dim=4))
    assert set(torch.unique(first.train.x).tolist()) == {0.0, 1.0}
    assert torch.equal(first.train.x, generate_sprites(small(binarize=mode, binarize_seed=3, dim=4)).train.x)
    assert first.info["binarize"] == mode and first.info["binarize_seed"] == (3 if mode == "sample" else None)


def test_u_is_the_segment_segment_major_with_n_u_segments():
    data = generate_sprites(small(segments=4))
    assert data.n_u == 4 and data.train.u.dtype == torch.int64
    assert torch.equal(data.train.u, torch.arange(4).repeat_interleave(20))
    assert torch.equal(data.eval.u, torch.arange(4).repeat_interleave(5))


def test_the_same_options_give_the_same_data_and_another_seed_other_data():
    a, b = generate_sprites(small(dim=8)), generate_sprites(small(dim=8))
    for x, y in ((a.train, b.train), (a.eval, b.eval)):
        assert torch.equal(x.x, y.x) and torch.equal(x.s, y.s) and torch.equal(x.u, y.u)
    assert a.info == b.info
    assert not torch.equal(a.train.s, generate_sprites(small(dim=8, data_seed=1)).train.s)


def test_the_evaluation_size_leaves_the_training_data_bit_identical():
    a = generate_sprites(small(eval_samples_per_segment=5))
    b = generate_sprites(small(eval_samples_per_segment=50))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.s, b.train.s)
    assert not torch.equal(a.eval.s, b.eval.s[:15])
    more = generate_sprites(small(samples_per_segment=40))
    assert more.info["segment_means"] == a.info["segment_means"]
    assert more.info["segment_stds"] == a.info["segment_stds"]


@pytest.mark.parametrize("image", VARIANTS)
def test_sources_lie_in_their_factor_ranges_as_a_sigmoid_of_the_segment_latents(image):
    options = SpritesOptions(image=image, dim=8, segments=3, samples_per_segment=2000, eval_samples_per_segment=1)
    data = generate_sprites(options)
    low, high = factor_ranges(options)
    s = data.train.s.double().numpy()
    assert (s > low).all() and (s < high).all()
    unit = np.clip((s - low) / (high - low), 1e-7, 1 - 1e-7)
    g = np.log(unit / (1 - unit)).reshape(3, 2000, 8)
    assert np.allclose(g.mean(axis=1), data.info["segment_means"], atol=0.1)
    assert np.allclose(g.std(axis=1), data.info["segment_stds"], atol=0.1)
    names = [f["name"] for f in data.info["factors"]]
    assert names == ["x", "y", "scale", "rotation", "brightness", "background" if image == "28x28x1" else "hue"] + [
        "disc_x",
        "disc_y",
    ]
    assert [f["range"] for f in data.info["factors"]] == [[lo, hi] for lo, hi in zip(low, high)]


def test_factors_beyond_dim_are_fixed_and_recorded():
    data = generate_sprites(small(dim=3))
    assert data.info["fixed_factors"] == {
        "rotation": 0.0,
        "brightness": 1.0,
        "background": 0.0,
        "disc_x": 0.5,
        "disc_y": 0.5,
    }
    assert data.info["disc"] is False and generate_sprites(small(dim=7)).info["disc"] is True


# --------------------------------------------------------------------------------------- the renderer
@pytest.mark.parametrize(
    "image, dim, floor", [("28x28x1", 3, 0.1), ("28x28x1", 8, 0.5), ("32x32x3", 3, 0.15), ("32x32x3", 8, 1.2)]
)
def test_distinct_sources_give_distinct_images(image, dim, floor):
    options = SpritesOptions(image=image, dim=dim)
    s = uniform_sources(options, 500, seed=1)
    assert len(np.unique(s, axis=0)) == 500
    assert pdist(flat(images(s, options))).min() > floor


@pytest.mark.parametrize("image, floor", [("28x28x1", 0.015), ("32x32x3", 0.025)])
def test_sources_one_percent_apart_give_distinct_images(image, floor):
    options = SpritesOptions(image=image, dim=8)
    s = uniform_sources(options, 500, seed=3)
    direction = np.random.default_rng(4).standard_normal(s.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    low, high = factor_ranges(options)
    assert changes(options, s, s + 0.01 * (high - low) * direction).min() > floor


def moved_by_each_source(options: SpritesOptions, step: float = 0.01) -> np.ndarray:
    """For each source, the smallest image change over 200 random images when it alone moves ``step`` of its range."""
    s = uniform_sources(options, 200, seed=2)
    low, high = factor_ranges(options)
    smallest = []
    for j in range(options.dim):
        moved = s.copy()
        moved[:, j] += step * (high[j] - low[j])
        smallest.append(changes(options, s, moved).min())
    return np.array(smallest)


@pytest.mark.parametrize("image, dim", [("28x28x1", 6), ("28x28x1", 8), ("32x32x3", 8)])
def test_a_step_of_one_percent_of_any_source_alone_changes_the_image(image, dim):
    smallest = moved_by_each_source(SpritesOptions(image=image, dim=dim))
    assert (smallest > 0.004).all(), smallest


@pytest.mark.parametrize("image", VARIANTS)
def test_the_step_test_fails_for_a_renderer_that_ignores_any_one_factor(image, monkeypatch):
    options = SpritesOptions(image=image, dim=8)
    full = sprites_render.full_factors
    for frozen in range(8):

        def ignoring(sources, variant, j=frozen):
            out = full(sources, variant)
            out[:, j] = sprites_render.FACTORS[variant][j].middle
            return out

        monkeypatch.setattr("ica.plugins.datasets.sprites.full_factors", ignoring)
        smallest = moved_by_each_source(options)
        assert smallest[frozen] == 0 and (np.delete(smallest, frozen) > 0).all(), (frozen, smallest)
    monkeypatch.setattr("ica.plugins.datasets.sprites.full_factors", full)
    assert (moved_by_each_source(options) > 0).all()


@pytest.mark.parametrize("image, floor", [("28x28x1", 1.0), ("32x32x3", 1.3)])
def test_the_triangle_has_no_rotational_symmetry_and_small_turns_show(image, floor):
    options = SpritesOptions(image=image, dim=4)
    s = uniform_sources(options, 200, seed=4)
    for n in (2, 3, 4, 5, 6):
        turned = s.copy()
        turned[:, 3] += 2 * np.pi / n
        assert changes(options, s, turned).min() > floor, n
    turned = s.copy()
    turned[:, 3] += np.pi / 90  # 2 degrees
    assert changes(options, s, turned).min() > 0.1


def test_pixels_outside_the_shapes_are_the_background():
    options = SpritesOptions(dim=6)
    s = np.array([[0.5, 0.5, 0.14, 0.0, 1.0, 0.2]])
    x = images(s, options)[0, 0]
    assert x[0, 0] == x[-1, -1] == np.float32(round(0.2 * 255) / 255)
    assert x[14, 14] == 1.0  # the triangle's centroid, fully covered


# ----------------------------------------------------------------------------------- specs and options
def image_spec(image: str, encoder: str, likelihood: str) -> dict:
    net = {"name": encoder, **({"hidden": [16]} if encoder == "mlp" else {})}
    return {
        "data": {"name": "sprites", "image": image, **SMALL},
        "models": {
            "ivae": {
                "name": "ivae",
                "latent_dim": 5,
                "encoder": net,
                "decoder": net,
                "likelihood": {"name": likelihood},
            }
        },
        "training": {"steps": 2, "batch_size": 8},
        "seeds": 1,
        "device": "cpu",
    }


@pytest.mark.parametrize("image", VARIANTS)
@pytest.mark.parametrize("encoder", ["mlp", "convnet"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic"])
def test_ica_validate_accepts_ivae_image_models_on_sprites(image, encoder, likelihood):
    checked = ica.check(image_spec(image, encoder, likelihood))
    assert checked["data"]["x_shape"] == VARIANTS[image] and checked["data"]["sources"] == 5
    assert checked["data"]["n_u"] == 3


def test_the_cli_validates_a_sprites_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(image_spec("32x32x3", "convnet", "logistic")))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"dim": 2}, "dim"),
        ({"dim": 9}, "dim"),
        ({"image": "64x64x3"}, "image"),
        ({"segments": 1}, "segments"),
        ({"levels": 1}, "levels"),
        ({"std_range": [0.0, 1.0]}, "std_range"),
        ({"mean_range": [1.0, -1.0]}, "mean_range"),
        ({"binarize": "threshold"}, "dim"),  # the default 5 sources: brightness and background would vanish
    ],
)
def test_bad_options_are_refused_naming_the_field(bad, field):
    with pytest.raises(SpecError) as caught:
        load_spec({"data": {"name": "sprites", **bad}, "models": {"m": {"name": "ivae"}}})
    assert f"data.{field}:" in str(caught.value), caught.value


def test_infinite_ranges_are_refused_in_python_too():
    with pytest.raises(ValueError, match="finite"):
        SpritesOptions(mean_range=(0.0, float("inf")))


def test_the_memory_estimate_covers_the_build_and_grows_with_the_sizes():
    for options in (small(dim=8, samples_per_segment=400), small(image="32x32x3", samples_per_segment=400)):
        data, peak = made_and_peak(partial(generate_sprites, options))
        built = sum(t.numel() * t.element_size() for sp in (data.train, data.eval) for t in (sp.x, sp.u, sp.s))
        assert options.estimated_bytes() >= max(peak, built)
    huge = SpritesOptions(samples_per_segment=10**9)
    assert huge.estimated_bytes() >= 20 * 10**9 * 784 * 4
    assert SpritesOptions(binarize="sample").estimated_bytes() > SpritesOptions().estimated_bytes()


# ------------------------------------------------------------------------------------------ the grid
@pytest.mark.parametrize("image", VARIANTS)
def test_the_example_grid_varies_one_source_per_row(image):
    grid = example_grid({"name": "sprites", "image": image, "dim": 8}, steps=5)
    assert grid.shape == (8, 5, *VARIANTS[image]) and grid.dtype == np.float32
    middles = grid[:, 2].reshape(8, -1)
    assert np.array_equal(middles, np.broadcast_to(middles[0], middles.shape))  # every row passes the middle
    for row in grid:
        assert np.abs(np.diff(row.reshape(5, -1), axis=0)).max(axis=1).min() > 0  # each step changes the image
    with pytest.raises(ValueError, match="steps"):
        example_grid(SpritesOptions(), steps=1)
