"""The built-in data sets: the TCL generator of §4.1 and the ``.npz`` loader, with their validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ica.errors import DataError
from ica.plugins.datasets import npz as npz_plugin
from ica.plugins.datasets import tcl as tcl_plugin
from ica.plugins.datasets.npz import NPZOptions, load_npz
from ica.plugins.datasets.tcl import TCLOptions, generate_tcl, mix, mixing_matrices
from ica.components.protocols import BuildContext, DataSplits

SMALL = dict(segments=3, samples_per_segment=50, eval_samples_per_segment=20, dim=3)


def splits_equal(a: DataSplits, b: DataSplits) -> bool:
    return all(
        torch.equal(getattr(sa, f), getattr(sb, f))
        for sa, sb in ((a.train, b.train), (a.eval, b.eval))
        for f in ("x", "u", "s")
    )


# ================================================================================================ TCL
def test_tcl_same_options_give_identical_data():
    a, b = generate_tcl(TCLOptions(**SMALL)), generate_tcl(TCLOptions(**SMALL))
    assert splits_equal(a, b)
    assert a.info == b.info


def test_tcl_data_seed_changes_everything():
    a, b = generate_tcl(TCLOptions(**SMALL, data_seed=0)), generate_tcl(TCLOptions(**SMALL, data_seed=1))
    assert not torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.train.s, b.train.s)
    assert not torch.equal(a.eval.x, b.eval.x)
    assert a.info["segment_means"] != b.info["segment_means"]


def test_tcl_shapes_dtypes_and_segment_counts():
    data = tcl_plugin.build(TCLOptions(**SMALL), BuildContext())
    assert isinstance(data, DataSplits)
    for split, n in ((data.train, 50), (data.eval, 20)):
        assert split.x.shape == (3 * n, 3) and split.x.dtype == torch.float32
        assert split.s.shape == (3 * n, 3) and split.s.dtype == torch.float32
        assert split.u.shape == (3 * n,) and split.u.dtype == torch.int64
        assert split.x.device.type == "cpu"
        assert torch.isfinite(split.x).all()
        assert torch.bincount(split.u).tolist() == [n] * 3
    assert data.n_u == 3 and data.x_shape == (3,) and data.source_dim == 3
    info = data.info
    assert np.array(info["segment_means"]).shape == (3, 3) and np.array(info["segment_stds"]).shape == (3, 3)
    assert info["options"]["segments"] == 3 and len(info["condition_numbers"]) == 4


def test_tcl_follows_the_documented_draw_order():
    """Rebuild the data from the module docstring's recipe: parameters, spawn(3), sources, mixing."""
    opts = TCLOptions(**SMALL, data_seed=5, mixing_layers=3, mixing="exact")
    data = generate_tcl(opts)
    root = np.random.Generator(np.random.PCG64(5))
    means = root.uniform(-3, 3, size=(3, 3))
    stds = root.uniform(0.01, 3, size=(3, 3))
    train_rng, _, mixing_rng = root.spawn(3)
    s = (train_rng.standard_normal((3, 50, 3)) * stds[:, None] + means[:, None]).reshape(150, 3)
    x = mix(s, mixing_matrices(mixing_rng, 3, 3, 2.0), 0.2)
    np.testing.assert_array_equal(data.train.s.numpy(), s.astype(np.float32))
    np.testing.assert_array_equal(data.train.x.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(np.array(data.info["segment_means"]), means)


def test_tcl_sources_match_recorded_segment_parameters():
    """With n samples per segment the standard error of a mean is σ/√n and that of a standard deviation about
    σ/√(2n); 5 standard errors bound every one of the 2 × 12 comparisons (false-alarm odds ~1e-5 each; the
    data are fixed by the seed anyway)."""
    n = 20_000
    data = generate_tcl(TCLOptions(segments=4, samples_per_segment=n, eval_samples_per_segment=n, dim=3))
    means, stds = np.array(data.info["segment_means"]), np.array(data.info["segment_stds"])
    assert ((means >= -3) & (means < 3)).all() and ((stds >= 0.01) & (stds < 3)).all()
    for split in (data.train, data.eval):
        s, u = split.s.numpy().astype(np.float64), split.u.numpy()
        for k in range(4):
            seg = s[u == k]
            assert np.all(np.abs(seg.mean(0) - means[k]) < 5 * stds[k] / math.sqrt(n))
            assert np.all(np.abs(seg.std(0, ddof=1) / stds[k] - 1) < 5 / math.sqrt(2 * n))


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
@pytest.mark.parametrize("kappa", [1.0, 1.5, 4.0, 30.0])
def test_mixing_matrices_have_exact_condition_number(dim, kappa):
    matrices = mixing_matrices(np.random.default_rng(3), dim, 4, kappa)
    assert len(matrices) == 4
    for w in matrices:
        assert w.shape == (dim, dim)
        assert np.linalg.matrix_rank(w) == dim
        assert np.linalg.cond(w) == pytest.approx(kappa, rel=1e-6)
        if kappa == 1.0:
            np.testing.assert_allclose(w @ w.T, np.eye(dim), atol=1e-12)


def test_mixing_matrices_one_dimension_is_full_rank():
    for w in mixing_matrices(np.random.default_rng(0), 1, 3, 4.0):
        assert w.shape == (1, 1) and 0.5 <= abs(w[0, 0]) <= 2.0


def test_tcl_records_condition_numbers():
    data = generate_tcl(TCLOptions(**SMALL, mixing="exact", max_condition=7.0, mixing_layers=2))
    assert data.info["condition_numbers"] == pytest.approx([7.0, 7.0], rel=1e-6)


def test_tcl_eval_size_leaves_training_data_unchanged():
    a = generate_tcl(TCLOptions(**{**SMALL, "eval_samples_per_segment": 20}))
    b = generate_tcl(TCLOptions(**{**SMALL, "eval_samples_per_segment": 33}))
    for f in ("x", "u", "s"):
        assert torch.equal(getattr(a.train, f), getattr(b.train, f))
    assert torch.equal(a.eval.x[:20], b.eval.x[:20])  # segment 0's first draws share the eval stream
    assert a.info["condition_numbers"] == b.info["condition_numbers"]


def test_tcl_training_size_keeps_segment_parameters_and_mixing():
    a = generate_tcl(TCLOptions(**{**SMALL, "samples_per_segment": 50}))
    b = generate_tcl(TCLOptions(**{**SMALL, "samples_per_segment": 80}))
    assert a.info["segment_means"] == b.info["segment_means"]
    assert a.info["segment_stds"] == b.info["segment_stds"]
    assert torch.equal(a.eval.x, b.eval.x)


def _linear_residual(data: DataSplits) -> float:
    s, x = data.train.s.numpy().astype(np.float64), data.train.x.numpy().astype(np.float64)
    coef, *_ = np.linalg.lstsq(s, x, rcond=None)
    return float(np.linalg.norm(x - s @ coef) / np.linalg.norm(x))


def test_tcl_one_layer_is_linear_and_four_are_not():
    """float32 storage leaves a relative residual ~1e-7 for a linear map; LeakyReLU(0.2) leaves percent."""
    assert _linear_residual(generate_tcl(TCLOptions(**SMALL, mixing_layers=1))) < 1e-6
    assert _linear_residual(generate_tcl(TCLOptions(**SMALL, mixing_layers=4))) > 1e-2


@pytest.mark.parametrize(
    "bad",
    [
        {"segments": 1},
        {"samples_per_segment": 0},
        {"eval_samples_per_segment": 0},
        {"dim": 0},
        {"mixing_layers": 0},
        {"negative_slope": 0.0},
        {"negative_slope": 1.5},
        {"max_condition": 0.5},
        {"data_seed": -1},
        {"std_range": (0.0, 1.0)},
        {"std_range": (-1.0, 1.0)},
        {"std_range": (2.0, 2.0)},
        {"std_range": (3.0, 1.0)},
        {"mean_range": (1.0, 0.5)},
        {"mean_range": (1.0, -1.0)},
        {"mean_range": (float("-inf"), 1.0)},
        {"unknown": 1},
    ],
)
def test_tcl_options_reject_bad_values(bad):
    with pytest.raises(ValidationError):
        TCLOptions(**bad)


def test_tcl_defaults_are_the_papers():
    o = TCLOptions()
    assert (o.segments, o.dim, o.mixing_layers, o.samples_per_segment) == (20, 5, 4, 1000)
    assert o.means == (-3, 3) and o.stds == (0.01, 3) and o.standardize is False


# ================================================================================================ npz
def write(tmp_path: Path, name: str = "data.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def expect_error(options: NPZOptions, where: str, *fragments: str) -> DataError:
    with pytest.raises(DataError) as info:
        load_npz(options)
    err = info.value
    assert err.where == where, err
    for fragment in fragments:
        assert fragment in err.message, err.message
    return err


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(10, 4)), "u": np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 1]), "s": rng.normal(size=(10, 2))}


def test_npz_round_trip_with_u_and_s(tmp_path, arrays):
    data = npz_plugin.build(NPZOptions(path=write(tmp_path, **arrays)), BuildContext())
    assert len(data.train) == 8 and len(data.eval) == 2
    np.testing.assert_array_equal(data.train.x.numpy(), arrays["x"][:8].astype(np.float32))
    np.testing.assert_array_equal(data.eval.s.numpy(), arrays["s"][8:].astype(np.float32))
    assert data.train.x.dtype == torch.float32 and data.train.s.dtype == torch.float32
    assert data.train.u.dtype == torch.int64 and data.train.u.tolist() == arrays["u"][:8].tolist()
    assert data.n_u == 3 and data.info["u_labels"] == [0, 1, 2] and data.source_dim == 2


def test_npz_round_trip_without_u_and_s(tmp_path, arrays):
    data = load_npz(NPZOptions(path=write(tmp_path, x=arrays["x"])))
    assert data.train.u is None and data.eval.u is None and data.n_u is None
    assert data.train.s is None and data.eval.s is None
    assert data.info["keys"] == {"x": "x", "u": None, "s": None}


def test_npz_null_keys_ignore_arrays(tmp_path, arrays):
    data = load_npz(NPZOptions(path=write(tmp_path, **arrays), u_key=None, sources_key=None))
    assert data.train.u is None and data.train.s is None


def test_npz_custom_keys_and_extra_axes(tmp_path):
    images = np.arange(6 * 2 * 3, dtype=np.uint8).reshape(6, 2, 3)
    path = write(tmp_path, images=images, labels=np.array([5, 5, 9, 9, 5, 9]))
    data = load_npz(NPZOptions(path=path, x_key="images", u_key="labels", eval_fraction=0.34))
    assert data.x_shape == (2, 3) and data.info["x_shape"] == [2, 3]
    assert data.train.x.dtype == torch.float32 and len(data.train) == 4 and len(data.eval) == 2
    assert data.train.u.tolist() == [0, 0, 1, 1] and data.eval.u.tolist() == [0, 1]


@pytest.mark.parametrize("n, fraction, n_eval", [(10, 0.2, 2), (10, 0.3, 3), (10, 0.25, 3), (7, 0.5, 4), (50, 0.1, 5)])
def test_npz_eval_fraction_takes_the_last_rows(tmp_path, n, fraction, n_eval):
    x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    data = load_npz(NPZOptions(path=write(tmp_path, x=x), eval_fraction=fraction))
    assert len(data.eval) == n_eval and len(data.train) == n - n_eval
    np.testing.assert_array_equal(data.train.x.numpy(), x[: n - n_eval])
    np.testing.assert_array_equal(data.eval.x.numpy(), x[n - n_eval :])


def test_npz_eval_path(tmp_path, arrays):
    rng = np.random.default_rng(1)
    ev = {"x": rng.normal(size=(5, 4)), "u": np.array([2, 2, 0, 1, 0]), "s": rng.normal(size=(5, 2))}
    data = load_npz(NPZOptions(path=write(tmp_path, **arrays), eval_path=write(tmp_path, "eval.npz", **ev)))
    assert len(data.train) == 10 and len(data.eval) == 5
    np.testing.assert_array_equal(data.eval.x.numpy(), ev["x"].astype(np.float32))
    assert data.eval.u.tolist() == [2, 2, 0, 1, 0]
    assert data.info["eval_path"].endswith("eval.npz") and data.info["eval_split"] == "file"


def test_npz_labels_are_relabelled_with_one_mapping(tmp_path):
    x = np.zeros((4, 2))
    path = write(tmp_path, x=x, u=np.array([3, 7, 7, 3]))
    eval_path = write(tmp_path, "eval.npz", x=np.zeros((3, 2)), u=np.array([7, 3, 7]))
    data = load_npz(NPZOptions(path=path, eval_path=eval_path))
    assert data.train.u.tolist() == [0, 1, 1, 0] and data.eval.u.tolist() == [1, 0, 1]
    assert data.n_u == 2 and data.info["u_labels"] == [3, 7]


def test_npz_whole_number_float_labels_are_accepted(tmp_path):
    path = write(tmp_path, x=np.zeros((5, 2)), u=np.array([4.0, 2.0, 2.0, 4.0, 2.0]))
    data = load_npz(NPZOptions(path=path, eval_fraction=0.4))
    assert data.train.u.dtype == torch.int64
    assert data.train.u.tolist() == [1, 0, 0] and data.eval.u.tolist() == [1, 0]
    assert data.info["u_labels"] == [2, 4]


def test_npz_column_labels_are_accepted(tmp_path):
    u = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])[:, None]
    data = load_npz(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=u)))
    assert data.train.u.tolist() == [1, 0, 1, 0, 1, 0, 1, 0] and data.eval.u.tolist() == [1, 0]


# ------------------------------------------------------------------------------------- npz errors
def test_npz_missing_file(tmp_path):
    err = expect_error(NPZOptions(path=str(tmp_path / "absent.npz")), "data.path", "absent.npz", "does not exist")
    assert str(tmp_path.resolve()) in err.message


def test_npz_missing_eval_file(tmp_path, arrays):
    opts = NPZOptions(path=write(tmp_path, **arrays), eval_path=str(tmp_path / "gone.npz"))
    expect_error(opts, "data.eval_path", "gone.npz", "does not exist")


def _valid_npz_bytes(tmp_path: Path) -> bytes:
    return Path(write(tmp_path, "ok.npz", x=np.zeros((50, 3)))).read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        lambda tmp: b"this is a text file, not an archive",
        lambda tmp: b"",
        lambda tmp: b"PK\x03\x04 and then nonsense",
        lambda tmp: _valid_npz_bytes(tmp)[:120],
    ],
    ids=["text", "empty", "zip-header-only", "truncated"],
)
def test_npz_not_a_valid_archive(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content(tmp_path))
    expect_error(NPZOptions(path=str(path)), "data.path", "broken.npz", "not a valid .npz")


def test_npz_single_npy_file_is_rejected(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((4, 2)))
    expect_error(NPZOptions(path=str(tmp_path / "plain.npy")), "data.path", "plain.npy", ".npz")


def test_npz_object_arrays_are_unsupported(tmp_path):
    path = write(tmp_path, x=np.array([{"a": 1}, None, 3, 4], dtype=object))
    expect_error(NPZOptions(path=path), "data.x_key", "data.npz", "'x'", "objects")


def test_npz_missing_x_key_lists_keys(tmp_path, arrays):
    path = write(tmp_path, **arrays)
    expect_error(NPZOptions(path=path, x_key="obs"), "data.x_key", "data.npz", "'obs'", "['s', 'u', 'x']")


@pytest.mark.parametrize("field, where", [("u_key", "data.u_key"), ("sources_key", "data.sources_key")])
@pytest.mark.parametrize("key", ["labels", "u", "s"])
def test_npz_explicit_key_must_exist(tmp_path, field, where, key):
    path = write(tmp_path, x=np.zeros((10, 2)))
    expect_error(NPZOptions(path=path, **{field: key}), where, "data.npz", repr(key), "['x']")


def test_npz_require_u(tmp_path):
    path = write(tmp_path, x=np.zeros((10, 2)))
    expect_error(NPZOptions(path=path, require_u=True), "data.u_key", "data.npz", "'u'")
    with pytest.raises(ValidationError):
        NPZOptions(path=path, require_u=True, u_key=None)


def test_npz_eval_file_must_have_trainings_variables(tmp_path, arrays):
    eval_path = write(tmp_path, "eval.npz", x=np.zeros((4, 4)), s=np.zeros((4, 2)))
    expect_error(NPZOptions(path=write(tmp_path, **arrays), eval_path=eval_path), "data.u_key", "eval.npz", "'u'")


@pytest.mark.parametrize(
    "x, fragment",
    [
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "dtype"),
        (np.ones((4, 2), dtype=np.complex64), "dtype"),
        (np.zeros(10), "at least 2-D"),
        (np.float64(3.0), "at least 2-D"),
    ],
    ids=["strings", "complex", "1-D", "scalar"],
)
def test_npz_bad_x(tmp_path, x, fragment):
    expect_error(NPZOptions(path=write(tmp_path, x=x)), "data.x_key", "data.npz", "'x'", fragment)


@pytest.mark.parametrize("key, where", [("u", "data.u_key"), ("s", "data.sources_key")])
def test_npz_row_counts_must_agree(tmp_path, arrays, key, where):
    arrays[key] = arrays[key][:7]
    expect_error(NPZOptions(path=write(tmp_path, **arrays)), where, "data.npz", f"'{key}'", "7 rows", "10")


@pytest.mark.parametrize(
    "key, where, value", [("x", "data.x_key", np.nan), ("s", "data.sources_key", np.inf), ("x", "data.x_key", 1e300)]
)
def test_npz_non_finite_values(tmp_path, arrays, key, where, value):
    arrays[key][3, 1] = value
    arrays[key][6, 0] = value
    expect_error(NPZOptions(path=write(tmp_path, **arrays)), where, "data.npz", "2 non-finite", "row 3")


@pytest.mark.parametrize(
    "u, fragment",
    [
        (np.array([0.0, 1.5, 1.0, 0.0, 1.0, 0.0]), "whole numbers"),
        (np.array([0.0, np.nan, 1.0, 0.0, 1.0, 0.0]), "whole numbers"),
        (np.array(["a", "b", "a", "b", "a", "b"]), "dtype"),
        (np.array([0, -2, 1, 0, 1, 0]), "negative"),
        (np.array([0.0, -1.0, 1.0, 0.0, 1.0, 0.0]), "negative"),
        (np.zeros((6, 2), dtype=np.int64), "shape"),
    ],
    ids=["fraction", "nan", "strings", "negative-int", "negative-float", "2-D"],
)
def test_npz_bad_labels(tmp_path, u, fragment):
    err = expect_error(
        NPZOptions(path=write(tmp_path, x=np.zeros((6, 2)), u=u)), "data.u_key", "data.npz", "'u'", fragment
    )
    if fragment in ("whole numbers", "negative"):
        assert "row 1" in err.message


def test_npz_eval_label_unseen_in_training(tmp_path):
    path = write(tmp_path, x=np.zeros((4, 2)), u=np.array([3, 7, 7, 3]))
    eval_path = write(tmp_path, "eval.npz", x=np.zeros((3, 2)), u=np.array([7, 5, 3]))
    expect_error(NPZOptions(path=path, eval_path=eval_path), "data.eval_path", "eval.npz", "[5]")
    fraction_path = write(tmp_path, "one.npz", x=np.zeros((5, 2)), u=np.array([0, 0, 1, 0, 2]))
    expect_error(NPZOptions(path=fraction_path, eval_fraction=0.4), "data.eval_fraction", "one.npz", "[2]")


@pytest.mark.parametrize("s", [np.zeros(10), np.zeros((10, 2, 2))], ids=["1-D", "3-D"])
def test_npz_sources_must_be_2d(tmp_path, s):
    expect_error(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), s=s)), "data.sources_key", "data.npz", "2-D")


def test_npz_eval_file_shapes_must_match(tmp_path, arrays):
    eval_path = write(tmp_path, "eval.npz", x=np.zeros((4, 3)), u=np.zeros(4, dtype=int), s=np.zeros((4, 2)))
    expect_error(NPZOptions(path=write(tmp_path, **arrays), eval_path=eval_path), "data.eval_path", "eval.npz")


@pytest.mark.parametrize("n, fraction", [(5, 0.2), (3, 0.5), (10, 0.9)])
def test_npz_fraction_must_leave_two_rows_each(tmp_path, n, fraction):
    expect_error(
        NPZOptions(path=write(tmp_path, x=np.zeros((n, 2))), eval_fraction=fraction),
        "data.eval_fraction",
        "data.npz",
        "at least 2",
    )


def test_npz_files_must_have_two_rows(tmp_path):
    one, many = write(tmp_path, "one.npz", x=np.zeros((1, 2))), write(tmp_path, "many.npz", x=np.zeros((5, 2)))
    expect_error(NPZOptions(path=many, eval_path=one), "data.eval_path", "one.npz", "at least 2")
    expect_error(NPZOptions(path=one, eval_path=many), "data.path", "one.npz", "at least 2")


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"path": "a.npz", "eval_fraction": 0.0},
        {"path": "a.npz", "eval_fraction": 1.0},
        {"path": "a.npz", "x_key": ""},
        {"path": "a.npz", "bogus": 1},
    ],
)
def test_npz_options_reject_bad_values(bad):
    with pytest.raises(ValidationError):
        NPZOptions(**bad)


# ======================================================================================= registration
def test_plugins_register_their_datasets():
    calls = []

    def register(kind, name, options, build, description=""):
        calls.append((kind, name, options, build, description))

    tcl_plugin.ica_register(register)
    npz_plugin.ica_register(register)
    assert [(c[0], c[1]) for c in calls] == [("dataset", "tcl"), ("dataset", "npz")]
    assert calls[0][2] is TCLOptions and calls[0][3] is tcl_plugin.build
    assert calls[1][2] is NPZOptions and calls[1][3] is npz_plugin.build
    assert all(c[4] and "\n" not in c[4] for c in calls)
    for options in (TCLOptions, NPZOptions):
        for name, info in options.model_fields.items():
            assert info.description, f"{options.__name__}.{name} has no description"
