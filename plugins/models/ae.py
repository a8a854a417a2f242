"""`ae`: App. B's autoencoder baseline, the VQ-VAE without quantisation.

"A matching autoencoder baseline (where the continuous representations are directly given to the
decoder, ie they are not quantised)" (App. B): the grid encoder's output z_e goes straight to the grid
decoder, and the loss is -log p(x | z_e), with no noise and no prior. Its representation, like the
VQ-VAE's, is z_e at every grid position, flattened position-major, with the grid's shape attached so
`grid_mcc` can compare each position with the same position of other seeds.

`GridAutoencoder` is also the VQ-VAE's body (`ica.plugins.models.vqvae` adds the quantiser).
"""

from __future__ import annotations

from torch import Tensor, nn

from ica.plugin import Batch, BuildContext, hookimpl, Likelihood, LossOutput, Representation, Part, slot

from .gridnets import GridDecoder, GridEncoder, GridNetOptions


class GridModelOptions(GridNetOptions):
    """The grid networks and the likelihood, shared by `ae` and `vqvae`."""

    likelihood: Part = slot("likelihood", {"name": "gaussian"}, description="p(x | grid of latents).")


class GridAutoencoder(nn.Module):
    """Grid encoder + grid decoder + likelihood; ``loss = -log p(x | z_e)`` per example."""

    needs_u = False

    def __init__(self, encoder: GridEncoder, decoder: GridDecoder, likelihood: Likelihood, latent_dim: int):
        super().__init__()
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.latent_dim = latent_dim

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """``(h, w, d)``: the latent grid of one example."""
        return (*self.encoder.grid, self.latent_dim)

    def noise_shape(self, batch_size: int) -> tuple[int, ...] | None:
        return None

    def encode(self, x: Tensor) -> Tensor:
        """z_e: the encoder's vector at each grid position, ``[S, B, P, d]``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """The mean of p(x|z) for grid latents as `represent` gives them (``[S, B, P·d]``): ``[S, B, *x_shape]``."""
        s, b = z.shape[:2]
        return self.likelihood.mean(self.decoder(self.quantised(z.reshape(s, b, -1, self.latent_dim))))

    def quantised(self, z: Tensor) -> Tensor:
        """What the decoder is given for the grid ``z`` ``[S, B, P, d]``: ``z`` itself (no quantiser here)."""
        return z

    def loss(self, batch: Batch, noise: Tensor | None) -> LossOutput:
        log_likelihood = self.likelihood.log_prob(batch.x, self.decoder(self.encode(batch.x)))
        return LossOutput(-log_likelihood, {"log_likelihood": log_likelihood})

    def represent(self, batch: Batch) -> Representation:
        """z_e flattened position-major, ``[S, B, P·d]``, with its grid shape (no discrete assignment per example)."""
        z = self.encode(batch.x)
        return Representation(z.flatten(2), None, self.grid_shape)


def build_grid_parts(options: GridModelOptions, ctx: BuildContext, name: str):
    """The likelihood, encoder and decoder named by ``options``; a `SpecError` for data that are not images."""
    encoder = GridEncoder(options, ctx.x_shape, ctx.seeds, where=f"{name}.encoder")
    likelihood = ctx.build_part(options.likelihood)
    decoder = GridDecoder(options, ctx.x_shape, ctx.seeds, likelihood.multiplier, where=f"{name}.decoder")
    return likelihood, encoder, decoder


def build(options: GridModelOptions, ctx: BuildContext) -> GridAutoencoder:
    """Autoencoder with a latent grid, no quantisation (App. B's baseline)."""
    likelihood, encoder, decoder = build_grid_parts(options, ctx, "ae")
    return GridAutoencoder(encoder, decoder, likelihood, options.latent_dim)


@hookimpl
def ica_register(register):
    register(
        "model",
        "ae",
        GridModelOptions,
        build,
        description="Convolutional autoencoder with a latent grid, the VQ-VAE without quantisation (App. B).",
    )
