"""Grid cell names: components of one axis that share a name are told apart by the options that differ;
names unique by component keep exactly their old text and directory; a grid root an older version made
(same-named cells in ``-2`` directories) still resumes."""

from __future__ import annotations

import json

import pytest

import ica
from ica.spec.grid import grid_cells, value_texts, canonical

GAUSSIANS = [{"name": "gaussian", "scale": 0.1}, {"name": "gaussian", "scale": 1.0}]


def cells_of(tiny_spec, grid):
    return grid_cells(ica.load_spec({**tiny_spec, "grid": grid}))


def test_same_named_components_show_the_options_that_differ(tiny_spec):
    cells = cells_of(tiny_spec, {"models.vade.likelihood": GAUSSIANS + [{"name": "bernoulli"}]})
    assert [c.name for c in cells] == [
        "likelihood=gaussian(scale=0.1)",
        "likelihood=gaussian(scale=1.0)",
        "likelihood=bernoulli",
    ]
    assert [c.directory for c in cells] == [
        "likelihood-gaussian-scale=0.1",
        "likelihood-gaussian-scale=1.0",
        "likelihood-bernoulli",
    ]
    assert cells[1].spec.models["vade"].likelihood.scale == 1.0


def test_only_differing_keys_are_shown_nested_dotted_and_sorted(tiny_spec):
    vade = tiny_spec["models"]["vade"]
    small = {**vade, "latent_dim": 2, "prior": {"name": "gmm", "components": 3}}
    large = {**vade, "latent_dim": 3, "prior": {"name": "gmm", "components": 6}}
    cells = cells_of(tiny_spec, {"models.vade": [small, large], "training.lr": [0.01]})
    assert [c.name for c in cells] == [
        "vade=vade(latent_dim=2,prior.components=3) lr=0.01",
        "vade=vade(latent_dim=3,prior.components=6) lr=0.01",
    ]
    assert cells[0].directory == "vade-vade-latent_dim=2,prior.components=3_lr-0.01"


def test_an_option_only_one_value_sets_is_shown_where_it_is_set():
    values = [{"name": "gaussian"}, {"name": "gaussian", "learn_scale": True}, {"name": "gaussian", "scale": 1.0}]
    texts = value_texts(values)
    assert [texts[canonical(v)] for v in values] == ["gaussian", "gaussian(learn_scale=True)", "gaussian(scale=1.0)"]


def test_scalars_that_read_alike_are_shown_as_json():
    texts = value_texts([1, "1", 2])
    assert (texts[canonical(1)], texts[canonical("1")], texts[canonical(2)]) == ("1", '"1"', "2")


def test_a_set_of_models_on_a_linked_axis_is_shown_by_its_labels(tiny_spec):
    vade, data = tiny_spec["models"]["vade"], tiny_spec["data"]
    other = {**data, "data_seed": data.get("data_seed", 0) + 1}
    cells = cells_of(tiny_spec, {"data, models": [[data, {"vade": vade}], [other, {"vade": vade, "ae": vade}]]})
    assert [c.name.split(" ")[-1] for c in cells] == ["models=vade", "models=vade+ae"]
    assert cells[1].directory.endswith("models-vade-ae")
    assert list(cells[1].spec.models) == ["vade", "ae"]


@pytest.mark.parametrize(
    "grid, names, directories",
    [
        (
            {"models.vade.prior": [{"name": "gmm", "components": 5}, {"name": "rademacher", "bits": 2}]},
            ["prior=gmm", "prior=rademacher"],
            ["prior-gmm", "prior-rademacher"],
        ),
        (
            {
                "data.samples_per_segment, models.vade.prior": [
                    [40, {"name": "gmm", "components": 3}],
                    [80, {"name": "gmm", "components": 3}],
                ]
            },
            ["samples_per_segment=40 prior=gmm", "samples_per_segment=80 prior=gmm"],
            ["samples_per_segment-40_prior-gmm", "samples_per_segment-80_prior-gmm"],
        ),
        ({"models.*.latent_dim": [2, 3]}, ["latent_dim=2", "latent_dim=3"], ["latent_dim-2", "latent_dim-3"]),
    ],
)
def test_names_unique_by_component_are_as_before(tiny_spec, grid, names, directories):
    cells = cells_of(tiny_spec, grid)
    assert [c.name for c in cells] == names and [c.directory for c in cells] == directories


def older_grid_root(tiny_spec, root):
    """A finished grid root laid out as versions before distinct names did: both cells named
    'likelihood=gaussian', in 'likelihood-gaussian' and 'likelihood-gaussian-2'."""
    spec = {
        **tiny_spec,
        "models": {"ivae": tiny_spec["models"]["ivae"]},
        "seeds": 1,
        "grid": {"models.ivae.likelihood": GAUSSIANS},
    }
    ica.run(spec, out=root)
    index = json.loads((root / "grid.json").read_text())
    for cell, old in zip(index["cells"], ["likelihood-gaussian", "likelihood-gaussian-2"]):
        (root / cell["dir"]).rename(root / old)
        cell.update(name="likelihood=gaussian", dir=old)
    (root / "grid.json").write_text(json.dumps(index))
    return spec


@pytest.mark.slow
def test_a_grid_root_made_by_an_older_version_resumes_in_its_directories(tiny_spec, tmp_path):
    spec = older_grid_root(tiny_spec, tmp_path)
    events = []
    summary = ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append(name))
    assert "train_start" not in events, "the seeds trained in the old directories are found, not trained again"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["likelihood-gaussian", "likelihood-gaussian-2"]
    assert {name: run["dir"] for name, run in summary["runs"].items()} == {
        "likelihood=gaussian(scale=0.1)": "likelihood-gaussian",
        "likelihood=gaussian(scale=1.0)": "likelihood-gaussian-2",
    }
    index = json.loads((tmp_path / "grid.json").read_text())
    assert [c["name"] for c in index["cells"]] == ["likelihood=gaussian(scale=0.1)", "likelihood=gaussian(scale=1.0)"]
    assert [c["dir"] for c in index["cells"]] == ["likelihood-gaussian", "likelihood-gaussian-2"]


@pytest.mark.slow
def test_a_recorded_directory_two_cells_would_share_is_a_clear_error(tiny_spec, tmp_path):
    spec = older_grid_root(tiny_spec, tmp_path)
    index = json.loads((tmp_path / "grid.json").read_text())
    index["cells"][0]["settings"] = {"models.ivae.likelihood": {"name": "gaussian", "scale": 5.0}}
    index["cells"][0]["dir"] = "likelihood-gaussian-scale=0.1"  # what the first cell is called now
    (tmp_path / "grid.json").write_text(json.dumps(index))
    with pytest.raises(ica.SpecError, match="'likelihood-gaussian-scale=0.1', which grid.json records for another"):
        ica.run(spec, out=tmp_path)
    index["cells"][0]["settings"] = index["cells"][1]["settings"]  # two records of the second cell's settings
    (tmp_path / "grid.json").write_text(json.dumps(index))
    with pytest.raises(ica.SpecError, match="would both run in 'likelihood-gaussian-scale=0.1'"):
        ica.run(spec, out=tmp_path)
