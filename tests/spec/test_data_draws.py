"""Replication over data draws (``data_draws``, `ica.spec.draws`): one more grid axis on ``data.data_seed``,
refused where it cannot mean a new data set, recorded in grid.json, packed across draws, read back per draw,
and shown as "N draws × S seeds" by ``ica validate`` and ``ica run --dry-run``. Specs without draws keep their
spec.json and hash, so their run directories still resume."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.components.registry import registry
from ica.rundir.damage import RunFileError
from ica.rundir.json_files import read_grid
from ica.rundir.layout import RunLayout
from ica.running.building import prepare_data
from ica.running.claims import check_directory, check_grid_directory, claim_grid
from ica.running.validate import plan, plan_packs
from ica.spec.draws import DRAW_AXIS, draw_list, grid_axes
from ica.spec.grid import grid_cells, grid_json, has_grid
from ica.spec.limits import MAX_GRID_CELLS, MAX_SEED
from ica.spec.load import accepted_hashes, spec_hash, spec_json
from ica.reporting.draws import group_draws, without_draw
from ica.reporting.experiment import load_experiment
from ica.reporting.finder import find_runs

OLD_SPEC_JSON = {  # a run's spec.json as ica wrote it before data_draws existed
    "$schema": None,
    "name": "old",
    "data": {
        "standardize": False,
        "shuffle_u": False,
        "segments": 4,
        "samples_per_segment": 40,
        "eval_samples_per_segment": 20,
        "dim": 3,
        "mixing_layers": 4,
        "negative_slope": 0.2,
        "mixing": "original",
        "max_condition": None,
        "condition_draws": None,
        "condition_percentile": None,
        "mean_range": [-3.0, 3.0],
        "std_range": [0.01, 3.0],
        "data_seed": 7,
        "name": "tcl",
    },
    "models": {
        "ivae": {
            "latent_dim": None,
            "encoder": {
                "hidden": [50, 50],
                "activation": "leaky_relu",
                "negative_slope": 0.2,
                "dropout": 0.0,
                "dropout_after": [],
                "name": "mlp",
            },
            "decoder": {
                "hidden": [50, 50],
                "activation": "leaky_relu",
                "negative_slope": 0.2,
                "dropout": 0.0,
                "dropout_after": [],
                "name": "mlp",
            },
            "likelihood": {"scale": 0.1, "learn_scale": False, "name": "gaussian"},
            "prior": {"parameterisation": "table", "hidden": [50], "name": "conditional"},
            "kl": "analytic",
            "name": "ivae",
        }
    },
    "training": {
        "steps": 20,
        "epochs": None,
        "batch_size": 64,
        "lr": 0.001,
        "betas": [0.9, 0.999],
        "scheduler": {"factor": 0.5, "patience": 5, "interval": 1000, "threshold": 0.0001, "min_lr": 1e-06},
        "batch_seeds": "auto",
        "pack_cells": True,
        "compile": "auto",
        "retry_nan": 0,
        "retry_lr_factor": 0.1,
        "identifiability": {"monitor": True, "remedy": "none", "threshold": 1000000.0, "noise": 0.01, "alpha": 0.001},
        "logger": "none",
        "log_every": 100,
        "checkpoint_every": 5000,
        "checkpoint_keep": 2,
    },
    "seeds": 2,
    "evaluation": {"metrics": None, "split": "eval", "controls": ["untrained", "observations"]},
    "device": "cpu",
    "grid": None,
    "spec_hash": "ffc6b15535e697b6",
}
OLD_BODY = {k: v for k, v in OLD_SPEC_JSON.items() if k != "spec_hash"}
OLD_GRID_SPEC = {**OLD_BODY, "grid": {"data.samples_per_segment": [40, 60]}}  # a grid's spec, as ica wrote it
OLD_GRID_HASH = "69f6fb9f7ca5c592"  # its grid.json's spec_hash, as written before data_draws existed


def drawn(tiny_spec, draws, **more):
    return {**tiny_spec, "data_draws": draws, **more}


# ------------------------------------------------------------------------------------ old specs unchanged
def test_an_old_spec_json_keeps_its_hash_and_resumes(tmp_path):
    spec = ica.load_spec(OLD_BODY)
    assert "data_draws" not in spec_json(spec)
    assert spec_json(spec) == OLD_BODY
    assert spec_hash(spec) == OLD_SPEC_JSON["spec_hash"]
    (tmp_path / "spec.json").write_text(json.dumps(OLD_SPEC_JSON))
    check_directory(RunLayout(tmp_path), spec)  # resumable: no "made from a different spec"


def test_an_old_grid_json_keeps_its_hash_and_still_reads(tmp_path):
    spec = ica.load_spec(OLD_GRID_SPEC)
    assert spec_json(spec) == OLD_GRID_SPEC and spec_hash(spec) == OLD_GRID_HASH
    assert not has_grid(ica.load_spec(OLD_BODY))
    cells = grid_cells(spec)
    old = {
        "name": "old",
        "spec_hash": OLD_GRID_HASH,
        "axes": OLD_GRID_SPEC["grid"],
        "cells": [{"name": c.name, "dir": c.directory, "settings": c.settings} for c in cells],
    }
    assert grid_json(spec, cells, OLD_GRID_HASH) == old, "a grid without draws writes grid.json as before"
    (tmp_path / "grid.json").write_text(json.dumps(old))
    check_grid_directory(tmp_path, accepted_hashes(spec))
    grid = read_grid(tmp_path)
    assert grid.draw_axis is None and grid.draws is None


def test_draws_are_part_of_the_spec_and_its_hash(tiny_spec):
    plain, with_draws = ica.load_spec(tiny_spec), ica.load_spec(drawn(tiny_spec, 2))
    assert spec_json(with_draws)["data_draws"] == 2
    assert spec_hash(with_draws) != spec_hash(plain)
    assert spec_hash(ica.load_spec(spec_json(with_draws))) == spec_hash(with_draws)


# ------------------------------------------------------------------------------------ expansion
def test_a_count_draws_from_the_data_seed_on_as_cells_of_their_own(tiny_spec):
    spec = ica.load_spec(drawn(tiny_spec, 3))  # tiny_spec's data_seed is 7
    assert has_grid(spec) and draw_list(spec) == [7, 8, 9]
    cells = grid_cells(spec)
    assert [c.name for c in cells] == ["data_seed=7", "data_seed=8", "data_seed=9"]
    assert [c.directory for c in cells] == ["data_seed-7", "data_seed-8", "data_seed-9"]
    assert [c.settings for c in cells] == [{DRAW_AXIS: 7}, {DRAW_AXIS: 8}, {DRAW_AXIS: 9}]
    for cell, seed in zip(cells, (7, 8, 9)):
        assert cell.spec.data.data_seed == seed and cell.spec.seed_list == [0, 1]
        assert cell.spec.data_draws is None and cell.spec.grid is None and "data_draws" not in spec_json(cell.spec)
    del tiny_spec["data"]["data_seed"]
    assert draw_list(ica.load_spec(drawn(tiny_spec, 2))) == [0, 1]


def test_a_list_names_the_data_seeds_and_the_draws_are_the_innermost_axis(tiny_spec):
    spec = ica.load_spec(drawn(tiny_spec, [11, 3], grid={"models.*.latent_dim": [2, 3]}))
    assert grid_axes(spec) == {"models.*.latent_dim": [2, 3], DRAW_AXIS: [11, 3]}
    assert [c.name for c in grid_cells(spec)] == [
        "latent_dim=2 data_seed=11",
        "latent_dim=2 data_seed=3",
        "latent_dim=3 data_seed=11",
        "latent_dim=3 data_seed=3",
    ]
    assert grid_cells(spec)[1].directory == "latent_dim-2_data_seed-3"


def test_each_draw_is_another_data_set(tiny_spec):
    reg = registry()
    first, second = (prepare_data(c.spec, reg) for c in grid_cells(ica.load_spec(drawn(tiny_spec, 2))))
    assert first.train.x.shape == second.train.x.shape
    assert not (first.train.x == second.train.x).all()


def test_a_data_axis_may_change_the_data_set_under_the_draws(tiny_spec):
    other = {**tiny_spec["data"], "dim": 2}
    del other["data_seed"]
    cells = grid_cells(ica.load_spec(drawn(tiny_spec, 2, grid={"data": [other]})))
    assert [(c.spec.data.dim, c.spec.data.data_seed) for c in cells] == [(2, 7), (2, 8)]


# ------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "draws, fragment",
    [
        (0, "at least 1"),
        (-2, "at least 1"),
        (MAX_GRID_CELLS + 1, "at most 1,000"),
        (10**12, "data draws; at most"),
        ([], "empty"),
        ([3, 4, 3], "data_draws[2]: repeats the data seed 3"),
        ([1, -1], "data_draws[1]: a data seed must be non-negative"),
        ([MAX_SEED + 1], "data_draws[0]: a data seed is at most"),
        ([0] * (MAX_GRID_CELLS + 1), "at most 1,000"),
        (True, "data_draws"),
        ("2", "data_draws"),
    ],
)
def test_bad_draws_are_refused_naming_the_field(tiny_spec, draws, fragment):
    with pytest.raises(ica.SpecError) as info:
        ica.load_spec(drawn(tiny_spec, draws))
    assert fragment in str(info.value) and "data_draws" in str(info.value)


def test_the_last_data_seed_must_stay_a_seed(tiny_spec):
    tiny_spec["data"]["data_seed"] = MAX_SEED
    assert draw_list(ica.load_spec(drawn(tiny_spec, 1))) == [MAX_SEED]
    with pytest.raises(ica.SpecError, match="data_draws: the last draw's data seed"):
        ica.load_spec(drawn(tiny_spec, 2))


@pytest.mark.parametrize(
    "grid", [{"data.data_seed": [1, 2]}, {"data.*": [{}]}, {"models.*.latent_dim, data.data_seed": [[2, 1]]}]
)
def test_a_grid_axis_that_sets_the_data_seed_is_refused(tiny_spec, grid):
    with pytest.raises(ica.SpecError, match=r"data_draws: the grid axis .* sets data.data_seed"):
        ica.load_spec(drawn(tiny_spec, 2, grid=grid))
    assert ica.load_spec({**tiny_spec, "grid": grid}).grid == grid  # without draws, the axis is the grid's own


@pytest.mark.parametrize("data", [{"name": "mnist"}, {"name": "digits"}])
def test_a_data_set_without_a_data_seed_is_refused(tiny_spec, data):
    with pytest.raises(ica.SpecError, match=f"data_draws: the data set '{data['name']}' has no data_seed option"):
        ica.load_spec(drawn(tiny_spec, 2, data=data))


def test_a_grid_that_swaps_in_data_without_a_data_seed_is_refused(tiny_spec):
    spec = ica.load_spec(drawn(tiny_spec, 2, grid={"data": [tiny_spec["data"] | {"data_seed": 0}]}))
    with pytest.raises(ica.SpecError, match="its data sets data_seed, which data_draws sets") as info:
        grid_cells(spec)
    assert info.value.where == "data_draws"
    spec = ica.load_spec(drawn(tiny_spec, 2, grid={"data": [{"name": "digits"}]}))
    with pytest.raises(ica.SpecError, match="'data=digits data_seed=7'.*'digits' has no data_seed") as info:
        grid_cells(spec)
    assert info.value.where == "data_draws"


def test_draws_may_not_take_a_grid_past_its_cells(tiny_spec):
    grid = {"models.*.latent_dim": list(range(1, 101))}
    ica.load_spec(drawn(tiny_spec, 10, grid=grid))
    with pytest.raises(ica.SpecError, match="data_draws: 1,100 cells with the draws; a grid has at most 1,000"):
        ica.load_spec(drawn(tiny_spec, 11, grid=grid))


def test_the_cli_refuses_bad_draws_with_exit_code_2(tiny_spec, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(drawn(tiny_spec, [1, 1])))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "data_draws[1]" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------------------ grid.json, packing, plan
def test_grid_json_records_the_draw_axis_and_the_draws(tiny_spec, tmp_path):
    spec = ica.load_spec(drawn(tiny_spec, [5, 2], grid={"data.samples_per_segment": [40, 60]}))
    record = grid_json(spec, grid_cells(spec), "x")
    assert record["axes"] == {"data.samples_per_segment": [40, 60], DRAW_AXIS: [5, 2]}
    assert record["draw_axis"] == DRAW_AXIS and record["draws"] == [5, 2]
    claim_grid(spec, tmp_path, registry())
    grid = read_grid(tmp_path)
    data = grid.plain()
    assert grid.draw_axis == DRAW_AXIS and grid.draws == [5, 2]
    data["cells"][1]["settings"].pop(DRAW_AXIS)
    (tmp_path / "grid.json").write_text(json.dumps(data))
    with pytest.raises(RunFileError, match="cells.1.settings: no data seed on the draw axis"):
        read_grid(tmp_path)


def test_the_cells_of_all_draws_pack_into_one_group_per_model(tiny_spec):
    spec = drawn(tiny_spec, 3, grid={"models.*.latent_dim": [2]})
    packs = plan_packs(spec)
    assert [p["model"] for p in packs] == ["ivae", "vade"]
    for pack in packs:
        assert pack["cells"] == ["latent_dim=2 data_seed=7", "latent_dim=2 data_seed=8", "latent_dim=2 data_seed=9"]
        assert pack["seeds"] == 6
    assert [row["cell"] for row in plan(spec)] == packs[0]["cells"]


def test_validate_and_dry_run_say_draws_times_seeds(tiny_spec, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(drawn(tiny_spec, 2, seeds=3)))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "a grid of 2 runs, 2 draws × 3 seeds per setting (data seeds [7, 8])" in result.output
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 run(s), 2 draws × 3 seeds per setting (data seeds [7, 8]), 12 trained models" in result.output
    path.write_text(json.dumps(tiny_spec))
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0 and "draws" not in result.output


# ------------------------------------------------------------------------------------ reading back
def test_pending_cells_read_back_with_their_draws(tiny_spec, tmp_path):
    claim_grid(ica.load_spec(drawn(tiny_spec, [4, 9], grid={"models.*.latent_dim": [2, 3]})), tmp_path, registry())
    records = find_runs(tmp_path)
    assert [(r.draw_axis, r.draw) for r in records] == [(DRAW_AXIS, 4), (DRAW_AXIS, 9)] * 2
    assert all(r.status == "pending" for r in records)
    groups = group_draws(records, lambda r: (without_draw(r.settings, r.draw_axis), r.draw))
    assert [g.draws for g in groups] == [[4, 9], [4, 9]]
    assert [[r.settings["models.*.latent_dim"] for r in g.items] for g in groups] == [[2, 2], [3, 3]]
    runs = load_experiment(tmp_path).runs
    assert [(r.draw_axis, r.draw, r.settings.get("models.*.latent_dim")) for r in runs] == [
        (DRAW_AXIS, 4, 2),
        (DRAW_AXIS, 9, 2),
        (DRAW_AXIS, 4, 3),
        (DRAW_AXIS, 9, 3),
    ]


def test_the_results_table_does_not_show_the_draw_axis_as_a_setting(tiny_spec, tmp_path):
    from ica.reporting.results import varying_settings

    claim_grid(ica.load_spec(drawn(tiny_spec, 2, grid={"models.*.latent_dim": [2, 3]})), tmp_path / "a", registry())
    assert varying_settings(find_runs(tmp_path / "a")) == ["models.*.latent_dim"]
    claim_grid(ica.load_spec(drawn(tiny_spec, 2)), tmp_path / "b", registry())
    assert varying_settings(find_runs(tmp_path / "b")) == []
    both = find_runs([tmp_path / "a", tmp_path / "b"])
    assert DRAW_AXIS not in varying_settings(both)


def test_grouping_keeps_the_first_seen_order_and_each_members_draw():
    items = [("b", 1), ("a", 1), ("b", 2), ("c", None), ("a", 2)]
    groups = group_draws(items, lambda item: item)
    assert [(g.key, g.items, g.draws) for g in groups] == [
        ("b", [("b", 1), ("b", 2)], [1, 2]),
        ("a", [("a", 1), ("a", 2)], [1, 2]),
        ("c", [("c", None)], [None]),
    ]
    assert group_draws([], lambda item: item) == []


def test_without_draw_drops_only_the_draw_axis():
    one = without_draw({"data.samples_per_segment": 40, DRAW_AXIS: 1}, DRAW_AXIS)
    assert one == without_draw({DRAW_AXIS: 2, "data.samples_per_segment": 40}, DRAW_AXIS)
    assert one != without_draw({"data.samples_per_segment": 60, DRAW_AXIS: 1}, DRAW_AXIS)
    assert without_draw({DRAW_AXIS: 1}, None) != without_draw({DRAW_AXIS: 2}, None)


# ------------------------------------------------------------------------------------ training
@pytest.mark.slow
def test_a_draws_spec_runs_end_to_end_and_resumes(tiny_spec, tmp_path):
    spec = drawn(copy.deepcopy(tiny_spec), 2, models={"ivae": tiny_spec["models"]["ivae"]})
    spec["training"].update(steps=20, compile=False)
    events = []
    summary = ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append((name, info)))
    assert list(summary["runs"]) == ["data_seed=7", "data_seed=8"] and summary["grid"] == {DRAW_AXIS: [7, 8]}
    assert sum(name == "train_start" for name, _ in events) == 1, "the draws train packed"
    records = find_runs(tmp_path)
    assert [(r.status, r.draw) for r in records] == [("finished", 7), ("finished", 8)]
    for record in records:
        assert record.cells[0].counts()["finished"] == 2
        assert json.loads((record.path / "spec.json").read_text())["data"]["data_seed"] == record.draw
    latents = [(r.path / "ivae" / "seeds" / "0" / "latents.npz").read_bytes() for r in records]
    assert latents[0] != latents[1], "each draw trained on its own data"
    events.clear()
    ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append((name, info)))
    assert not any(name == "train_start" for name, _ in events), "finished draws are not trained again"
    assert [(r.path / "ivae" / "seeds" / "0" / "latents.npz").read_bytes() for r in find_runs(tmp_path)] == latents
