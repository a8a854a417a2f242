"""`check_splits` and time order: a split whose ``sequence`` is no time order of its rows is refused, whichever
plugin made it, naming the data set and the split."""

from __future__ import annotations

import types
from dataclasses import replace

import pytest
import torch

from ica.components.protocols import DataSplits, Split
from ica.components.registry import Registry
from ica.errors import DataError
from ica.plugin import DatasetOptions, hookimpl
from ica.running.data_limits import check_splits
from ica.running.validate import check

IVAE = {
    "name": "ivae",
    "latent_dim": 2,
    "encoder": {"name": "mlp", "hidden": [8]},
    "decoder": {"name": "mlp", "hidden": [8]},
}


def splits(train_sequence=None, eval_sequence=None) -> DataSplits:
    def split(n: int, sequence) -> Split:
        return Split(torch.randn(n, 3), torch.arange(n) % 2, torch.randn(n, 3), sequence=sequence)

    return DataSplits(split(20, train_sequence), split(10, eval_sequence), n_u=2)


GOOD_TRAIN, GOOD_EVAL = torch.arange(20) // 5, torch.zeros(10, dtype=torch.int64)


def test_no_sequence_and_sound_sequences_pass():
    check_splits(splits(), "bare")
    check_splits(splits(GOOD_TRAIN, GOOD_EVAL), "bare")
    check_splits(splits(GOOD_TRAIN, None), "bare")  # time order in training only is fine


@pytest.mark.parametrize(
    "data, fragment",
    [
        (splits(torch.tensor([0, 1] * 10), GOOD_EVAL), "bare: the training split's time order (sequence): recording 0"),
        (splits(GOOD_TRAIN, GOOD_EVAL[:9]), "bare: the evaluation split's time order (sequence): has shape [9]"),
        (splits(GOOD_TRAIN, GOOD_EVAL.float()), "bare: the evaluation split's time order (sequence): holds float32"),
        (splits(GOOD_TRAIN[:, None], GOOD_EVAL), "the training split's time order (sequence): has shape [20, 1]"),
    ],
)
def test_a_sequence_with_a_problem_is_refused(data, fragment):
    with pytest.raises(DataError) as info:
        check_splits(data, "bare")
    assert info.value.where == "data" and fragment in info.value.message, info.value.message


class BareOptions(DatasetOptions):
    """A third-party data set that returns whatever the test gives it."""


def test_any_plugin_s_bad_time_order_is_refused_at_validation(tiny_spec):
    data = splits(GOOD_TRAIN, GOOD_EVAL)
    bad = replace(data, train=replace(data.train, sequence=torch.tensor([3, 3, 4, 4, 3] + [5] * 15)))
    module = types.ModuleType("bare_plugin")
    module.ica_register = hookimpl(lambda register: register("dataset", "bare", BareOptions, lambda o, c: bad))
    tiny_spec["data"] = {"name": "bare"}
    tiny_spec["models"] = {"m": IVAE}
    with pytest.raises(DataError) as info:
        check(tiny_spec, Registry.load(entry_points=False, extra=[("tests", module)]))
    assert "bare: the training split's time order (sequence): recording 3 is not contiguous" in info.value.message
