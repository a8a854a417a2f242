"""The optional TensorBoard logger: scalars per seed at every log step, hparams with final metrics."""

from __future__ import annotations

import pytest

import ica

pytestmark = pytest.mark.slow  # every test here trains

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def events(directory):
    acc = event_accumulator.EventAccumulator(str(directory))
    acc.Reload()
    return acc


def test_tensorboard_logs_every_seed(tiny_spec, tmp_path):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    tiny_spec["training"]["logger"] = "tensorboard"
    ica.run(tiny_spec, out=tmp_path)
    for seed in (0, 1):
        acc = events(tmp_path / "vade" / "seeds" / str(seed) / "tensorboard")
        assert {"loss", "kl", "log_likelihood", "lr"} <= set(acc.Tags()["scalars"])
        assert [e.step for e in acc.Scalars("loss")] == [10, 20, 30]
        assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
        assert {"final/elbo_train", "final/mcc"} <= set(acc.Tags()["scalars"]), "final metrics beside the hparams"


def test_no_tensorboard_files_by_default(tiny_spec, tmp_path):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    ica.run(tiny_spec, out=tmp_path)
    assert not (tmp_path / "vade" / "seeds" / "0" / "tensorboard").exists()
