"""Shared fixtures: tiny specs that train in a second or two."""

from __future__ import annotations

import copy

import pytest
import torch

torch.set_num_threads(1)

TINY_DATA = {"name": "tcl", "segments": 4, "samples_per_segment": 40, "eval_samples_per_segment": 20, "dim": 3,
             "data_seed": 7}
TINY_MODELS = {
    "ivae": {"name": "ivae", "encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]}},
    "vade": {"name": "vade", "encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]},
             "prior": {"name": "gmm", "components": 5}},
}
TINY_SPEC = {
    "name": "tiny",
    "data": TINY_DATA,
    "models": TINY_MODELS,
    "training": {"steps": 30, "batch_size": 16, "log_every": 10, "checkpoint_every": 10,
                 "scheduler": {"interval": 10, "patience": 0}},
    "seeds": 2,
    "device": "cpu",
}


@pytest.fixture
def tiny_spec() -> dict:
    """A complete spec: iVAE and VaDE on a 3-dimensional TCL data set, 2 seeds, 30 steps."""
    return copy.deepcopy(TINY_SPEC)
