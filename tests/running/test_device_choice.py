"""Where a run trains: `resolve_device` finds the named device on this machine or refuses it naming it, before
anything trains; worker processes are spread over the GPUs only where the device names none of them (``cuda``,
``auto``), so ``cuda:1`` is never silently ``cuda:0``; a parent's ``CUDA_VISIBLE_DEVICES`` is honoured."""

from __future__ import annotations

import pytest
import torch

from ica.errors import IcaError, SpecError
from ica.running import processes
from ica.running.building import resolve_device
from ica.running.dispatch import check_run_options


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with two CUDA devices, as torch reports it (none is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_a_numbered_gpu_the_machine_has_is_that_gpu(two_gpus):
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda") and resolve_device("auto") == torch.device("cuda")
    with pytest.raises(SpecError, match=r"device: cuda:2 was asked for, but this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


def test_without_cuda_a_cuda_device_is_refused_naming_it(no_gpu):
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:3"):
        with pytest.raises(SpecError, match=rf"CUDA was asked for \({name}\), but no CUDA device is available"):
            resolve_device(name)


def test_mps_is_used_only_where_torch_has_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps") and resolve_device("mps:0") == torch.device("mps", 0)
    assert resolve_device("auto").type != "mps"  # auto is CUDA or the CPU: MPS only when named
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    with pytest.raises(SpecError, match="device: mps was asked for, but this machine has no Apple GPU"):
        resolve_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: False)
    with pytest.raises(SpecError, match="this torch was built without MPS"):
        resolve_device("mps")


def test_the_device_option_is_read_by_torchs_parser():
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        check_run_options(name, None, None, "local")  # whether this machine has it is resolve_device's question
    for name, words in (("gpu", "unknown device 'gpu'"), ("cuda:x", "unknown device"), ("xpu", "'xpu' devices")):
        with pytest.raises(IcaError, match=words) as refused:
            check_run_options(name, None, None, "local")
        assert refused.value.where == "--device"


def test_workers_spread_over_gpus_only_where_no_gpu_is_named(two_gpus):
    assert processes._gpu_count("cuda") == 2 and processes._gpu_count("auto") == 2
    for named in ("cuda:1", "cuda:0", "cpu", "mps"):
        assert processes._gpu_count(named) == 0, named  # no CUDA_VISIBLE_DEVICES: each worker sees cuda:1 as asked


def test_a_worker_takes_its_gpu_from_the_gpus_this_process_sees(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [processes.worker_gpu(slot, 2) for slot in range(3)] == ["0", "1", "0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [processes.worker_gpu(slot, 2) for slot in range(3)] == ["2", "3", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa, GPU-bbbb")
    assert processes.worker_gpu(1, 2) == "GPU-bbbb"
