"""The example plugin's own tests, as a plugin author writes them: ica's contract checks (`ica.testing`) on
the installed component, and one small run. Run with the package installed: ``pytest tests/``."""

import ica
from ica.testing import check_component


def test_laplace_honours_the_prior_contract():
    report = check_component("prior", "laplace")
    assert "prior_contract" in report.passed, report


def test_laplace_trains_in_an_ivae(tmp_path):
    spec = {
        "data": {"name": "tcl", "segments": 4, "samples_per_segment": 30, "eval_samples_per_segment": 10, "dim": 2},
        "models": {
            "ivae": {
                "name": "ivae",
                "prior": {"name": "laplace"},
                "encoder": {"name": "mlp", "hidden": [8]},
                "decoder": {"name": "mlp", "hidden": [8]},
            }
        },
        "training": {"steps": 20, "batch_size": 8},
        "seeds": 2,
        "device": "cpu",
    }
    summary = ica.run(spec, out=tmp_path / "run")
    assert summary["cells"]["ivae"]["status"] == {"0": "finished", "1": "finished"}
