"""The records of the run directory's files (`ica.rundir.record`, `ica.rundir.schemas`): the model that checks a
file on reading is the one that writes it, key for key and byte for byte; and one rule for a plain directory name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from ica.errors import IcaError
from ica.rundir.json_files import read_result
from ica.rundir.record import Record, write_record
from ica.rundir.schemas import CellSummary, GridFile, ResultFile, RunSummary, is_plain_name, plain_name
from ica.rundir.writing import WriteFailed, json_bytes
from ica.running.claims import default_out

FAILED = {
    "seed": 1,
    "steps": 20,
    "train_seconds": 0.5,
    "step_mode": "eager",
    "status": "failed",
    "failed_at": 10,
    "last_finite_loss": None,
    "error": "loss became non-finite by step 10",
}
STATS = {"n": 2, "n_failed": 1, "median": 0.5, "q25": 0.5, "q75": 0.5, "mean": 0.5}
CELL = {
    "model": "ivae",
    "stats": {"mcc": STATS},
    "seeds": {"0": {"mcc": 0.5}, "1": {"mcc": None}},
    "pairs": [{"seeds": [0, 1], "cca_mcc_out": None}],
    "cell": {"mcc_observations": 0.9},
    "errors": [{"metric": "mcc", "seed": 1, "error": "seed failed"}],
    "status": {"0": "finished", "1": "failed"},
}


def test_a_record_writes_the_keys_it_was_given_in_the_order_given():
    record = ResultFile(**FAILED)
    assert list(record.plain()) == list(FAILED), "declared fields are not moved before the others"
    assert record.json_bytes() == json_bytes(FAILED)
    assert "elbo" not in record.plain() and "scored" not in record.plain(), "no default is written that was not given"


def test_keys_a_record_does_not_know_are_kept_in_their_place():
    data = {"seed": 0, "later_version_key": {"a": [1, 2]}, **{k: v for k, v in FAILED.items() if k != "seed"}}
    record = ResultFile.model_validate(data)
    assert record.plain() == data and list(record.plain()) == list(data)


def test_nested_records_keep_their_own_order():
    summary = {
        "name": "x",
        "spec_hash": "abc",
        "device": "cpu",
        "split": "eval",
        "data": {"z": 1, "a": 2},
        "cells": {"ivae": {**CELL}},
    }
    record = RunSummary.model_validate(summary)
    assert record.json_bytes() == json_bytes(summary)
    built = RunSummary(
        name="x",
        spec_hash="abc",
        device="cpu",
        split="eval",
        data={"z": 1, "a": 2},
        cells={"ivae": CellSummary(**CELL)},
    )
    assert built.json_bytes() == json_bytes(summary), "a record built from records writes the same bytes"


def test_a_record_is_checked_when_it_is_built_not_only_when_it_is_read():
    with pytest.raises(ValidationError, match="has no 'elbo'"):
        ResultFile(seed=0, steps=3, status="finished")
    with pytest.raises(ValidationError):
        CellSummary(**{**CELL, "seeds": {"0": {"mcc": float("nan")}}})
    with pytest.raises(ValidationError, match="plain directory name"):
        GridFile(cells=[{"name": "a", "dir": "..", "settings": {}}])


def test_write_record_writes_atomically_what_its_reader_reads_back(tmp_path):
    path = tmp_path / "seeds" / "1" / "result.json"
    path.parent.mkdir(parents=True)
    write_record(path, ResultFile(**FAILED))
    assert path.read_bytes() == json_bytes(FAILED)
    assert read_result(path).plain() == FAILED
    assert [p.name for p in path.parent.iterdir()] == ["result.json"], "no temporary file is left"
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(WriteFailed, match="symbolic link"):
        write_record(link, ResultFile(**FAILED))
    assert path.read_bytes() == json_bytes(FAILED)


def test_a_record_copied_with_more_keys_appends_them():
    record = ResultFile(**FAILED)
    again = ResultFile(**record.plain(), lr=0.0005, earlier_attempts=[FAILED])
    assert list(again.plain()) == [*FAILED, "lr", "earlier_attempts"]
    assert again.lr == 0.0005 and again.earlier_attempts == [FAILED]


def test_every_record_is_a_record():
    from ica.rundir import schemas

    models = [v for v in vars(schemas).values() if isinstance(v, type) and issubclass(v, Record) and v is not Record]
    assert {m.__name__ for m in models} >= {
        "ResultFile",
        "CellSummary",
        "RunSummary",
        "RunSpecFile",
        "GridFile",
        "PreprocessingFile",
        "EnvFile",
        "IndexFile",
        "MetricsLine",
    }


@pytest.mark.parametrize("name", ["", " ", "\t", ".", "..", "...", "a/b", "/abs", "a\\b", "a\0b"])
def test_names_that_are_no_directory_of_their_own_are_refused(name):
    assert not is_plain_name(name)
    with pytest.raises(ValueError, match="the method's name .* is not a plain directory name"):
        plain_name(name, "the method's name")


@pytest.mark.parametrize("name", ["ivae", "a.b", ".hidden", "a..b", "x-1_2", "séance"])
def test_plain_names_are_accepted(name):
    assert is_plain_name(name) and plain_name(name, "label") == name


def test_the_run_directory_a_spec_file_names_follows_the_same_rule():
    assert default_out(Path("specs/quickstart.json")) == Path("runs") / "quickstart"
    for stem in ("...", " ", ".."):
        with pytest.raises(IcaError, match="no plain run directory name"):
            default_out(Path(f"{stem}.json"))
    with pytest.raises(ValidationError, match="plain directory name"):
        RunSummary(name=None, spec_hash="a", device="cpu", split="eval", data={}, cells={"...": CellSummary(**CELL)})


def test_reading_a_file_again_writes_the_same_bytes(tmp_path):
    data = {**FAILED, "steps": 3, "train_seconds": 1.25}
    (tmp_path / "result.json").write_bytes(json_bytes(data))
    assert read_result(tmp_path / "result.json").json_bytes() == (tmp_path / "result.json").read_bytes()
    assert json.loads(ResultFile(**data).json_bytes()) == data
    assert os.listdir(tmp_path) == ["result.json"]
