"""Digests of the files a trained model is rebuilt from, recorded when a seed finishes and checked before use.

A trained model is rebuilt from three files: the run's ``spec.json`` (what to build), its
``preprocessing.json`` (what training did to the data) and the seed's ``model.safetensors`` (the weights).
Any of them edited, swapped with another seed's or copied from another run still loads -- and gives other
latents, silently. So a finished seed's ``result.json`` records the SHA-256 of each (`rebuilt_from`), and
`check_rebuilt_from` refuses a file whose bytes no longer match, naming it. The record lives in the seed's own
result, which names its seed (a result moved to another seed's directory is refused as such), so swapping two
seeds' weights, or editing the spec, shows as a mismatch. (``spec.json`` also carries its own ``spec_hash``,
the digest of the rest of the file, which `ica.load` checks even in runs written before these records.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ica.rundir.damage import RunFileError, read_bytes
from ica.rundir.latents import sha256
from ica.rundir.layout import RunLayout

SPEC = "spec.json"
PREPROCESSING = "preprocessing.json"
WEIGHTS = "model.safetensors"

RESTORE_ADVICE = {
    SPEC: "the weights were trained with the spec as it was: restore the original spec.json (a new spec needs a "
    "new run directory)",
    PREPROCESSING: "the weights were trained on data prepared as it said: restore the original preprocessing.json",
    WEIGHTS: "restore this seed's own weights, or delete its result.json and run the spec again to train it anew",
}


def run_digests(layout: RunLayout) -> dict[str, str]:
    """The digests of the run-level files a seed finishing now is rebuilt from (those that exist)."""
    return {
        name: sha256(path.read_bytes())
        for name, path in ((SPEC, layout.spec), (PREPROCESSING, layout.preprocessing))
        if path.is_file()
    }


def check_rebuilt_from(path: Path, data: bytes, recorded: dict[str, Any] | None, result: Path) -> None:
    """Refuse ``data`` (the bytes of ``path``) unless they are what ``result`` (a seed's result.json) recorded.

    A result without a record for the file (written by an earlier ica) checks nothing: the caller says so.
    """
    expected = (recorded or {}).get(path.name)
    if expected is None or sha256(data) == expected:
        return
    raise RunFileError(
        f"{path.name} is not the file this model was trained with: its SHA-256 differs from the one "
        f"{_relative(result, path)} recorded (it was edited, replaced, or copied from another seed or "
        f"run); {RESTORE_ADVICE.get(path.name, 'restore it')}",
        where=str(path),
    )


def read_as_recorded(path: Path, recorded: dict[str, Any] | None, result: Path, advice: str) -> bytes:
    """The bytes of ``path``, refused unless they match the digest ``result`` recorded for them."""
    data = read_bytes(path, advice)
    check_rebuilt_from(path, data, recorded, result)
    return data


def seed_record(weights: bytes, run: dict[str, str]) -> dict[str, str]:
    """What a finished seed's result.json records under ``rebuilt_from``: the run's files and its weights."""
    return {**run, WEIGHTS: sha256(weights)}


def _relative(result: Path, path: Path) -> str:
    """``result`` as a reader finds it from ``path``: its path inside the run (label/seeds/N/result.json)."""
    parts = result.parts
    return "/".join(parts[-4:]) if len(parts) >= 4 and parts[-3] == "seeds" else str(result)
