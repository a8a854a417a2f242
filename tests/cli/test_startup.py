"""Every ``ica`` command, worker process and array task starts by importing `ica` and loading the plugins;
the libraries that only some commands need (torchvision, scipy, scikit-learn, matplotlib) are imported
when used, which saves several seconds per start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts a Python process that imports torch

HEAVY = ("torchvision", "scipy", "sklearn", "matplotlib")


def imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    modules = json.loads(found.stdout.splitlines()[-1])
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_loading_ica_and_every_plugin_imports_no_heavy_library():
    assert imported_after("import ica, ica.cli.app\nica.registry()") == []


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: a plugin that uses a library loads it."""
    assert imported_after("import ica\nica.mcc([[0.0], [1.0], [3.0]], [[1.0], [0.0], [2.0]])") == ["scipy"]


def test_checking_a_vades_training_memory_imports_no_torch_dynamo():
    """The memory check builds each model on the meta device, where arithmetic runs torch's Python meta kernels
    and their first call imports torch._dynamo (about a second of every start). VaDE's build does none there."""
    code = (
        "import sys, json; sys.path.insert(0, 'tests'); from conftest import TINY_SPEC; import ica\n"
        "from ica.running.building import prepare_data; from ica.spec.load import load_spec\n"
        "prepare_data(load_spec({**TINY_SPEC, 'models': {'vade': TINY_SPEC['models']['vade']}}), ica.registry())\n"
        "print(json.dumps('torch._dynamo' in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(found.stdout.splitlines()[-1]) is False
