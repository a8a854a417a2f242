"""``ica run --extend``: the command line reaches `ica.extend`; without the flag a longer spec on a finished run
is refused with one message that names the flag."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from conftest import TINY_SPEC
from ica.cli.app import app


@pytest.mark.slow
def test_run_extend_continues_a_finished_run_and_records_it(tmp_path):
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"vade": spec["models"]["vade"]}
    path, out = tmp_path / "spec.json", tmp_path / "run"
    path.write_text(json.dumps(spec))
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(path), "--out", str(out)]).exit_code == 0
    spec["training"]["steps"] = 2 * spec["training"]["steps"]
    path.write_text(json.dumps(spec))
    refused = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert refused.exit_code == 2 and "--extend" in refused.output and "Traceback" not in refused.output
    extended = runner.invoke(app, ["run", str(path), "--out", str(out), "--extend"])
    assert extended.exit_code == 0, extended.output
    (entry,) = json.loads((out / "extensions.json").read_text())["extensions"]
    assert (entry["before"], entry["after"]) == (30, 60)
    assert json.loads((out / "vade" / "seeds" / "0" / "result.json").read_text())["steps"] == 60
