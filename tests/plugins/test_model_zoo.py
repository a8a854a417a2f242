"""iVAE and VaDE with every architecture and likelihood, on image-shaped data, trained in batched seeds."""

from __future__ import annotations

import pytest
import torch

import ica
from ica.components.protocols import Batch, DataSplits, Split
from ica.running.building import build_model

REG = ica.registry()
NETS = {
    "mlp": {"name": "mlp", "hidden": [16]},
    "convnet": {"name": "convnet", "channels": [4, 4, 4, 4], "features": 8, "hidden": 8},
    "resnet": {"name": "resnet", "channels": [4, 4], "stem": 4},
}
LIKELIHOODS = ["gaussian", "bernoulli", "logistic"]


def image_data(n=16, shape=(1, 8, 8), classes=4) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    split = lambda: Split(torch.randint(0, 256, (n, *shape), generator=g) / 255, torch.arange(n) % classes)  # noqa: E731
    return DataSplits(split(), split(), n_u=classes)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("net", list(NETS))
@pytest.mark.parametrize("model", ["ivae", "vade"])
def test_every_architecture_and_likelihood_trains_in_batched_seeds(model, net, likelihood):
    data = image_data()
    spec = {
        "name": model,
        "latent_dim": 3,
        "encoder": NETS[net],
        "decoder": NETS[net],
        "likelihood": {"name": likelihood},
    }
    if model == "vade":
        spec["prior"] = {"name": "gmm", "components": 4}
    options = ica.load_spec({"data": {"name": "tcl"}, "model": spec}).models[model]
    m = build_model(REG, options, data, [0, 1], model)
    x, u = data.train.x[:8].expand(2, 8, 1, 8, 8), data.train.u[:8].expand(2, 8)
    out = m.loss(Batch(x, u), torch.randn(2, 8, 3))
    assert out.loss.shape == (2, 8) and torch.isfinite(out.loss).all()
    out.loss.mean(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    m.eval()
    with torch.no_grad():
        assert m.represent(Batch(x, u)).latents.shape == (2, 8, 3)
