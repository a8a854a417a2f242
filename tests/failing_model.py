"""A test model registered through pluggy whose chosen seed's loss turns NaN: how runs, statistics and
reports treat a failed seed (`tests/running/test_runner.py`, `tests/reporting/test_report.py`)."""

from __future__ import annotations

import types

import torch
from torch import nn

from ica.plugin import Field, Options, hookimpl
from ica.components.protocols import LossOutput, Representation


class FailingOptions(Options):
    fail_index: int = Field(1, description="Which entry of the seed axis turns NaN.")
    fail_after: int = Field(5, description="After how many loss evaluations.")


class FailingModel(nn.Module):
    """Trains like a tiny autoencoder; one seed's loss becomes NaN after a few steps."""

    needs_u = False

    def __init__(self, options: FailingOptions, ctx):
        super().__init__()
        self.options = options
        self.weight = nn.Parameter(0.1 * torch.randn(ctx.seeds, ctx.x_shape[0], 2))
        self.calls = 0

    def noise_shape(self, batch_size):
        return None

    def loss(self, batch, noise):
        self.calls += 1
        z = torch.bmm(batch.x, self.weight)
        loss = (batch.x - torch.bmm(z, self.weight.transpose(1, 2))).pow(2).sum(-1)
        if self.training and self.calls > self.options.fail_after and self.options.fail_index < loss.shape[0]:
            loss = loss.clone()
            loss[self.options.fail_index] = float("nan")
        return LossOutput(loss, {"reconstruction": loss})

    def represent(self, batch):
        return Representation(torch.bmm(batch.x, self.weight))


def failing_plugin() -> types.ModuleType:
    module = types.ModuleType("failing_plugin")

    @hookimpl
    def ica_register(register):
        register("model", "failing", FailingOptions, FailingModel, description="Test model that fails one seed.")

    module.ica_register = ica_register
    return module
