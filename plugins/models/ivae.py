"""`ivae`: the identifiable VAE of Khemakhem et al. (2020a), given u: q(z|x,u), p(z|u), ELBO of Eq. 3."""

from __future__ import annotations

from typing import Literal

from ica.plugin import BuildContext, Field, hookimpl, Part, slot

from .vae import VAE, VAEOptions, build_vae


class IVAEOptions(VAEOptions):
    """An iVAE: its parts, latent size and KL estimator."""

    prior: Part = slot("prior", {"name": "conditional"}, description="p(z|u).")
    kl: Literal["analytic", "sample"] = Field(
        "analytic", description="KL in closed form where available, or the single-sample estimate."
    )


def build(options: IVAEOptions, ctx: BuildContext) -> VAE:
    """iVAE: conditional prior and encoder, u given (Eq. 3)."""
    return build_vae(options, ctx, condition_encoder=True, kl=options.kl, name="ivae")


@hookimpl
def ica_register(register):
    register("model", "ivae", IVAEOptions, build, description="iVAE: p(z|u) with u given (Eq. 3).")
