"""``ica.consistency``: the pairwise agreement of any embeddings in one call, with the numbers ``ica score`` gives
on the same arrays (pairs and observation control), the rows it fits and scores named, and bad input refused."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.errors import DataError
from ica.trained.consistency import ConsistencyInputError, consistency
from ica.trained.scoring import IdenticalEmbeddings


@pytest.fixture(scope="module")
def arrays():
    """Three noisy linear views of 3 sources (one 4 wide), one unrelated embedding, and 8-d observations."""
    rng = np.random.default_rng(0)
    s = rng.laplace(size=(240, 3))
    views = [s @ rng.normal(size=(3, d)) + 0.3 * rng.normal(size=(240, d)) for d in (3, 3, 4)]
    x = np.tanh(s @ rng.normal(size=(3, 8)))
    return [*views, rng.normal(size=(240, 2))], x


def test_every_pair_and_the_observation_control_equal_what_ica_score_gives(arrays):
    z, x = arrays
    result = consistency(z, observations=x)
    summary = ica.score(z, observations=x)
    assert len(summary["pairs"]) == 6
    for pair in summary["pairs"]:
        i, j = pair["seeds"]
        assert result.cca_mcc[i, j] == result.cca_mcc[j, i] == pair["cca_mcc_out"]
        assert result.cca_mcc_in[i, j] == pair["cca_mcc_in"]
        assert result.consistency_r2[i, j] == result.consistency_r2[j, i] == pair["consistency_r2"]
    for seed, values in summary["seeds"].items():
        k = int(seed)
        assert result.observations is not None
        assert result.observations.cca_mcc[k] == values["cca_mcc_out_observations"]
        assert result.observations.cca_mcc_in[k] == values["cca_mcc_in_observations"]
        assert result.observations.consistency_r2[k] == values["consistency_r2_observations"]
    assert np.isnan(np.diag(result.cca_mcc)).all() and np.isnan(np.diag(result.consistency_r2)).all()
    assert min(result.cca_mcc[0, 1], result.cca_mcc[1, 2]) > 0.5 > 0.2 > result.cca_mcc[0, 3]  # noise agrees with none


def test_the_numbers_equal_those_the_ica_score_command_writes(arrays, tmp_path):
    z, x = arrays
    for i, e in enumerate(z):
        np.save(tmp_path / f"z{i}.npy", e)
    np.save(tmp_path / "x.npy", x)
    files = [tmp_path / f"z{i}.npy" for i in range(len(z))]
    done = CliRunner().invoke(
        app, ["score", *map(str, files), "--observations", str(tmp_path / "x.npy"), "--out", str(tmp_path / "d")]
    )
    assert done.exit_code == 0, done.output
    written = json.loads((tmp_path / "d" / "embeddings" / "summary.json").read_text())
    result = consistency([np.load(f) for f in files], observations=np.load(tmp_path / "x.npy"))
    for pair in written["pairs"]:
        i, j = pair["seeds"]
        assert result.cca_mcc[i, j] == pytest.approx(pair["cca_mcc_out"], abs=1e-12)
        assert result.consistency_r2[i, j] == pytest.approx(pair["consistency_r2"], abs=1e-12)
    assert result.observations is not None
    assert result.observations.cca_mcc[2] == pytest.approx(written["seeds"]["2"]["cca_mcc_out_observations"])


def test_directed_r2_is_each_half_of_the_consistency_r2_and_the_split_is_named(arrays):
    z, _ = arrays
    result = consistency(z, fit_fraction=0.25, shuffle_seed=3)
    np.testing.assert_allclose((result.directed_r2 + result.directed_r2.T) / 2, result.consistency_r2, atol=1e-12)
    assert result.directed_r2[0, 2] != result.directed_r2[2, 0]  # one way is not the other
    assert result.observations is None  # no observations given: no control
    assert len(result.fit_rows) == 60 and len(result.scored_rows) == 180
    assert sorted([*result.fit_rows, *result.scored_rows]) == list(range(240))
    np.testing.assert_array_equal(result.fit_rows, np.random.default_rng(3).permutation(240)[:60])
    kept = consistency(z, shuffle_seed=None)
    np.testing.assert_array_equal(kept.fit_rows, np.arange(120))
    assert kept.cca_mcc[0, 1] != result.cca_mcc[0, 1]
    same = consistency(z, fit_fraction=0.25, shuffle_seed=3)
    np.testing.assert_array_equal(same.cca_mcc, result.cca_mcc)  # a fixed seed: the same numbers every time


def test_names_from_a_dict_or_given_label_the_matrices_and_the_repr(arrays):
    z, x = arrays
    result = consistency({"cebra": z[0], "ivae": z[1], "pca": z[2]}, observations=x)
    assert result.names == ("cebra", "ivae", "pca")
    text = repr(result)
    assert "cebra" in text and "CCA-MCC out of sample" in text and "observations" in text
    assert f"{result.cca_mcc[0, 1]:.3f}" in text
    rows = result.pairs()
    assert [(r["a"], r["b"]) for r in rows] == [("cebra", "ivae"), ("cebra", "pca"), ("ivae", "pca")]
    assert rows[0]["r2_b_to_a"] == result.directed_r2[1, 0]
    stacked = consistency(np.stack([z[0], z[1]]), names=["a", "b"])
    assert stacked.names == ("a", "b") and stacked.cca_mcc.shape == (2, 2)


def test_to_frame_says_it_needs_pandas_where_there_is_none(arrays, monkeypatch):
    z, _ = arrays
    result = consistency(z[:2])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas"):
        result.to_frame()


def test_to_frame_gives_the_pairs_or_a_labelled_matrix(arrays):
    pd = pytest.importorskip("pandas")
    z, _ = arrays
    result = consistency({"a": z[0], "b": z[1], "c": z[2]})
    assert list(result.to_frame()["a"]) == ["a", "a", "b"]
    matrix = result.to_frame("consistency_r2")
    assert isinstance(matrix, pd.DataFrame) and matrix.loc["a", "c"] == result.consistency_r2[0, 2]
    with pytest.raises(ValueError, match="unknown measure"):
        result.to_frame("mcc")


def test_identical_embeddings_are_warned_of_and_noted(arrays):
    z, _ = arrays
    with pytest.warns(IdenticalEmbeddings, match="0, 2"):
        result = consistency([z[0], z[1], z[0].copy()])
    assert any("identical" in note for note in result.notes)
    assert result.cca_mcc[0, 2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda z, x: consistency([z[0], z[1][:-1]]), ["embedding 1 has 239 points", "embedding 0 has 240"]),
        (lambda z, x: consistency([z[0]]), ["two embeddings or more"]),
        (lambda z, x: consistency([z[0], np.where(z[1] > 2, np.nan, z[1])]), ["embedding 1", "non-finite"]),
        (lambda z, x: consistency(z, fit_fraction=1.0), ["fit_fraction", "between 0 and 1"]),
        (lambda z, x: consistency(z, shuffle_seed=-1), ["shuffle_seed"]),
        (lambda z, x: consistency(z, observations=x[:-1]), ["observations", "240 finite rows"]),
        (lambda z, x: consistency(z, observations=np.ones((240, 3))), ["observations", "same at every point"]),
        (lambda z, x: consistency(z[:2], names=["a", "a"]), ["names", "once"]),
        (lambda z, x: consistency({"a": z[0], "b": z[1]}, names=["c", "d"]), ["names", "not both"]),
        (lambda z, x: consistency([z[0][:3], z[1][:3]]), ["points >= 4"]),
    ],
    ids=["rows", "one", "nan", "fraction", "seed", "x-rows", "x-constant", "names", "names-twice", "few"],
)
def test_bad_input_is_one_value_error_naming_what_is_wrong(arrays, call, words):
    z, x = arrays
    with pytest.raises(ValueError) as caught:
        call(z, x)
    assert isinstance(caught.value, ConsistencyInputError) and isinstance(caught.value, DataError)
    for word in words:
        assert word in str(caught.value)
