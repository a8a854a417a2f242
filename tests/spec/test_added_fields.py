"""A run directory written by an older ``ica`` resumes with today's spec: its hash is the spec's without the
options added since that version (each in the order they were added), where they hold their earlier value."""

from __future__ import annotations

import numpy as np
import pytest

import ica
from ica.spec.hashing import ADDED_FIELDS, json_digest
from ica.spec.load import accepted_hashes, spec_hash, spec_json


def npz_spec(tmp_path, **data) -> dict:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 3)).astype(np.float32), u=np.arange(40) % 4)
    return {
        "name": "own",
        "data": {"name": "npz", "path": str(tmp_path / "d.npz"), **data},
        "models": {"ivae": {"name": "ivae", "latent_dim": 2}},
        "training": {"steps": 5},
        "device": "cpu",
    }


def test_a_spec_json_written_before_u_kind_but_after_shuffle_u_is_accepted(tmp_path):
    spec = ica.load_spec(npz_spec(tmp_path))
    written = spec_json(spec)
    assert written["data"]["u_kind"] == "discrete" and "shuffle_u" in written["data"]
    del written["data"]["u_kind"]  # what the version before u_kind wrote: shuffle_u there, u_kind not yet
    assert json_digest(written) in accepted_hashes(spec)
    assert ADDED_FIELDS.index(("data.u_kind", "discrete")) > ADDED_FIELDS.index(("data.shuffle_u", False))


def test_a_continuous_u_is_never_taken_for_an_older_discrete_run(tmp_path):
    discrete = spec_json(ica.load_spec(npz_spec(tmp_path)))
    del discrete["data"]["u_kind"]
    continuous = ica.load_spec(npz_spec(tmp_path, u_kind="continuous"))
    assert json_digest(discrete) not in accepted_hashes(continuous)
    assert spec_hash(continuous) != spec_hash(ica.load_spec(npz_spec(tmp_path)))


def test_grid_cells_keep_which_data_options_were_given(tmp_path):
    """A grid over an npz file without u: each cell takes u only where the file has it, as the plain run does
    (the cells were once validated from the filled-in spec, where u_key looked given and so required)."""
    from ica.spec.grid import grid_cells

    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(0).poisson(2, size=(40, 3)).astype(np.float32))
    spec = {
        "data": {"name": "npz", "path": str(data)},
        "models": {"vade": {"name": "vade", "latent_dim": 2}},
        "training": {"steps": 5},
        "device": "cpu",
        "grid": {"training.lr": [0.001, 0.01]},
    }
    cells = grid_cells(ica.load_spec(spec))
    assert [c.spec.training.lr for c in cells] == [0.001, 0.01]
    assert all(ica.check(c.spec)["data"]["n_u"] is None for c in cells)
    spec["data"]["u_key"] = "u"  # named: required, in every cell
    with pytest.raises(ica.DataError, match="no array 'u'"):
        ica.check(grid_cells(ica.load_spec(spec))[0].spec)


def test_a_workers_unit_keeps_which_data_options_were_given(tmp_path):
    """``ica run --workers`` sends each worker its unit's spec as JSON: validated again there, it is the same
    spec (the same hash), and an npz file without u still has none (it once failed with "has no array 'u'")."""
    from ica.running.executor import work_units
    from ica.spec.hashing import spec_source

    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(0).poisson(2, size=(40, 3)).astype(np.float32))
    spec = ica.load_spec(
        {
            "data": {"name": "npz", "path": str(data)},
            "models": {"a": {"name": "vade", "latent_dim": 2}, "b": {"name": "gmmflow"}},
            "device": "cpu",
        }
    )
    units = work_units(spec, tmp_path / "run", ica.registry())
    assert [u.spec for u in units] == [spec_source(spec)] * 2 and "u_key" not in units[0].spec["data"]
    again = ica.load_spec(units[0].spec)
    assert spec_hash(again) == spec_hash(spec) and spec_json(again) == spec_json(spec)
    assert ica.check(again)["data"]["n_u"] is None
