"""`shared_data`: equal data specs are built once inside the block, every time outside it; the cache is
bounded (least recently used dropped), nests, and the data a run is handed comes back unchanged."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

import ica
from ica.running.building import SHARED_DATA_SETS, prepare_data, shared_data
from ica.spec.grid import grid_cells
from ica.components.registry import Registry, component_of


@pytest.fixture
def data_builds(monkeypatch) -> list:
    """The data options of every dataset the registry really builds, in order."""
    builds = []
    original = Registry.build

    def counting(self, options, ctx):
        if component_of(options)[0] == "dataset":
            builds.append(options)
        return original(self, options, ctx)

    monkeypatch.setattr(Registry, "build", counting)
    return builds


def spec_with(tiny_spec, **data):
    return ica.load_spec({**tiny_spec, "data": {**tiny_spec["data"], **data}})


def test_equal_data_specs_are_built_once_inside_the_block(tiny_spec, data_builds):
    reg = ica.registry()
    first = spec_with(tiny_spec)
    other_models = ica.load_spec({**tiny_spec, "models": {"ivae": {**tiny_spec["models"]["ivae"], "latent_dim": 2}}})
    with shared_data():
        a = prepare_data(first, reg)
        b = prepare_data(other_models, reg)  # a separately validated spec, models differ, data equal
    assert len(data_builds) == 1
    assert b is a


def test_different_data_specs_are_built_separately(tiny_spec, data_builds):
    reg = ica.registry()
    raw, bigger, scaled = (
        spec_with(tiny_spec),
        spec_with(tiny_spec, samples_per_segment=60),
        spec_with(tiny_spec, standardize=True),
    )
    with shared_data(keep=3):
        a, b, c = (prepare_data(s, reg) for s in (raw, bigger, scaled))
        assert [prepare_data(s, reg) for s in (raw, bigger, scaled)] == [a, b, c]  # now all kept
    assert [o.samples_per_segment for o in data_builds] == [40, 60, 40]
    assert len(a.train) == 4 * 40 and len(b.train) == 4 * 60
    # standardize is part of the key: the standardised set is not the raw one handed back
    assert c.info.get("standardized") and not a.info.get("standardized")
    assert torch.allclose(c.train.x.mean(0), torch.zeros(3), atol=1e-5)
    assert not torch.allclose(a.train.x.mean(0), torch.zeros(3), atol=1e-2)


def test_outside_the_block_every_call_builds_and_nothing_is_kept(tiny_spec, data_builds):
    reg = ica.registry()
    spec = spec_with(tiny_spec)
    a, b = prepare_data(spec, reg), prepare_data(spec, reg)
    assert len(data_builds) == 2 and a is not b
    with shared_data():
        inside = weakref.ref(prepare_data(spec, reg))
    assert len(data_builds) == 3
    gc.collect()
    assert inside() is None, "leaving the block drops the data it kept"
    prepare_data(spec, reg)
    assert len(data_builds) == 4


def test_the_cache_keeps_only_the_most_recently_used_data_sets(tiny_spec, data_builds):
    reg = ica.registry()
    assert SHARED_DATA_SETS == 2  # the counts below are worked out for 2
    a, b, c = (spec_with(tiny_spec, samples_per_segment=n) for n in (40, 50, 60))
    with shared_data():
        first = weakref.ref(prepare_data(a, reg))  # build a          kept: a
        prepare_data(b, reg)  # build b          kept: a b
        prepare_data(a, reg)  # hit              kept: b a
        prepare_data(c, reg)  # build c, drop b  kept: a c
        assert first() is prepare_data(a, reg)  # hit: a was used more recently than b
        second_b = weakref.ref(prepare_data(b, reg))  # build b, drop c  kept: a b
        assert [o.samples_per_segment for o in data_builds] == [40, 50, 60, 50]
        prepare_data(c, reg)  # build c, drop a  kept: b c
        gc.collect()
        assert first() is None, "a dropped data set is not kept alive"
        assert second_b() is not None
    assert len(data_builds) == 5


def test_a_nested_block_uses_the_outer_cache(tiny_spec, data_builds):
    reg = ica.registry()
    a, b = spec_with(tiny_spec), spec_with(tiny_spec, samples_per_segment=60)
    with shared_data():
        outer = prepare_data(a, reg)
        with shared_data():
            assert prepare_data(a, reg) is outer
            inner = prepare_data(b, reg)
        assert prepare_data(b, reg) is inner, "the inner block's data outlives it inside the outer one"
    assert len(data_builds) == 2


def test_a_failed_build_is_not_kept(tiny_spec, monkeypatch):
    reg = ica.registry()
    spec = spec_with(tiny_spec)
    original, calls = Registry.build, []

    def failing_once(self, options, ctx):
        if component_of(options)[0] != "dataset":  # models are built too (on meta, to check their memory)
            return original(self, options, ctx)
        calls.append(1)
        if len(calls) == 1:
            raise ica.DataError("disk unreadable", where="data")
        return original(self, options, ctx)

    monkeypatch.setattr(Registry, "build", failing_once)
    with shared_data():
        with pytest.raises(ica.DataError):
            prepare_data(spec, reg)
        assert len(prepare_data(spec, reg).train) == 4 * 40
    assert len(calls) == 2


def test_fig6_cell_order_loads_each_data_set_once_per_pass(tiny_spec, data_builds):
    """The access pattern of a grid run: the pre-flight check of every cell, then every cell's run.
    specs/fig6-resnet.json has a linked data axis of 3 values first and 3 latent sizes second."""
    reg = ica.registry()
    spec = ica.load_spec(
        {
            **tiny_spec,
            "grid": {
                "data.samples_per_segment, models.vade.prior.components": [[40, 3], [50, 4], [60, 5]],
                "models.*.latent_dim": [2, 3, 4],
            },
        }
    )
    cells = grid_cells(spec, reg)
    assert len(cells) == 9
    with shared_data():
        for _ in ("pre-flight", "runs"):
            for cell in cells:
                prepare_data(cell.spec, reg)
    assert [o.samples_per_segment for o in data_builds] == [40, 50, 60, 40, 50, 60]


@pytest.mark.slow
def test_a_run_leaves_the_shared_data_unchanged(tiny_spec, tmp_path, data_builds):
    """Shared splits must be read-only downstream: training, evaluation and every default metric
    (mcc with its FastICA floor included) leave the tensors exactly as built."""
    spec = {
        **tiny_spec,
        "data": {**tiny_spec["data"], "standardize": True},
        "models": {"ivae": tiny_spec["models"]["ivae"]},
    }
    with shared_data():
        data = prepare_data(ica.load_spec(spec), ica.registry())
        before = [t.clone() for t in (data.train.x, data.train.u, data.train.s, data.eval.x, data.eval.u, data.eval.s)]
        summary = ica.run(spec, out=tmp_path)
    assert len(data_builds) == 1, "the run was handed the shared data set"
    assert set(summary["cells"]["ivae"]["status"].values()) == {"finished"}
    after = (data.train.x, data.train.u, data.train.s, data.eval.x, data.eval.u, data.eval.s)
    for old, new in zip(before, after):
        assert torch.equal(old, new)


@pytest.mark.slow
def test_a_grid_run_builds_its_data_once(tiny_spec, tmp_path, data_builds):
    """End to end: a grid whose cells differ only in latent size builds its data once, for the pre-flight
    check and both runs (`ica.running.runner.run_grid` runs inside `shared_data()`)."""
    spec = {
        **tiny_spec,
        "models": {"ivae": tiny_spec["models"]["ivae"]},
        "seeds": 1,
        "grid": {"models.*.latent_dim": [2, 3]},
    }
    summary = ica.run(spec, out=tmp_path)
    assert len(summary["runs"]) == 2
    assert len(data_builds) == 1, f"data built {len(data_builds)} times (4 without shared_data in run_grid)"
