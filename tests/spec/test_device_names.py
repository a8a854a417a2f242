"""A spec's ``device`` as torch writes it (`ica.spec.devices`): what torch's own parser reads and `ica` trains on
is accepted whatever this machine has (a spec may be written on a laptop for the cluster's ``cuda:1``); a
malformed name, a kind `ica` does not train on, or a number on a device that has no second one is refused at
the field ``device``."""

from __future__ import annotations

import pytest

from ica.errors import SpecError
from ica.spec.devices import DEVICE_PATTERN, check_device
from ica.spec.load import load_spec

GOOD = ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:12", "mps", "mps:0", "cpu:0"]
BAD = {
    "tpu": "unknown device 'tpu'",
    "gpu": "unknown device 'gpu'",
    "CUDA": "unknown device 'CUDA'",
    "cuda:01": "unknown device 'cuda:01'",
    "cuda:-1": "unknown device 'cuda:-1'",
    "cuda: 1": "unknown device",
    " cpu": "unknown device",
    "": "unknown device ''",
    "xpu": "ica does not train on 'xpu' devices",
    "meta": "ica does not train on 'meta' devices",
    "cpu:1": "only CUDA devices are numbered; write 'cpu'",
    "mps:1": "only CUDA devices are numbered; write 'mps'",
}


@pytest.mark.parametrize("name", GOOD)
def test_a_device_torch_writes_is_a_valid_spec_field(name, tiny_spec):
    assert check_device(name) == name
    tiny_spec["device"] = name
    assert load_spec(tiny_spec).device == name


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_device_torch_cannot_read_or_ica_cannot_train_on_is_refused_at_the_field(name, tiny_spec):
    with pytest.raises(ValueError, match="expected|numbered"):
        check_device(name)
    tiny_spec["device"] = name
    with pytest.raises(SpecError) as refused:
        load_spec(tiny_spec)
    assert "device" in str(refused.value) and BAD[name] in str(refused.value)


@pytest.mark.parametrize("value", [1, None, ["cpu"], True])
def test_a_device_is_a_string(value, tiny_spec):
    tiny_spec["device"] = value
    with pytest.raises(SpecError, match="device"):
        load_spec(tiny_spec)


def test_the_schema_offers_the_names_to_editors():
    import re

    from ica.components.registry import registry
    from ica.spec.models import spec_models

    field = spec_models(registry()).experiment.model_json_schema(by_alias=True)["properties"]["device"]
    assert field["type"] == "string" and field["pattern"] == DEVICE_PATTERN and "cuda:1" in field["examples"]
    assert all(re.match(DEVICE_PATTERN, name) for name in GOOD)  # the pattern is no stricter than the check
    assert not any(re.match(DEVICE_PATTERN, name) for name in BAD)
