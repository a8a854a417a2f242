"""Issue #27 for ``ica encode`` and ``ica score``: neither replaces a file it did not write, every bad input is
one message naming it (byte order, declared sizes, devices, seeds, names), memory is checked from the files'
headers before anything is allocated, a killed ``ica score``'s partial folder is cleaned up, and identical
inputs are said."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from conftest import cli, refused


@pytest.fixture
def run(trained_runs):
    return trained_runs / "tcl"


def x_file(path, rows=50, **extra):
    np.savez(path, x=np.random.default_rng(0).normal(size=(rows, 3)), **extra)
    return path


def encode(run, data, out, *more):
    return cli("encode", run, "--model", "vade", "--data", data, "--out", out, *more)


def declaring(path, shape, compression=zipfile.ZIP_STORED, dtype="<f8"):
    """An npz whose member ``x.npy`` declares ``shape`` but holds 64 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("x.npy", header.getvalue() + b"\0" * 64)
    return path


def latents_file(path, z, **extra):
    np.savez(path, latents=z, **extra)
    return path


def copies(rows=200, seeds=3, width=3):
    rng = np.random.default_rng(1)
    s = rng.laplace(size=(rows, width))
    return s, [s[:, rng.permutation(width)] * rng.uniform(0.5, 2, width) for _ in range(seeds)]


# ------------------------------------------------------------------------------ item 2: encode --out
@pytest.mark.slow
def test_encode_replaces_only_its_own_output_and_never_an_input(run, tmp_path):
    data = x_file(tmp_path / "new.npz")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    refused(encode(run, data, notes), "not an output of ica encode")
    assert notes.read_text() == "my notes\n"
    before = data.read_bytes()
    refused(encode(run, data, data), "the --data file itself")
    os.link(data, tmp_path / "hard.npz")
    (tmp_path / "soft.npz").symlink_to(data)
    refused(encode(run, tmp_path / "hard.npz", data), "the --data file itself")
    refused(encode(run, data, tmp_path / "soft.npz"), "symbolic link")
    assert data.read_bytes() == before
    out = tmp_path / "z.npz"
    assert encode(run, data, out).exit_code == 0
    assert set(np.load(out).files) == {"latents", "seeds", "assignments", "ica_encode"}
    assert encode(run, data, out, "--seeds", "1").exit_code == 0  # its own earlier output: replaced
    assert list(np.load(out)["seeds"]) == [1]
    with np.load(out) as z:  # as ica encode wrote it before the marker
        np.savez(out, latents=z["latents"], seeds=z["seeds"], assignments=z["assignments"])
    assert encode(run, data, out).exit_code == 0


# ------------------------------------------------------------------------------ item 7: encode's inputs
@pytest.mark.slow
def test_encode_takes_big_endian_x_and_refuses_huge_headers_and_unknown_devices(run, tmp_path):
    data = x_file(tmp_path / "native.npz")
    with np.load(data) as f:
        np.savez(tmp_path / "big.npz", x=f["x"].astype(">f4"))
    assert encode(run, data, tmp_path / "a.npz").exit_code == 0
    done = encode(run, tmp_path / "big.npz", tmp_path / "b.npz")
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["latents"], np.load(tmp_path / "b.npz")["latents"])
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        huge = declaring(tmp_path / f"huge{compression}.npz", (10**11, 5), compression)
        start = time.perf_counter()
        refused(encode(run, huge, tmp_path / "c.npz"), str(huge), "'x'", "[100000000000, 5]", "4.0 TB", "damaged")
        assert time.perf_counter() - start < 1  # from the header: nothing allocated, no model loaded
    refused(encode(run, data, tmp_path / "c.npz", "--device", "tpu"), "--device", "expected cpu, cuda or auto")
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.slow
def test_encode_refuses_x_beyond_float32_and_latents_that_are_not_finite(run, tmp_path):
    np.savez(tmp_path / "wide.npz", x=np.full((5, 3), 1e200))
    refused(encode(run, tmp_path / "wide.npz", tmp_path / "z.npz"), "beyond float32's range")
    np.savez(tmp_path / "edge.npz", x=np.full((5, 3), 3e38, dtype=np.float32))
    refused(encode(run, tmp_path / "edge.npz", tmp_path / "z.npz"), "non-finite latents", "nothing was written")
    np.savez(tmp_path / "u.npz", x=np.zeros((5, 3)), u=np.array([0, 1, 2, 3, 2**64 - 1], dtype=np.uint64))
    done = cli("encode", run, "--model", "ivae", "--data", tmp_path / "u.npz", "--out", tmp_path / "z.npz")
    refused(done, "18446744073709551615")
    assert not (tmp_path / "z.npz").exists()


# ------------------------------------------------------------------------------ item 8: score's inputs
def test_score_refuses_too_few_points_and_extreme_magnitudes_by_name(tmp_path):
    rng = np.random.default_rng(0)
    for rows in (2, 3):
        path = latents_file(tmp_path / f"few{rows}.npz", rng.normal(size=(2, rows, 3)))
        refused(cli("score", path, "--out", tmp_path / "d"), "embeddings", "points >= 4")
    assert (
        cli(
            "score", latents_file(tmp_path / "four.npz", rng.normal(size=(2, 4, 3))), "--out", tmp_path / "four"
        ).exit_code
        == 0
    )
    for scale in (1e200, 1e-200):  # an eigensolver that did not converge; a score of 0 from underflow
        path = latents_file(tmp_path / "scaled.npz", rng.normal(size=(2, 100, 3)) * scale)
        refused(cli("score", path, "--out", tmp_path / "d"), "embeddings", "magnitude", "multiply it by a constant")
    s, z = copies()
    np.savez(tmp_path / "s.npz", s=s * 1e200)
    refused(
        cli(
            "score",
            latents_file(tmp_path / "z.npz", np.stack(z)),
            "--sources",
            tmp_path / "s.npz",
            "--out",
            tmp_path / "d",
        ),
        "sources",
        "magnitude",
    )
    assert not (tmp_path / "d").exists()


def test_score_reads_big_endian_input_and_refuses_seeds_that_are_text(tmp_path):
    _, z = copies()
    native = latents_file(tmp_path / "native.npz", np.stack(z))
    big = latents_file(tmp_path / "big.npz", np.stack(z).astype(">f8"))
    assert cli("score", native, "--out", tmp_path / "a").exit_code == 0
    done = cli("score", big, "--out", tmp_path / "b")
    assert done.exit_code == 0, done.output
    stats = [json.loads((tmp_path / d / "embeddings" / "summary.json").read_text())["stats"] for d in "ab"]
    assert stats[0] == stats[1]
    text = latents_file(tmp_path / "text.npz", np.stack(z), seeds=np.array(["a", "b", "c"]))
    refused(cli("score", text, "--out", tmp_path / "c"), str(text), "'seeds'", "--seeds")
    assert cli("score", text, "--seeds", "4,5,6", "--out", tmp_path / "c").exit_code == 0


# ------------------------------------------------------------------------------ item 9: what messages name
def test_score_scores_embeddings_of_different_widths(tmp_path):
    s, z = copies(width=3)
    np.save(tmp_path / "three.npy", z[0])
    np.save(tmp_path / "four.npy", np.c_[z[1], np.random.default_rng(2).normal(size=len(s))])
    np.savez(tmp_path / "s.npz", s=s)
    done = cli(
        "score", tmp_path / "three.npy", tmp_path / "four.npy", "--sources", tmp_path / "s.npz", "--out", tmp_path / "d"
    )
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "d" / "embeddings" / "summary.json").read_text())
    assert summary["stats"]["cca_mcc_out"]["median"] > 0.99 and summary["stats"]["mcc"]["n"] == 2
    assert json.loads((tmp_path / "d" / "spec.json").read_text())["models"]["embeddings"]["dims"] == [3, 4]
    assert cli("results", tmp_path / "d").exit_code == 0


@pytest.mark.parametrize("name", ["spec.json", "Summary.json", "preprocessing.json", "report.md", ".hidden"])
def test_score_refuses_a_name_of_the_directorys_own_files_up_front(tmp_path, name):
    _, z = copies()
    files = [tmp_path / "z.npz"]
    latents_file(files[0], np.stack(z))
    refused(cli("score", *files, "--name", name, "--out", tmp_path / "d"), "--name", repr(name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.npz"]


def test_score_out_may_be_a_link_to_an_empty_folder(tmp_path):
    _, z = copies()
    path = latents_file(tmp_path / "z.npz", np.stack(z))
    (tmp_path / "scratch").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "scratch")
    done = cli("score", path, "--out", tmp_path / "link")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "link").is_symlink() and (tmp_path / "scratch" / "summary.json").is_file()
    assert cli("results", tmp_path / "link").exit_code == 0
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    refused(cli("score", path, "--out", tmp_path / "dangling"), "symbolic link", "does not exist")


# ------------------------------------------------------------------------------ item 10: partial folders
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def partial(tmp_path, pid, *, age=3600.0, extra=None):
    """A partial folder of ``ica score --out tmp_path/d`` as a killed run leaves it, last changed ``age`` ago."""
    folder = tmp_path / f".d.partial-{pid}"
    seed = folder / "embeddings" / "seeds" / "0"
    seed.mkdir(parents=True)
    np.savez(seed / "latents.npz", latents=np.zeros((4, 2)))
    (seed / ".result.json.a1b2c3.tmp").write_text("{")
    (folder / "spec.json").write_text("{}")
    if extra:
        (folder / extra).write_text("not ica's")
    then = time.time() - age
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))
    return folder


def test_score_removes_the_partial_folders_of_killed_runs_and_keeps_live_or_foreign_ones(tmp_path):
    _, z = copies()
    path = latents_file(tmp_path / "z.npz", np.stack(z))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed = partial(tmp_path / "a", dead_pid())
        live = partial(tmp_path / "b", running.pid)
        foreign = partial(tmp_path / "c", dead_pid(), extra="notes.txt")
        fresh = partial(tmp_path / "e", dead_pid(), age=0)  # perhaps another machine's, writing to a shared folder
        for folder in (killed, live, foreign, fresh):
            done = cli("score", path, "--out", folder.parent / "d")
            assert done.exit_code == 0, done.output
        assert not killed.exists()
        assert live.exists() and foreign.exists() and fresh.exists()
    finally:
        running.kill()
        running.wait()


# ------------------------------------------------------------------------------ item 12: small ones
@pytest.mark.slow
def test_seeds_names_and_text_files_are_read_strictly(run, tmp_path):
    data = x_file(tmp_path / "new.npz")
    refused(encode(run, data, tmp_path / "z.npz", "--seeds", "1_0"), "--seeds", "plain digits")
    _, z = copies(seeds=2)
    files = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for f, zi in zip(files, z):
        np.save(f, zi)
    refused(cli("score", *files, "--seeds", "0,1_0", "--out", tmp_path / "d"), "--seeds", "plain digits")
    (tmp_path / "five.npz").write_text("hello")
    refused(encode(run, tmp_path / "five.npz", tmp_path / "z.npz"), "not an .npz or .npy file")
    refused(cli("score", files[0], tmp_path / "five.npz", "--out", tmp_path / "d"), "not an .npz or .npy file")
    for name in ("a\nb", "a\u202eb"):  # a newline; a right-to-left override
        refused(cli("score", *files, "--name", name, "--out", tmp_path / "d"), "--name", "control character")
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------------ item 13: identical inputs, seeds
def test_score_warns_of_identical_embeddings_and_records_it(tmp_path):
    _, z = copies()
    np.save(tmp_path / "one.npy", z[0])
    done = cli("score", *[tmp_path / "one.npy"] * 3, "--out", tmp_path / "d")
    assert done.exit_code == 0 and "warning:" in done.output and "identical embeddings" in done.output, done.output
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["cells"]["embeddings"]["notes"] == [
        "embeddings 0, 1, 2 are identical: their pairs score as one embedding with itself"
    ]
    stacked = latents_file(tmp_path / "stacked.npz", np.stack([z[0], z[1], z[0]]))
    done = cli("score", stacked, "--out", tmp_path / "e")
    assert done.exit_code == 0 and "(embedding 0), " in done.output and "(embedding 2) are identical" in done.output
    done = cli("score", latents_file(tmp_path / "distinct.npz", np.stack(z)), "--out", tmp_path / "f")
    assert done.exit_code == 0 and "warning" not in done.output
    assert "notes" not in json.loads((tmp_path / "f" / "summary.json").read_text())["cells"]["embeddings"]


def test_score_refuses_a_files_duplicate_or_extra_seeds_unless_seeds_are_given(tmp_path):
    _, z = copies(seeds=2)
    for seeds in ([0, 0], [0, 1, 2], [-1, 0]):
        path = latents_file(tmp_path / "z.npz", np.stack(z), seeds=np.array(seeds))
        refused(cli("score", path, "--out", tmp_path / "d"), str(path), "'seeds'", "--seeds")
        done = cli("score", path, "--seeds", "3,7", "--out", tmp_path / "d")
        assert done.exit_code == 0, done.output
        status = json.loads((tmp_path / "d" / "summary.json").read_text())["cells"]["embeddings"]["status"]
        assert list(status) == ["3", "7"]
        for p in sorted((tmp_path / "d").rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        (tmp_path / "d").rmdir()


# ------------------------------------------------------------------------------ item 16: memory
@pytest.mark.slow
def test_inputs_beyond_available_memory_are_refused_from_their_headers(run, tmp_path, monkeypatch):
    from ica.running import resources

    big = x_file(tmp_path / "big.npz", rows=100_000)  # a large input still encodes
    done = encode(run, big, tmp_path / "z.npz")
    assert done.exit_code == 0 and np.load(tmp_path / "z.npz")["latents"].shape[:2] == (2, 100_000), done.output
    np.savez_compressed(tmp_path / "many.npz", x=np.zeros((200_000, 3)))  # 4.8 MB in a few kB
    np.savez_compressed(tmp_path / "lat.npz", latents=np.zeros((2, 100_000, 3)))
    monkeypatch.setattr(resources, "host_available", lambda: 2_000_000)
    refused(
        encode(run, tmp_path / "many.npz", tmp_path / "y.npz"), "many.npz", "'x'", "[200000, 3]", "4.8 MB", "2.0 MB"
    )
    refused(cli("score", tmp_path / "lat.npz", "--out", tmp_path / "d"), "lat.npz", "'latents'", "[2, 100000, 3]")
    small = x_file(tmp_path / "small.npz", rows=20_000)  # 480 kB in, about 3 MB of latents while written
    refused(encode(run, small, tmp_path / "y.npz"), "small.npz", "encoding its 20000 rows", "more than the 2.0 MB")
    assert not (tmp_path / "y.npz").exists() and not (tmp_path / "d").exists()
