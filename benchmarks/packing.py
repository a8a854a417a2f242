"""Packing a grid's cells (``training.pack_cells``): the Fig. 2 grid (2 models x 5 data sizes x 10 seeds)
trained with its cells packed (one batched model of 50 seeds per model) and cell by cell (10 seeds per
model), in one run, reporting the ratio of training times.

    python -m benchmarks.packing [--steps 1000] [--device cpu]

Both runs give identical latents (checked here); only the training wall time differs. Evaluation is the
same code either way and is left out of the ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import ica

SPECS = Path(__file__).resolve().parent.parent / "specs"


def timed_grid(spec: dict, out: Path, device: str) -> tuple[float, float]:
    """(seconds spent training, wall seconds of the whole run)."""
    training = []

    def on_event(name, **info):
        if name == "train_end":
            training.append(info["seconds"])

    start = time.perf_counter()
    ica.execute(spec, out, device=device, workers=1, on_event=on_event)  # timed in this process
    return sum(training), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    spec = json.loads((SPECS / "fig2-tcl.json").read_text())
    spec["training"]["steps"] = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for packed in (True, False):
            spec["training"]["pack_cells"] = packed
            results[packed] = timed_grid(spec, Path(tmp) / str(packed), args.device)
        for latents in (Path(tmp) / "True").rglob("latents.npz"):
            twin = Path(tmp) / "False" / latents.relative_to(Path(tmp) / "True")
            np.testing.assert_array_equal(np.load(latents)["latents"], np.load(twin)["latents"])
    (packed_train, packed_wall), (cells_train, cells_wall) = results[True], results[False]
    print(f"Fig. 2 grid, {args.steps} steps, {args.device}: identical latents packed and cell by cell")
    print(f"{'':14} {'training s':>10} {'wall s':>8}")
    print(f"{'packed':14} {packed_train:>10.1f} {packed_wall:>8.1f}")
    print(f"{'cell by cell':14} {cells_train:>10.1f} {cells_wall:>8.1f}")
    print(f"training speed-up from packing: {cells_train / packed_train:.2f}x (wall {cells_wall / packed_wall:.2f}x)")


if __name__ == "__main__":
    main()
