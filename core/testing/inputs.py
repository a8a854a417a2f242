"""The tiny inputs every contract check uses: two seeds, seven examples, flat and image observations."""

from __future__ import annotations

from typing import Any

import torch

from ica.components.protocols import BuildContext, DataSplits, Split
from ica.components.registry import Registry
from ica.spec.models import spec_models
from ica.testing.contract import require, required

S, B, D, K_U, DZ, D_U = 2, 7, 4, 3, 3, 2
"""Seeds, batch, flat observed size, values of a discrete u, latent size, columns of a continuous u."""

X_SHAPES = [(D,), (1, 8, 8), (3, 8, 8)]
"""Flat data, a grey 8x8 image and a colour one: an architecture may refuse some with a SpecError at build time
(a ConvNet on flat data) but must build for at least one."""

TEST_OPTIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("dataset", "tcl"): {"segments": 3, "samples_per_segment": 10, "eval_samples_per_segment": 6, "dim": 2},
    ("model", "cebra"): {"max_iterations": 10, "batch_size": 32},
}
"""Options that keep a built-in quick here; other components are checked with their defaults (or the options
given to `ica.testing.check_component`)."""


class Inputs:
    """One registry's build context and options for the checks; ``extra`` are options for the checked component."""

    def __init__(self, reg: Registry, extra: dict[str, Any] | None = None):
        self.reg, self.extra = reg, dict(extra or {})
        self.ctx = BuildContext(seeds=S, x_shape=(D,), latent_dim=DZ, n_u=K_U, build=reg.build)

    def options(self, kind: str, name: str, **more: Any) -> Any:
        """The validated options of component ``name``: its defaults, the quick ones above, then ``extra``."""
        models = spec_models(self.reg)
        cls = models.tagged[(kind, name)] if (kind, name) in models.tagged else type(models.default(kind, name))
        return cls.model_validate({"name": name, **TEST_OPTIONS.get((kind, name), {}), **self.extra, **more})


def tiny_data(
    n: int = 12, x_shape: tuple[int, ...] = (D,), continuous_u: bool = False, ordered: bool = False
) -> DataSplits:
    """Random observations in [0, 1), u cycling over K_U values (or, ``continuous_u``, uniform in [0, 1)^D_U),
    Gaussian sources: enough for shapes and grads. ``ordered`` declares time order (``Split.sequence``): two
    recordings, the first half of the rows and the second, for a model that reads pairs in time."""
    g = torch.Generator().manual_seed(0)

    def split(m: int) -> Split:
        u = torch.rand(m, D_U, generator=g) if continuous_u else torch.arange(m) % K_U
        sequence = (torch.arange(m) >= m // 2).long() if ordered else None
        return Split(torch.rand(m, *x_shape, generator=g), u, torch.randn(m, DZ, generator=g), sequence)

    if continuous_u:
        return DataSplits(split(n), split(n), u_dim=D_U)
    return DataSplits(split(n), split(n), n_u=K_U)


def grads_reach_every_parameter(module: torch.nn.Module) -> None:
    for pname, p in module.named_parameters():
        grad = required(p.grad, f"no gradient reached the parameter {pname}")
        require(torch.isfinite(grad).all(), f"non-finite gradient in the parameter {pname}")
