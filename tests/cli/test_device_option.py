"""``ica validate`` and ``ica run`` with a device this machine lacks or torch cannot read: exit 2, one message
naming the device, no traceback and nothing written."""

from __future__ import annotations

import json

import torch

from conftest import cli


def one_message(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    return result.output


def test_a_gpu_this_machine_lacks_is_one_message(tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny_spec["device"] = "cuda:7"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec))
    assert "device: CUDA was asked for (cuda:7)" in one_message(cli("validate", spec))
    assert "cuda:7" in one_message(cli("run", spec, "--out", tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_device_option_torch_cannot_read_is_one_message(tiny_spec, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec))
    output = one_message(cli("run", spec, "--device", "cuda:01", "--out", tmp_path / "run"))
    assert "--device" in output and "unknown device 'cuda:01'" in output
    assert "cuda:N" in cli("run", "--help").output
