"""The matrix L of Eq. 2 from a prior's natural parameters, its condition number, and the paper's remedies.

For Gaussian p(z|u) (k = 2 sufficient statistics per latent dimension) the natural parameters of
component u are λ(u) = (μ/σ², -1/(2σ²)) ∈ R^{2·d_z}. Theorem 1 (iv) asks for k·d_z + 1 values of u whose
differences λ(u_j) - λ(u_0) form an invertible k·d_z × k·d_z matrix. Such a subset exists exactly when
the matrix of *all* differences, ``[2·d_z, K-1]``, has full row rank, so we use that matrix: its
condition number σ_max/σ_{2·d_z} is finite exactly when some choice of u's makes Eq. 2's L invertible,
and it does not depend on which components happen to come first. (Eq. 2 as printed runs to
u_{k·d_z+1}, one column too many for a square matrix; we read it as u_1 ... u_{k·d_z}.)

§3 "Enforcing requirements for identifiability" offers two remedies, both options here: perturb the
natural parameters with small noise when L becomes (near-)singular, a projection step; or add
α·CN(L) to the loss (footnote 2). When a prior has fewer than k·d_z + 1 components L cannot be built,
which the trainer says once.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import torch
from torch import Tensor, nn

GAUSSIAN_STATISTICS = 2  # k of Eq. 1 for Gaussian p(z|u): z and z²


def natural_parameters(mean: Tensor, log_var: Tensor) -> Tensor:
    """λ(u) = (μ/σ², -1/(2σ²)) for every component: ``[S, K, d]`` each -> ``[S, K, 2d]``."""
    precision = torch.exp(-log_var)
    return torch.cat([mean * precision, -0.5 * precision], dim=-1)


def l_matrix(mean: Tensor, log_var: Tensor) -> Tensor | None:
    """Columns λ(u_j) - λ(u_0), j = 1..K-1: ``[S, 2d, K-1]``; None when K - 1 < 2d (L cannot be built)."""
    lam = natural_parameters(mean, log_var)
    if lam.shape[1] - 1 < lam.shape[2]:
        return None
    return (lam[:, 1:] - lam[:, :1]).transpose(1, 2)


def condition_number(matrix: Tensor) -> Tensor:
    """σ_max / σ_r per seed, r = the number of rows (the rank L needs): ``[S, r, c]`` -> ``[S]``."""
    sv = torch.linalg.svdvals(matrix)  # descending
    return sv[:, 0] / sv[:, matrix.shape[1] - 1]


def minimum_components(latent_dim: int) -> int:
    """k·d_z + 1: the components (values of u) Eq. 2 needs."""
    return GAUSSIAN_STATISTICS * latent_dim + 1


class GaussianComponents(Protocol):
    """A prior with Gaussian components (a module): their means and log-variances, ``[S, K, d]`` each."""

    def component_parameters(self) -> tuple[Tensor, Tensor]: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...


class LConstraint:
    """Tracks CN(L) for a model's prior during training and applies the chosen remedy.

    Args:
        prior: a prior with ``component_parameters() -> (mean, log_var)``, each ``[S, K, d]``.
        spec: the training spec's ``IdentifiabilitySpec``.
    """

    def __init__(self, prior: GaussianComponents, spec: Any):
        self.prior, self.spec = prior, spec
        mean, _ = prior.component_parameters()
        self.components, self.latent_dim = int(mean.shape[1]), int(mean.shape[2])
        self.buildable = self.components >= minimum_components(self.latent_dim)

    @classmethod
    def for_model(cls, model: nn.Module, spec: Any, say: Callable[[str], None]) -> "LConstraint | None":
        """The constraint for ``model``'s prior, or None when there is nothing to track."""
        if spec is None or (not spec.monitor and spec.remedy == "none"):
            return None
        prior = getattr(model, "prior", None)
        if prior is None or not hasattr(prior, "component_parameters"):
            return None
        constraint = cls(prior, spec)
        if not constraint.buildable:
            say(
                f"L (Eq. 2) cannot be built: the prior has {constraint.components} components and needs "
                f"k·d_z + 1 = {minimum_components(constraint.latent_dim)}; its condition number is not tracked"
            )
            return None
        return constraint

    def condition(self) -> Tensor:
        """CN(L) per seed (differentiable), in float64 for an honest value near singularity."""
        mean, log_var = self.prior.component_parameters()
        matrix = l_matrix(mean.double(), log_var.double())
        if matrix is None:
            raise ValueError(
                f"L (Eq. 2) cannot be built from {self.components} components of {self.latent_dim} latents"
            )
        return condition_number(matrix).to(mean.dtype)

    @property
    def penalty_on(self) -> bool:
        """Whether the loss gets α·CN(L) added (a second look at the prior in every step)."""
        return self.spec.remedy == "penalty"

    def penalty(self) -> Tensor | None:
        """α·CN(L) per seed, to add to the loss (footnote 2), or None unless that remedy is chosen."""
        if self.spec.remedy != "penalty":
            return None
        return self.spec.alpha * self.condition()

    @torch.no_grad()
    def check(self, generators: list[torch.Generator]) -> dict[str, list]:
        """CN(L) per seed; with the 'perturb' remedy, nudge the prior of every seed whose L is near-singular.

        A seed's perturbation noise comes from its own generator, so batching does not change it.
        """
        cn = self.condition()
        singular = ~torch.isfinite(cn) | (cn > self.spec.threshold)
        perturbed = [False] * len(cn)
        if self.spec.remedy == "perturb" and bool(singular.any()):
            for i in torch.nonzero(singular).flatten().tolist():
                for p in self.prior.parameters():
                    noise = torch.randn(p.shape[1:], generator=generators[i], device=p.device)
                    p[i].add_(noise, alpha=self.spec.noise)
                perturbed[i] = True
            cn = self.condition()
        return {"l_condition": cn.tolist(), "l_perturbed": perturbed}
