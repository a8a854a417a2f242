"""``ica score`` through the CLI: embeddings from files (one per seed, or with a seed axis, or an ``ica encode``
output) get a run's numbers, known answers included, and a run-like directory that ``ica results`` and
``ica report`` read; bad inputs are exit 2 with one message, and nothing half-written is left."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import ica
from conftest import TINY_SPEC, cli
from ica.errors import IcaError
from ica.running.building import raw_data
from ica.spec.load import json_digest


def copies(tmp_path, noise=0.0, seeds=3):
    """Permuted, sign-flipped, rescaled copies of Laplace sources (plus noise), one .npy per seed."""
    rng = np.random.default_rng(0)
    s = rng.laplace(size=(1000, 4))
    np.savez(tmp_path / "sources.npz", s=s)
    files = []
    for seed in range(seeds):
        z = s[:, rng.permutation(4)] * rng.choice([-1.0, 1.0], 4) * rng.uniform(0.5, 3, 4)
        files.append(tmp_path / f"seed{seed}.npy")
        np.save(files[-1], z + noise * rng.normal(size=z.shape))
    return files


def stats(directory, label):
    return json.loads((directory / label / "summary.json").read_text())["stats"]


def test_copies_of_the_sources_score_one_and_the_directory_reads_back(tmp_path):
    files = copies(tmp_path)
    done = cli("score", *files, "--sources", tmp_path / "sources.npz", "--name", "copies", "--out", tmp_path / "d")
    assert done.exit_code == 0, done.output
    numbers = stats(tmp_path / "d", "copies")
    for metric in ("mcc", "cca_mcc_in", "cca_mcc_out"):
        assert numbers[metric]["median"] > 0.999 and numbers[metric]["n"] == 3
    np.savez(
        tmp_path / "x.npz",
        x=np.load(tmp_path / "sources.npz")["s"] @ [[1, 2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    )
    floors = cli(
        "score",
        *files,
        "--sources",
        tmp_path / "sources.npz",
        "--observations",
        tmp_path / "x.npz",
        "--out",
        tmp_path / "with_floors",
    )
    assert floors.exit_code == 0 and "MCC floors (same points): observations" in floors.output, floors.output
    assert "fastica" in floors.output
    results = cli("results", tmp_path / "d", "--json")
    assert results.exit_code == 0, results.output
    [row] = json.loads(results.output)
    assert row["model"] == "copies" and row["seeds"]["finished"] == 3 and row["metrics"]["mcc"] == numbers["mcc"]
    report = cli("report", tmp_path / "d")
    assert report.exit_code == 0, report.output
    assert "copies" in (tmp_path / "d" / "report.md").read_text()
    spec = json.loads((tmp_path / "d" / "spec.json").read_text())  # its hash is the digest of what was scored
    hashed = spec.pop("spec_hash")
    assert hashed == json_digest(spec) == json.loads((tmp_path / "d" / "summary.json").read_text())["spec_hash"]


def test_independent_noise_scores_near_zero_out_of_sample(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "z.npz", latents=rng.normal(size=(4, 2000, 3)))  # one file with a seed axis
    done = cli("score", tmp_path / "z.npz", "--out", tmp_path / "d")
    assert done.exit_code == 0, done.output
    numbers = stats(tmp_path / "d", "embeddings")
    assert numbers["cca_mcc_out"]["n"] == 6 and abs(numbers["cca_mcc_out"]["median"]) < 0.1
    assert numbers["cca_mcc_in"]["median"] > numbers["cca_mcc_out"]["median"]  # fitted on the points it scores


@pytest.mark.slow
def test_an_ica_encode_output_scores_what_the_run_summary_says(tmp_path):
    spec = copy.deepcopy(TINY_SPEC)
    ica.run(spec, out=tmp_path / "run")
    points = raw_data(ica.load(tmp_path / "run", model="vade").spec, ica.registry()).eval
    np.savez(tmp_path / "eval.npz", x=points.x.numpy(), u=points.u.numpy(), s=points.s.numpy())
    assert (
        cli(
            "encode", tmp_path / "run", "--model", "vade", "--data", tmp_path / "eval.npz", "--out", tmp_path / "z.npz"
        ).exit_code
        == 0
    )
    done = cli(
        "score",
        tmp_path / "z.npz",
        "--sources",
        tmp_path / "eval.npz",
        "--labels",
        tmp_path / "eval.npz",
        "--out",
        tmp_path / "d",
    )
    assert done.exit_code == 0, done.output
    run = json.loads((tmp_path / "run" / "summary.json").read_text())["cells"]["vade"]
    expected = {
        k: v
        for k, v in run["stats"].items()  # embeddings have no ELBO, no untrained networks and here
        if not k.startswith(("elbo", "bpd")) and not k.endswith(("_untrained", "_observations"))
    }  # no x
    assert "cluster_ari_truth" in expected and stats(tmp_path / "d", "embeddings") == expected
    scored = json.loads((tmp_path / "d" / "summary.json").read_text())["cells"]["embeddings"]
    trained_pairs = [{k: v for k, v in p.items() if not k.endswith("_untrained")} for p in run["pairs"]]
    assert scored["pairs"] == trained_pairs and list(scored["status"]) == ["0", "1"]  # the file's own seeds
    side_by_side = cli("results", tmp_path / "run", tmp_path / "d", "--json")  # a trained run beside its scores
    assert side_by_side.exit_code == 0, side_by_side.output
    rows = json.loads(side_by_side.output)
    assert [r["model"] for r in rows] == ["ivae", "vade", "embeddings"]
    assert all(r["settings"] == {} for r in rows)  # not every setting of the run as a column "differing"
    assert set(rows[2]["metrics"]) < set(rows[1]["metrics"])  # the run also has its ELBO
    assert all(rows[2]["metrics"][k] == rows[1]["metrics"][k] for k in rows[2]["metrics"])
    with pytest.raises(IcaError, match="scored by `ica score`"):
        ica.load(tmp_path / "d")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    refused = cli("run", tmp_path / "spec.json", "--out", tmp_path / "d")  # not a directory of this spec
    assert refused.exit_code == 2, refused.output


def test_bad_inputs_are_one_message_and_exit_2_and_leave_nothing(tmp_path):
    files = copies(tmp_path, seeds=2)
    np.save(tmp_path / "short.npy", np.zeros((10, 4)))
    np.save(tmp_path / "flat.npy", np.zeros(10))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    np.savez(tmp_path / "two.npz", a=np.zeros((5, 2)), b=np.zeros((5, 2)))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    cases = [
        ([files[0], tmp_path / "missing.npy"], "is not a file"),
        ([files[0], tmp_path / "short.npy"], "same points"),
        ([files[0], tmp_path / "flat.npy"], "give [N, d] or [S, N, d]"),
        ([files[0], tmp_path / "objects.npy"], "plain arrays"),
        ([tmp_path / "two.npz"], "none is named 'latents'"),
        ([*files, "--seeds", "0,x"], "--seeds must be integers"),
        ([*files, "--seeds", "0,0"], "seeds must name each"),
        ([*files, "--name", "../up"], "not a plain directory name"),
        ([*files, "--sources", tmp_path / "short.npy"], "sources must be"),
    ]
    for args, fragment in cases:
        done = cli("score", *args, "--out", tmp_path / "out")
        assert done.exit_code == 2, (args, done.output)
        assert fragment in done.output and "Traceback" not in done.output, done.output
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    done = cli("score", *files, "--out", tmp_path / "full")
    assert done.exit_code == 2 and "not an empty directory" in done.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_an_interrupted_score_leaves_no_directory(tmp_path, monkeypatch):
    from ica.trained import score_directory

    files = copies(tmp_path, seeds=2)

    def interrupted(out, *args):
        (out / "half").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(score_directory, "_write", interrupted)
    done = cli("score", *files, "--out", tmp_path / "out")
    assert done.exit_code == 130
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
