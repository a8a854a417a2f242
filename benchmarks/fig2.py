"""Wall time of the paper's whole Fig. 2 protocol on this machine: 2 models x 5 data sizes x 10 seeds x
70,000 steps, run exactly as ``ica run specs/fig2-tcl.json`` runs it (each model's seeds of all five
cells packed into one batched model: ``training.pack_cells``; ``--no-pack`` trains cell by cell).

    python -m benchmarks.fig2 [--steps 3000] [--full] [--no-pack]

By default the grid is run for ``--steps`` steps and its training time is projected linearly to the
spec's 70,000 steps (the cost of a step does not depend on the step); everything else (data, evaluation,
writing) is measured as is. ``--full`` runs the spec unchanged and reports the measured total instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ica

SPECS = Path(__file__).resolve().parent.parent / "specs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--no-pack", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    spec = json.loads((SPECS / "fig2-tcl.json").read_text())
    full_steps = spec["training"]["steps"]
    if not args.full:
        spec["training"]["steps"] = args.steps
    spec["training"]["pack_cells"] = not args.no_pack
    loops = []

    def on_event(name, **info):
        if name == "train_end":
            loops.append((info.get("cell"), len(info["seeds"]), info["seconds"]))

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        ica.run(spec, out=out, device=args.device, on_event=on_event)
    wall = time.perf_counter() - start
    scale = 1.0 if args.full else full_steps / args.steps
    training = sum(seconds for _, _, seconds in loops)
    print(f"{'model':6} {'seeds':>5} {'train s':>9} {'projected s':>12}")
    for label, seeds, seconds in loops:
        print(f"{label:6} {seeds:>5} {seconds:>9.1f} {seconds * scale:>12.0f}")
    total = training * scale + (wall - training)
    kind = "measured" if args.full else f"projected from {args.steps} steps"
    print(f"everything but training (data, evaluation, files): {wall - training:.1f} s")
    print(f"\nwhole Fig. 2 protocol ({kind}, {'cell by cell' if args.no_pack else 'cells packed'}): "
          f"{total / 60:.1f} minutes")


if __name__ == "__main__":
    main()
