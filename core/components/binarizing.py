"""Binarising images whose pixels are in [0, 1], as an image data set's ``binarize`` option asks: the data sets
do it when they load, and a trained model does it again to new data (`ica.trained.inputs`), so both draw the
very same pixels from the same seed."""

from __future__ import annotations

import numpy as np
import torch

BLOCK_ROWS = 1024
"""Rows binarised at a time: bounds the float64 uniforms held at once (CIFAR-10 would need 1.2 GB)."""


def sample_binary(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """1.0 where ``U < x`` for float64 uniforms ``U = rng.random()`` in C order of ``x``, else 0.0 (drawn in
    blocks of rows, which gives the same stream as one draw)."""
    out = torch.empty_like(x)
    for start in range(0, x.shape[0], BLOCK_ROWS):
        rows = x[start : start + BLOCK_ROWS].numpy()
        out[start : start + BLOCK_ROWS] = torch.from_numpy((rng.random(rows.shape) < rows).astype(np.float32))
    return out


def binarized(x: torch.Tensor, mode: str, rng: np.random.Generator) -> torch.Tensor:
    """``x`` (values in [0, 1]) binarised as an image set's ``binarize`` option says: ``"none"`` returns ``x``,
    ``"threshold"`` is ``x > 0.5``, ``"sample"`` draws each pixel once (`sample_binary`). Both leave 0/1 data
    as they are, so binarising data that already are binary changes nothing."""
    if mode == "none":
        return x
    if mode == "threshold":
        return (x > 0.5).to(torch.float32)
    if mode == "sample":
        return sample_binary(x, rng)
    raise ValueError(f"unknown binarisation {mode!r}")
