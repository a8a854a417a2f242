"""Spec validation: what is accepted, and that every rejection is one readable message naming the field."""

from __future__ import annotations

import json

import pytest

from ica.errors import SpecError
from ica.components.registry import registry
from ica.spec.load import load_spec, spec_hash, spec_json
from ica.spec.models import spec_models
from pydantic import ValidationError


def test_a_complete_spec_validates_and_fills_defaults(tiny_spec):
    spec = load_spec(tiny_spec)
    assert spec.seed_list == [0, 1]
    assert spec.models["vade"].prior.components == 5
    assert spec.models["ivae"].prior.name == "conditional"  # the model's default part
    assert spec.models["ivae"].likelihood.scale == 0.1
    assert spec.training.betas == (0.9, 0.999)


def test_single_model_key_is_accepted(tiny_spec):
    tiny_spec.pop("models")
    tiny_spec["model"] = {"name": "vade"}
    assert list(load_spec(tiny_spec).models) == ["vade"]


def test_schema_key_is_accepted(tiny_spec):
    tiny_spec["$schema"] = "./ica.schema.json"
    assert load_spec(tiny_spec).schema_ == "./ica.schema.json"


def test_round_trip_through_json_is_identity(tiny_spec):
    spec = load_spec(tiny_spec)
    again = load_spec(json.loads(json.dumps(spec_json(spec))))
    assert again == spec and spec_hash(again) == spec_hash(spec)


def test_specs_are_immutable(tiny_spec):
    spec = load_spec(tiny_spec)
    with pytest.raises(ValidationError, match="frozen"):
        spec.training.steps = 5


def _error(spec: dict) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    return str(info.value)


def test_unknown_component_name_gets_a_suggestion(tiny_spec):
    tiny_spec["models"]["vade"]["prior"] = {"name": "gmmm"}
    message = _error(tiny_spec)
    assert "models.vade.prior" in message
    assert "did you mean 'gmm'" in message


def test_unknown_model_name(tiny_spec):
    tiny_spec["models"]["ivae"]["name"] = "ivea"
    message = _error(tiny_spec)
    assert "models.ivae" in message and "did you mean 'ivae'" in message


def test_wrong_type_names_the_path_without_union_tags(tiny_spec):
    tiny_spec["models"]["vade"]["prior"]["components"] = "many"
    message = _error(tiny_spec)
    assert message.startswith("spec: models.vade.prior.components:")
    assert "gmm.components" not in message


def test_out_of_range_value(tiny_spec):
    tiny_spec["training"]["lr"] = -1
    assert "training.lr" in _error(tiny_spec)


def test_typo_in_an_option_is_rejected(tiny_spec):
    tiny_spec["models"]["ivae"]["encoder"]["hiden"] = [3]
    message = _error(tiny_spec)
    assert "models.ivae.encoder.hiden" in message and "unknown option" in message
    assert "did you mean 'hidden'?" in message


@pytest.mark.parametrize(
    "where, typo, meant",
    [
        (("models", "vade", "prior"), "componets", "components"),  # a component chosen by a union tag
        (("training",), "step", "steps"),
        (("data",), "segmnets", "segments"),
        ((), "trianing", "training"),
    ],
)
def test_a_misspelled_option_gets_did_you_mean_wherever_it_is(tiny_spec, where, typo, meant):
    node = tiny_spec
    for key in where:
        node = node[key]
    node[typo] = 1
    message = _error(tiny_spec)
    assert ".".join((*where, typo)) in message and f"did you mean {meant!r}?" in message


def test_an_unknown_option_like_no_other_gets_no_suggestion(tiny_spec):
    tiny_spec["training"]["zzzz"] = 1
    message = _error(tiny_spec)
    assert "training.zzzz: unknown option" in message and "did you mean" not in message


def test_an_option_in_a_list_of_metrics_gets_did_you_mean(tiny_spec):
    tiny_spec["evaluation"] = {"metrics": [{"name": "mcc", "metod": "pearson"}]}
    assert "evaluation.metrics[0].metod: unknown option; did you mean 'method'?" in _error(tiny_spec)


def test_missing_name(tiny_spec):
    tiny_spec["data"] = {"segments": 3}
    assert "data" in _error(tiny_spec) and "name" in _error(tiny_spec)


@pytest.mark.parametrize(
    "seeds, fragment", [(0, "at least 1"), ([], "empty"), ([1, 1], "repeated"), ([-1], "non-negative")]
)
def test_bad_seeds(tiny_spec, seeds, fragment):
    tiny_spec["seeds"] = seeds
    assert fragment in _error(tiny_spec)


def test_bad_label(tiny_spec):
    tiny_spec["models"]["bad label/"] = tiny_spec["models"].pop("ivae")
    assert "models" in _error(tiny_spec)


def test_invalid_json_file_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": {"name": "tcl"},\n  "models": }')
    message = _error(path)
    assert str(path) in message and "line 2" in message


def test_missing_file(tmp_path):
    assert "file not found" in _error(tmp_path / "nope.json")


def test_schema_covers_every_registered_component():
    schema = json.dumps(spec_models(registry()).experiment.model_json_schema(by_alias=True))
    for name in ["tcl", "npz", "ivae", "vade", "gmm", "conditional", "gaussian", "cca_mcc"]:
        assert f'"{name}"' in schema
    assert '"$schema"' in schema
