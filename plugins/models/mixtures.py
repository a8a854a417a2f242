"""The contract of a mixture prior, which the models that read clusters or codes off the prior rely on.

`Prior` (``ica.plugin``) returns any ``Distribution``; `gmmflow` and `vqvae` need a ``MixtureSameFamily``
(its responsibilities, component means and weights) and check at build time that the prior gives one, so
that their modules can say so to the type checker.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor
from torch.distributions import MixtureSameFamily

from ica.plugin import Prior


class MixturePrior(Prior, Protocol):
    """An unconditional prior p(z) = Σ_k p(k) p(z|k), returned as a ``MixtureSameFamily``."""

    def __call__(self, cond: Tensor | None = None) -> MixtureSameFamily: ...
