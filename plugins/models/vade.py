"""`vade`: a VAE whose prior is a learnt mixture, so u is inferred rather than given (§3).

q(z|x) from the encoder; q(u|x) is the Bayes-optimal posterior p(u|z) at the single sample, so the
estimator is Eq. 6: log p(x|z) + log p(z) - log q(z|x) (following Falck et al., 2021). Cluster
assignments for evaluation are the argmax of p(u|z) at the posterior mean.
"""

from __future__ import annotations

from ica.plugin import BuildContext, gives_mixture, hookimpl, Part, slot, SpecError

from .vae import VAE, VAEOptions, build_vae


class VaDEOptions(VAEOptions):
    """A VaDE: its parts and latent size."""

    prior: Part = slot("prior", {"name": "gmm"}, description="A mixture prior p(z) = Σ_u p(u) p(z|u).")


def build(options: VaDEOptions, ctx: BuildContext) -> VAE:
    """VaDE: learnt mixture prior, u inferred (Eq. 6)."""
    model = build_vae(options, ctx, condition_encoder=False, kl="sample", name="vade")
    if model.prior.conditional or not gives_mixture(model.prior):
        raise SpecError(
            f"vade needs an unconditional mixture prior (one returning MixtureSameFamily); "
            f"{options.prior.name!r} is not one",
            where="vade.prior",
        )
    return model


@hookimpl
def ica_register(register):
    register("model", "vade", VaDEOptions, build, description="VaDE: learnt mixture prior, no u (Eq. 6).")
