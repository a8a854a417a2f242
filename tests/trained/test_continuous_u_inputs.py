"""New data for a model trained with a continuous u (issue #30): u of the width training had, finite, taken as it
is; ``preprocessing.json`` records ``u_kind`` and ``u_dim`` for a continuous u only, and older files (and every
file of a discrete u) read as they always did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ica.components.protocols import DataSplits, Split
from ica.errors import DataError
from ica.rundir.json_files import read_preprocessing
from ica.rundir.schemas import PreprocessingFile
from ica.running.preprocessing import record, shell
from ica.trained.inputs import Inputs

OLD_RUNS = Path(__file__).parents[1] / "rundir" / "old_rundir"


def data(u: torch.Tensor | None, n_u: int | None = None, u_dim: int | None = None) -> DataSplits:
    split = Split(torch.zeros(6, 3), u, None)
    return DataSplits(split, split, n_u=n_u, info={}, u_dim=u_dim)


def continuous_inputs(width: int = 2, needs_u: bool = True) -> Inputs:
    pre = PreprocessingFile.model_validate(record(data(torch.rand(6, width), u_dim=width)).plain())
    return Inputs.of("ivae", pre, needs_u)


def test_continuous_u_is_recorded_and_read_back():
    pre = record(data(torch.rand(6, 2), u_dim=2))
    assert pre.plain()["u_kind"] == "continuous" and pre.plain()["u_dim"] == 2 and pre.plain()["n_u"] is None
    again = PreprocessingFile.model_validate(json.loads(pre.json_bytes()))
    assert again.u_kind == "continuous" and again.u_dim == 2
    rebuilt = shell(again)  # what building a model reads: the continuous u's width
    assert rebuilt.u_dim == 2 and rebuilt.n_u is None


def test_a_discrete_u_is_recorded_as_it_always_was():
    plain = record(data(torch.arange(6) % 3, n_u=3)).plain()
    assert "u_kind" not in plain and "u_dim" not in plain and plain["n_u"] == 3
    assert shell(PreprocessingFile.model_validate(plain)).u_dim is None


@pytest.mark.parametrize("path", sorted(OLD_RUNS.rglob("preprocessing.json")), ids=lambda p: p.parent.name)
def test_old_preprocessing_files_still_read(path):
    pre = read_preprocessing(path)
    assert pre.u_kind == "discrete" and pre.u_dim is None and "u_kind" not in pre.plain()


@pytest.mark.parametrize(
    "changes",
    [{"u_kind": "continuous"}, {"u_dim": 2}, {"u_kind": "continuous", "u_dim": 2, "n_u": 3}],
    ids=["kind-without-dim", "dim-without-kind", "both-and-n_u"],
)
def test_inconsistent_records_of_u_are_refused(changes):
    good = record(data(torch.arange(6) % 3, n_u=3)).plain()
    with pytest.raises(ValueError, match="continuous u has u_dim"):
        PreprocessingFile.model_validate({**good, **changes})


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_continuous_u_of_the_right_width_is_taken_as_it_is(dtype):
    u = (np.arange(12).reshape(6, 2) * 7.5).astype(dtype)
    split = continuous_inputs().prepared(np.zeros((6, 3)), u)
    assert split.u.dtype == torch.float32 and split.u.shape == (6, 2)
    np.testing.assert_array_equal(split.u.numpy(), u.astype(np.float32))  # nothing relabelled


def test_one_column_may_be_given_as_a_vector():
    split = continuous_inputs(width=1).prepared(np.zeros((4, 3)), [0.5, 1.5, -2.0, 3.25])
    assert split.u.shape == (4, 1) and split.u[:, 0].tolist() == [0.5, 1.5, -2.0, 3.25]


@pytest.mark.parametrize(
    "u, fragment",
    [
        (None, "give u, [N, 2] numbers"),
        (np.zeros((6, 3)), "continuous u of 2 column(s)"),
        (np.zeros(6), "continuous u of 2 column(s)"),
        (np.zeros((5, 2)), "give [6, 2]"),
        (np.array([[0.0, np.nan]] * 6), "non-finite"),
        (np.array([[0.0, 1e300]] * 6), "non-finite"),
        (np.array([["a", "b"]] * 6), "must hold numbers"),
    ],
    ids=["missing", "too-wide", "vector", "rows", "nan", "beyond-float32", "strings"],
)
def test_wrong_continuous_u_is_refused(u, fragment):
    with pytest.raises(DataError) as caught:
        continuous_inputs().prepared(np.zeros((6, 3)), u)
    assert caught.value.where == "u" and fragment in caught.value.message, caught.value.message


def test_sampling_needs_a_continuous_u_given():
    inputs = continuous_inputs()
    with pytest.raises(DataError, match="no p\\(u\\) to draw one from: give u, \\[4, 2\\]"):
        inputs.sampling_u(None, 4)
    assert inputs.sampling_u(np.ones((4, 2)), 4).shape == (4, 2)
    assert continuous_inputs(needs_u=False).sampling_u(None, 4) is None  # a model that does not need u
