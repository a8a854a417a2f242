"""Collapsed latent dimensions, said in words beside the numbers they distort.

A seed whose latents use fewer dimensions than they have (`effective_rank`'s ``active_dims`` below
``latent_dims``) can look consistent: an affine map between two collapsed seeds predicts what they kept
(``consistency_r2`` near 1) while CCA-MCC, which averages all d canonical pairs, shows the loss. Tables and
reports therefore say how many seeds collapsed, wherever ``effective_rank`` was measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def collapsed(summaries: Mapping[Any, dict[str, Any] | None]) -> dict[str, int | None] | None:
    """Over a setting's draws: seeds measured, seeds with collapsed dimensions, the fewest active dimensions
    and the latent size; None where ``effective_rank`` was not measured."""
    measured = flagged = 0
    fewest, size = None, None
    for summary in summaries.values():
        for values in ((summary or {}).get("seeds") or {}).values():
            active, dims = values.get("active_dims"), values.get("latent_dims")
            if active is None or dims is None:
                continue
            measured += 1
            size = int(dims)
            if active < dims:
                flagged += 1
                fewest = int(active) if fewest is None else min(fewest, int(active))
    if not measured:
        return None
    return {"seeds": flagged, "of": measured, "fewest_active": fewest, "latent_dims": size}


def collapse_text(found: dict[str, int | None] | None) -> str | None:
    """'3 of 12 seeds collapsed: as few as 2 of 5 latent dimensions active', or None when none did."""
    if not found or not found["seeds"]:
        return None
    return (
        f"{found['seeds']} of {found['of']} seeds collapsed: as few as {found['fewest_active']} of "
        f"{found['latent_dims']} latent dimensions active (effective_rank); read consistency_r2 beside CCA-MCC"
    )
