"""Fuzzing ``ica encode`` and ``ica score`` with the inputs people and attackers give them: every dtype numpy
writes (pickled objects too), both byte orders, odd shapes and sizes, NaN, infinities, extreme magnitudes,
files that are not arrays at all, and headers declaring arrays far larger than the file. Each case must end
in exit 0 or in exit 2 with exactly one message, never a traceback; declared sizes are refused from the
header, without allocating them. ``pytest -s`` prints the counts."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from typer.testing import CliRunner

from ica.cli.app import app

pytestmark = pytest.mark.slow  # trains a run (trained_runs) and fuzzes encode and score

ROWS = 40
RNG = np.random.default_rng(0)


def values(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``dtype`` and ``shape`` whose values vary (so CCA has something to fit)."""
    dtype = np.dtype(dtype)
    base = RNG.normal(size=shape) * 3
    if dtype.kind == "b":
        return base > 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(base), max(info.min, -100), min(info.max, 100)).astype(dtype)
    if dtype.kind == "c":
        return (base + 1j * base).astype(dtype)
    if dtype.kind in "US":
        return base.astype(str).astype(dtype)
    if dtype.kind == "M":
        return np.zeros(shape, dtype=dtype)
    if dtype.kind == "V":
        return np.zeros(shape[:1], dtype=dtype)
    return base.astype(dtype)


NUMERIC = [
    "bool",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float16",
    "float32",
    "float64",
]
OTHER = ["complex64", "complex128", "<U4", "S4", "datetime64[s]", [("a", "<f4"), ("b", "<f4"), ("c", "<f4")]]


def dtype_variants(shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """Every dtype in both byte orders (where it has one)."""
    found = []
    for name in NUMERIC + OTHER:
        dtype = np.dtype(name)
        array = values(dtype, shape)
        found.append((f"{dtype}", array))
        if dtype.byteorder not in ("|",) and dtype.itemsize > 1 and dtype.kind not in "V":
            swapped = array.astype(dtype.newbyteorder(">" if dtype.byteorder in ("<", "=") else "<"))
            found.append((f"{swapped.dtype.str}", swapped))
    return found


def value_variants(shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """Non-finite values, extreme magnitudes, the extremes of integers."""
    good = values("float64", shape)
    found = []
    for label, value, dtype in [
        ("nan", np.nan, "float64"),
        ("inf", np.inf, "float64"),
        ("-inf", -np.inf, "float32"),
        ("1e200", 1e200, "float64"),
        ("1e-300", 1e-300, "float64"),
        ("3e38", 3e38, "float32"),
        ("-3e38", -3e38, "float32"),
        ("1e-45", 1e-45, "float32"),
    ]:
        array = good.astype(dtype)
        array.reshape(-1)[:: max(1, array.size // 5)] = value
        found.append((label, array))
        found.append((f"all {label}", np.full(shape, value, dtype=dtype)))
    found.append(("uint64 max", np.full(shape, 2**64 - 1, dtype=np.uint64)))
    found.append(("int64 min", np.full(shape, np.iinfo(np.int64).min, dtype=np.int64)))
    found.append(("zeros", np.zeros(shape)))
    return found


def shape_variants(width: int, seeds: int | None) -> list[tuple[str, np.ndarray]]:
    lead = () if seeds is None else (seeds,)
    shapes = [
        (),
        (width,),
        (0, width),
        (ROWS, 0),
        (ROWS, width - 1),
        (ROWS, width + 1),
        (ROWS, width, 1),
        (1, width),
        (2, width),
        (3, width),
        (4, width),
        (*lead, 0, width),
        (*lead, ROWS, 0),
        (5, ROWS, width, 2),
    ]
    return [(f"shape {s}", values("float64", s)) for s in dict.fromkeys(shapes)]


def declaring(
    shape: tuple[int, ...], dtype: str = "<f8", compression: int = zipfile.ZIP_STORED, name: str = "x"
) -> bytes:
    """An npz whose member declares ``shape`` but holds only 64 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        zf.writestr(f"{name}.npy", header.getvalue() + b"\0" * 64)
    return buffer.getvalue()


def not_arrays(key: str) -> list[tuple[str, bytes]]:
    """Files that are not .npz or .npy files of arrays, or are damaged ones."""
    buffer = io.BytesIO()
    np.savez(buffer, **{key: values("float64", (ROWS, 3))})
    whole = buffer.getvalue()
    npy = io.BytesIO()
    np.save(npy, values("float64", (ROWS, 3)))
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("notes.txt", "hello")
    return [
        ("text", b"hello"),
        ("empty", b""),
        ("truncated zip", whole[: len(whole) // 2]),
        ("zip of text", other.getvalue()),
        ("truncated npy", npy.getvalue()[:100]),
        ("npy magic only", b"\x93NUMPY"),
        ("zip magic only", b"PK\x03\x04"),
        ("bad npy header", b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense}\n"),
    ]


HUGE = [
    ("(10**11, 5) float64", (10**11, 5), "<f8", zipfile.ZIP_STORED),
    ("(10**11, 5) float64, deflated", (10**11, 5), "<f8", zipfile.ZIP_DEFLATED),
    ("(10**7, 5) float64 (400 MB)", (10**7, 5), "<f8", zipfile.ZIP_DEFLATED),
    ("(2**62, 2) int8", (2**62, 2), "|i1", zipfile.ZIP_STORED),
    ("(10**9, 3) big-endian float32", (10**9, 3), ">f4", zipfile.ZIP_DEFLATED),
]


class Tally:
    """Runs each case and counts how it ended; a case that breaks the promise is recorded, not raised."""

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}
        self.broken: list[str] = []

    def check(self, case: str, args: list[Any], exited: Callable[[Any], str | None] = lambda done: None) -> Any:
        done = CliRunner().invoke(app, [*map(str, args)])
        self.codes[done.exit_code] = self.codes.get(done.exit_code, 0) + 1
        exception_ok = done.exception is None or isinstance(done.exception, SystemExit)
        if done.exit_code not in (0, 2) or "Traceback" in done.output or not exception_ok:
            self.broken.append(f"{case}: exit {done.exit_code}, {done.exception!r}: {done.output[-300:]}")
        elif done.exit_code == 2 and done.output.count("error:") != 1:
            self.broken.append(f"{case}: exit 2 without exactly one message: {done.output[-300:]}")
        elif done.exit_code == 0:
            problem = exited(done)
            if problem:
                self.broken.append(f"{case}: exit 0, but {problem}")
        return done


def test_fuzz_encode_and_score_inputs(trained_runs, tmp_path: Path) -> None:
    tally = Tally()
    started = time.perf_counter()
    run = trained_runs / "tcl"
    count = iter(range(10**6))

    def write(name: str, **arrays: Any) -> Path:
        path = tmp_path / f"{next(count)}-{name}.npz"
        np.savez(path, **arrays)  # object arrays pickled, as an attacker would write them
        return path

    def raw(name: str, data: bytes, suffix: str = ".npz") -> Path:
        path = tmp_path / f"{next(count)}-{name}{suffix}"
        path.write_bytes(data)
        return path

    def encoded(out: Path) -> Callable[[Any], str | None]:
        def check(done: Any) -> str | None:
            with np.load(out) as z:
                return None if np.isfinite(z["latents"]).all() else "non-finite latents were written"

        return check

    def encode(case: str, data: Path, *more: Any) -> None:
        out = tmp_path / f"{next(count)}-out.npz"
        tally.check(f"encode {case}", ["encode", run, "--data", data, "--out", out, *more], encoded(out))

    def scored(out: Path) -> Callable[[Any], str | None]:
        def check(done: Any) -> str | None:
            summary = json.loads((out / "summary.json").read_text())
            return None if summary["cells"] else "no cell was written"

        return check

    def score(case: str, *args: Any) -> None:
        out = tmp_path / f"{next(count)}-scored"
        tally.check(f"score {case}", ["score", *args, "--out", out], scored(out))

    # ---------------------------------------------------------------------------------- ica encode: x and u
    for label, x in dtype_variants((ROWS, 3)) + value_variants((ROWS, 3)) + shape_variants(3, None):
        encode(f"x {label}", write("x", x=x), "--model", "vade")
    u = RNG.integers(0, 4, ROWS)
    x = values("float64", (ROWS, 3))
    for label, bad in [
        ("uint64 max", np.full(ROWS, 2**64 - 1, dtype=np.uint64)),
        ("half", u + 0.5),
        ("negative", -u - 1),
        ("2-d", np.stack([u, u], 1)),
        ("short", u[:-1]),
        (">i8", u.astype(">i8")),
        ("text", u.astype(str)),
        ("0-d", np.array(1)),
        ("nan", np.where(u > 1, np.nan, u)),
        ("1e300", u * 1e300),
        ("bool", u > 1),
    ]:
        encode(f"u {label}", write("xu", x=x, u=bad), "--model", "ivae")
    encode("object x", write("objects", x=np.array([{"a": 1}] * ROWS, dtype=object)), "--model", "vade")
    for label, data in not_arrays("x"):
        encode(f"file {label}", raw(label, data), "--model", "vade")
    encode("npy file", raw("x", _npy(values("float64", (ROWS, 3))), ".npy"), "--model", "vade")
    for option in (
        ["--device", "tpu"],
        ["--device", "cuda:x"],
        ["--seeds", "1_0"],
        ["--seeds", "-1"],
        ["--seeds", ""],
        ["--seeds", "9" * 30],
        ["--x-key", "nope"],
        ["--u-key", "x"],
    ):
        encode(f"option {option}", write("x", x=x), "--model", "vade", *option)
    encode("option --model nope", write("x", x=x), "--model", "nope")

    # ---------------------------------------------------------------------------------- ica score: embeddings
    good = values("float64", (ROWS, 3))
    for label, z in dtype_variants((3, ROWS, 3)) + value_variants((3, ROWS, 3)) + shape_variants(3, 3):
        score(f"latents {label}", write("z", latents=z))
    score("object latents", write("objects", latents=np.array([{"a": 1}] * ROWS, dtype=object)))
    for label, seeds in [
        ("text", np.array(["a", "b", "c"])),
        ("floats", np.array([0.0, 1.0, 2.0])),
        ("duplicates", np.array([0, 0, 1])),
        ("extra", np.arange(4)),
        ("negative", np.array([-1, 0, 1])),
        ("uint64 max", np.array([0, 1, 2**64 - 1], dtype=np.uint64)),
        ("2-d", np.arange(3)[None]),
        ("0-d", np.array(0)),
        (">i8", np.arange(3).astype(">i8")),
    ]:
        score(f"seeds {label}", write("z", latents=np.stack([good, good * 2 + 1, -good]), seeds=seeds))
    for label, assignments in [
        ("floats", RNG.normal(size=(3, ROWS))),
        ("text", np.full((3, ROWS), "a")),
        ("short", np.zeros((3, ROWS - 1), int)),
        ("1-d", np.zeros(ROWS, int)),
        ("uint64 max", np.full((3, ROWS), 2**64 - 1, dtype=np.uint64)),
        ("negative", -np.ones((3, ROWS), int)),
        ("0-d", np.array(0)),
    ]:
        score(f"assignments {label}", write("z", latents=values("float64", (3, ROWS, 3)), assignments=assignments))
    for label, s in value_variants((ROWS, 3))[:6] + [
        ("text", np.full((ROWS, 3), "a")),
        ("1-d", good[:, 0]),
        ("short", good[:-1]),
    ]:
        score(f"sources {label}", write("z", latents=values("float64", (3, ROWS, 3))), "--sources", write("s", s=s))
    for label, data in not_arrays("latents"):
        score(f"file {label}", raw(label, data))
    score("same file thrice", *[write("z", latents=good)] * 3)
    score("npy file", raw("z", _npy(values("float64", (3, ROWS, 3))), ".npy"))

    # ---------------------------------------------------------------------------------- declared sizes
    tracemalloc.start()
    try:
        for label, shape, dtype, compression in HUGE:
            for command, key in (("encode", "x"), ("score", "latents")):
                path = raw("huge", declaring(shape, dtype, compression, key))
                tracemalloc.reset_peak()
                began = time.perf_counter()
                if command == "encode":
                    encode(f"huge {label}", path, "--model", "vade")
                else:
                    score(f"huge {label}", path)
                seconds, peak = time.perf_counter() - began, tracemalloc.get_traced_memory()[1]
                if seconds > 1.0 or peak > 50 * 2**20:
                    tally.broken.append(f"{command} huge {label}: {seconds:.2f} s, {peak / 2**20:.0f} MiB allocated")
    finally:
        tracemalloc.stop()

    cases = sum(tally.codes.values())
    print(
        f"\nfuzz of ica encode and ica score inputs: {cases} cases, exit 0: {tally.codes.get(0, 0)}, "
        f"exit 2: {tally.codes.get(2, 0)}, other: {cases - tally.codes.get(0, 0) - tally.codes.get(2, 0)}; "
        f"{time.perf_counter() - started:.1f} s"
    )
    assert not tally.broken, "\n".join(tally.broken)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
