"""Grids: expansion into named cells, validation of every cell, running and resuming, --dry-run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.spec.grid import grid_cells


def grid_spec(tiny_spec, grid):
    return ica.load_spec({**tiny_spec, "grid": grid})


def test_cells_are_the_product_of_the_axes_in_order(tiny_spec):
    cells = grid_cells(grid_spec(tiny_spec, {"data.samples_per_segment": [40, 80], "models.*.latent_dim": [2, 3]}))
    assert [c.name for c in cells] == [
        "samples_per_segment=40 latent_dim=2",
        "samples_per_segment=40 latent_dim=3",
        "samples_per_segment=80 latent_dim=2",
        "samples_per_segment=80 latent_dim=3",
    ]
    assert cells[0].directory == "samples_per_segment-40_latent_dim-2"
    last = cells[-1].spec
    assert last.data.samples_per_segment == 80
    assert last.models["ivae"].latent_dim == 3 and last.models["vade"].latent_dim == 3  # '*': every model
    assert last.grid is None and last.name == "tiny samples_per_segment=80 latent_dim=3"


def test_whole_components_can_be_grid_values(tiny_spec):
    cells = grid_cells(
        grid_spec(
            tiny_spec, {"models.vade.prior": [{"name": "gmm", "components": 5}, {"name": "rademacher", "bits": 2}]}
        )
    )
    assert [c.name for c in cells] == ["prior=gmm", "prior=rademacher"]
    assert cells[1].spec.models["vade"].prior.name == "rademacher"


def test_axes_with_the_same_last_name_get_longer_labels(tiny_spec):
    cells = grid_cells(grid_spec(tiny_spec, {"models.ivae.latent_dim": [2], "models.vade.latent_dim": [3]}))
    assert cells[0].name == "ivae.latent_dim=2 vade.latent_dim=3"


@pytest.mark.parametrize(
    "grid, fragments",
    [
        ({"data.samples_per_segment": [40, -1]}, ["grid cell 'samples_per_segment=-1'", "data.samples_per_segment"]),
        ({"models.nope.latent_dim": [2]}, ["'models.nope' is not a section"]),
        ({"data.samples_per_segment": []}, ["has no values"]),
        ({"colour": [1]}, ["not a dotted path"]),
    ],
)
def test_bad_grids_name_the_axis_or_cell(tiny_spec, grid, fragments):
    with pytest.raises(ica.SpecError) as info:
        grid_cells(grid_spec(tiny_spec, grid))
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.slow
def test_a_grid_runs_every_cell_into_its_directory_and_resumes(tiny_spec, tmp_path):
    spec = {
        **tiny_spec,
        "models": {"ivae": tiny_spec["models"]["ivae"]},
        "grid": {"data.samples_per_segment": [40, 60]},
    }
    events = []
    summary = ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append(name))
    index = json.loads((tmp_path / "grid.json").read_text())
    assert [c["dir"] for c in index["cells"]] == ["samples_per_segment-40", "samples_per_segment-60"]
    assert index["cells"][1]["settings"] == {"data.samples_per_segment": 60}
    for cell in index["cells"]:
        run = json.loads((tmp_path / cell["dir"] / "summary.json").read_text())
        assert set(run["cells"]["ivae"]["status"].values()) == {"finished"}
    assert summary["runs"]["samples_per_segment=60"]["summary"]["data"]["n_train"] == 4 * 60
    assert events.count("grid_cell") == 2 and events.count("train_start") == 1  # the two cells train packed
    events.clear()
    ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append(name))
    assert "train_start" not in events, "finished cells are not trained again"
    spec["grid"] = {"data.samples_per_segment": [40, 80]}
    with pytest.raises(ica.SpecError, match="different spec"):
        ica.run(spec, out=tmp_path)


def test_dry_run_and_validate_list_every_cell(tiny_spec, tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({**tiny_spec, "grid": {"models.*.latent_dim": [2, 3], "training.epochs": [2]}}))
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "latent_dim=2 epochs=2" in result.output and "latent_dim=3 epochs=2" in result.output
    assert "2 run(s), 8 trained models, 160 seed-steps in all" in result.output  # 2 epochs x 160/16 steps
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "a grid of 2 runs" in result.output
    path.write_text(json.dumps({**tiny_spec, "grid": {"models.vade.prior": [{"name": "gmm"}, {"name": "gmmm"}]}}))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "grid cell 'prior=gmmm'" in result.output and "Traceback" not in result.output


def test_linked_axes_change_options_together(tiny_spec):
    cells = grid_cells(
        grid_spec(
            tiny_spec,
            {
                "data.samples_per_segment, models.vade.prior.components": [[40, 3], [80, 6]],
                "models.*.latent_dim": [2, 3],
            },
        )
    )
    assert len(cells) == 4
    assert cells[2].name == "samples_per_segment=80 components=6 latent_dim=2"
    assert cells[2].spec.models["vade"].prior.components == 6 and cells[2].spec.data.samples_per_segment == 80
    with pytest.raises(ica.SpecError, match="linked axis"):
        grid_cells(grid_spec(tiny_spec, {"data.samples_per_segment, models.vade.prior.components": [[40]]}))
