"""The `npz` data set's time order: an optional ``sequence`` array read into ``Split.sequence`` of both splits,
kept in order by the split, and one clear error (exit 2 in the CLI) for an array that is not a time order."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import TINY_SPEC
from ica.cli import app
from ica.errors import DataError
from ica.plugins.datasets.npz import NPZOptions, load_npz

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 3))
SEQUENCE = np.array([4, 4, 4, 4, 4, 4, 7, 7, 7, 7])


def write(tmp_path: Path, name: str = "data.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_sequence_is_read_into_both_splits_in_file_order(tmp_path):
    data = load_npz(NPZOptions(path=write(tmp_path, x=X, sequence=SEQUENCE)))
    assert data.train.sequence.dtype == torch.int64
    assert data.train.sequence.tolist() == [4] * 6 + [7, 7] and data.eval.sequence.tolist() == [7, 7]
    np.testing.assert_array_equal(data.eval.x.numpy(), X[8:].astype(np.float32))  # the last rows, in order
    assert data.info["keys"]["sequence"] == "sequence"
    assert data.info["recordings"] == {"train": 2, "eval": 1}  # recording 7 cut by the split: both parts kept


def test_unsigned_and_narrow_integers_are_accepted(tmp_path):
    data = load_npz(NPZOptions(path=write(tmp_path, x=X, sequence=SEQUENCE.astype(np.uint8))))
    assert data.train.sequence.dtype == torch.int64 and data.train.sequence[0] == 4


def test_without_a_sequence_nothing_changes(tmp_path):
    data = load_npz(NPZOptions(path=write(tmp_path, x=X)))
    assert data.train.sequence is None and data.eval.sequence is None
    assert "sequence" not in data.info["keys"] and "recordings" not in data.info


def test_eval_file_sequence(tmp_path):
    options = NPZOptions(
        path=write(tmp_path, x=X, sequence=SEQUENCE),
        eval_path=write(tmp_path, "eval.npz", x=X[:4], sequence=np.array([0, 0, 1, 1])),
    )
    data = load_npz(options)
    assert data.train.sequence.tolist() == SEQUENCE.tolist() and data.eval.sequence.tolist() == [0, 0, 1, 1]
    assert data.info["recordings"] == {"train": 2, "eval": 2}


def test_eval_file_must_have_the_trainings_sequence(tmp_path):
    options = NPZOptions(path=write(tmp_path, x=X, sequence=SEQUENCE), eval_path=write(tmp_path, "eval.npz", x=X))
    with pytest.raises(DataError, match="has no array 'sequence'") as info:
        load_npz(options)
    assert info.value.where == "data.sequence_key"


def test_custom_and_null_keys(tmp_path):
    path = write(tmp_path, x=X, trial=SEQUENCE, sequence=np.ones(10))  # 'sequence' here is not a time order
    assert load_npz(NPZOptions(path=path, sequence_key="trial")).train.sequence[0] == 4
    assert load_npz(NPZOptions(path=path, sequence_key=None)).train.sequence is None
    with pytest.raises(DataError, match="has no array 'order'"):
        load_npz(NPZOptions(path=path, sequence_key="order"))  # a key set explicitly must exist


def test_estimated_bytes_count_the_sequence(tmp_path):
    path = write(tmp_path, x=X, sequence=SEQUENCE)
    assert NPZOptions(path=path).estimated_bytes() - NPZOptions(path=path, sequence_key=None).estimated_bytes() == (
        SEQUENCE.nbytes + 10 * 8
    )


BAD = [
    (SEQUENCE.astype(np.float64), "has dtype float64"),
    (SEQUENCE > 5, "has dtype bool"),
    (np.array(["a"] * 10), "has dtype <U1"),
    (SEQUENCE[:, None], "has shape [10, 1]"),
    (SEQUENCE[:9], "has shape [9]"),
    (np.array([0, 0, 1, 1, 0, 0, 2, 2, 2, 2]), "recording 0 is not contiguous"),
    (np.array([2**64 - 1] * 10, dtype=np.uint64), "too large"),
]


@pytest.mark.parametrize("sequence, fragment", BAD)
def test_bad_sequences_are_one_data_error(tmp_path, sequence, fragment):
    path = write(tmp_path, x=X, sequence=sequence)
    with pytest.raises(DataError) as info:
        load_npz(NPZOptions(path=path))
    assert info.value.where == "data.sequence_key"
    assert fragment in info.value.message and "data.npz" in info.value.message and "'sequence'" in info.value.message


def spec_on(path: str) -> str:
    spec = copy.deepcopy(TINY_SPEC)
    spec["data"] = {"name": "npz", "path": path}
    spec["models"] = {"vade": {**spec["models"]["vade"], "latent_dim": 2}}
    spec_path = Path(path).with_name("spec.json")
    spec_path.write_text(json.dumps(spec))
    return str(spec_path)


def test_ica_validate_accepts_an_npz_with_a_sequence(tmp_path):
    x = RNG.normal(size=(60, 3))
    result = CliRunner().invoke(app, ["validate", spec_on(write(tmp_path, x=x, sequence=np.repeat([0, 1, 2], 20)))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("sequence, fragment", [BAD[0], BAD[5]])
def test_ica_validate_refuses_a_bad_sequence_with_one_message(tmp_path, sequence, fragment):
    x = RNG.normal(size=(10, 3))
    result = CliRunner().invoke(app, ["validate", spec_on(write(tmp_path, x=x, sequence=sequence))])
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    assert fragment in result.output and "'sequence'" in result.output
