"""Wall time of the paper's whole Fig. 2 protocol on this machine: 2 models x 5 data sizes x 10 seeds x
70,000 steps, run exactly as ``ica run specs/fig2-tcl.json`` runs each grid cell (seeds batched per cell).

    python -m benchmarks.fig2 [--steps 3000] [--full]

By default every cell is run for ``--steps`` steps and its training time is projected linearly to the
spec's 70,000 steps (the cost of a step does not depend on the step); evaluation is measured as is.
``--full`` runs the specs unchanged and reports the measured total instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ica

SIZES = (100, 200, 500, 1000, 2000)
SPECS = Path(__file__).resolve().parent.parent / "specs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    total = 0.0
    print(f"{'size':>5} {'model':6} {'train s':>9} {'eval s':>7} {'projected s':>12}")
    for size in SIZES:
        spec = json.loads((SPECS / "fig2-tcl.json").read_text())
        spec.pop("grid")  # one grid cell at a time, timed separately
        spec["data"]["samples_per_segment"] = size
        full_steps = spec["training"]["steps"]
        if not args.full:
            spec["training"]["steps"] = args.steps
        timings: dict[str, dict[str, float]] = {}

        def on_event(name, **info):
            cell = info.get("cell")
            if name == "train_start":
                timings.setdefault(cell, {})["t0"] = time.perf_counter()
            elif name == "train_end":
                timings[cell]["train"] = info["seconds"]
            elif name == "cell_end":
                timings[cell]["end"] = time.perf_counter()

        with tempfile.TemporaryDirectory() as out:
            ica.run(spec, out=out, device=args.device, on_event=on_event)
        for cell, t in timings.items():
            evaluation = t["end"] - t["t0"] - t["train"]
            scale = 1.0 if args.full else full_steps / args.steps
            projected = t["train"] * scale + evaluation
            total += projected
            print(f"{size:>5} {cell:6} {t['train']:>9.1f} {evaluation:>7.1f} {projected:>12.0f}", flush=True)
    kind = "measured" if args.full else f"projected from {args.steps} steps per cell"
    print(f"\nwhole Fig. 2 protocol ({kind}): {total / 60:.1f} minutes")


if __name__ == "__main__":
    main()
