"""What a damaged run-directory file is: one `RunFileError` naming the file, what is wrong and what to do.

The lowest module of the readers, so that every damaged file is named and advised the same way: the advice each
kind of file gets, `damaged` that puts a message together, reading a file's bytes (a missing or unreadable file
named the same way) and `no_link`, that refuses a folder of a run reached through a symbolic link. Every checked
reader of the room builds on these.
"""

from __future__ import annotations

from pathlib import Path

from ica.errors import IcaError


RESULT_ADVICE = "delete this result.json to train the seed again"
LATENTS_ADVICE = "delete result.json beside it to train that seed again"
WEIGHTS_ADVICE = LATENTS_ADVICE
SUMMARY_ADVICE = "run the same spec again (`ica run`) to evaluate it and write this file again"
SPEC_ADVICE = (
    "delete it and run the spec this directory was made from (`ica run SPEC --out DIR`) to write it "
    "again, or remove the directory"
)
GRID_ADVICE = "delete it and run the grid spec again (`ica run`) to write it again"
PREPROCESSING_ADVICE = (
    "run the spec into this directory again (`ica run SPEC --out DIR`), which writes it again "
    "without training anything finished"
)
CHECKPOINT_ADVICE = (
    "delete it to resume from an older checkpoint, or delete all of the seed's checkpoint*.pt "
    "and metrics.jsonl to train it from the start"
)


class RunFileError(IcaError):
    """A file of a run directory that is damaged, unreadable or not what `ica` wrote there."""


def damaged(path: Path, problem: str, advice: str) -> RunFileError:
    """One message: the file (as ``where``), what is wrong with it, and what to do."""
    return RunFileError(f"{path.name} is damaged: {problem}; {advice}", where=str(path))


def no_link(*paths: Path) -> Path:
    """The last of ``paths`` (folders of one run: a model's, its ``seeds``, a seed's), each refused when it is a
    symbolic link: ica never follows links inside a run directory when writing, so reading through one would
    show another run's files as this run's."""
    for path in paths:
        if path.is_symlink():
            raise RunFileError(
                "is a symbolic link; ica does not follow links inside a run directory (replace it "
                "with the real folder, or remove it)",
                where=str(path),
            )
    return paths[-1]


def read_bytes(path: Path, advice: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(f"{path.name} is missing; {advice}", where=str(path)) from None
    except OSError as exc:
        raise RunFileError(f"cannot read {path.name}: {exc.strerror or exc}", where=str(path)) from None
