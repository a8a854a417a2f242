"""Wall time of the paper's whole Fig. 2 protocol on this machine: 2 models x 5 data sizes x 10 seeds x
70,000 steps, run exactly as ``ica run specs/fig2-tcl.json`` runs it (each model's seeds of all five
cells packed into one batched model: ``training.pack_cells``; ``--no-pack`` trains cell by cell).

    python -m benchmarks.fig2 [--steps 3000] [--full] [--no-pack] [--eager]

By default the grid is run for ``--steps`` steps and its training time is projected linearly to the
spec's 70,000 steps (the cost of a step does not depend on the step), compiling (paid once) excepted;
everything else (data, evaluation, writing) is measured as is. A short run compiles when the full run would
(``training.compile: "auto"``); ``--eager`` trains without compiling, for comparison. ``--full`` runs the spec
unchanged and reports the measured total instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ica
from ica.training.compile_choice import compile_choice

SPECS = Path(__file__).resolve().parent.parent / "specs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--no-pack", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--eager", action="store_true", help="train with training.compile false (for comparison)")
    args = parser.parse_args()
    spec = json.loads((SPECS / "fig2-tcl.json").read_text())
    full_steps = spec["training"]["steps"]
    if not args.full:
        spec["training"]["steps"] = args.steps
    spec["training"]["pack_cells"] = not args.no_pack
    if args.eager:
        spec["training"]["compile"] = False
    elif not args.full and spec["training"].get("compile", "auto") == "auto":
        # The full run's choice (auto compiles where the expected saving pays for compiling), not the short run's.
        spec["training"]["compile"] = compile_choice("auto", full_steps, spec["seeds"]).compiles
    loops = []

    def on_event(name, **info):
        if name == "train_end":
            loops.append(
                (
                    info.get("cell"),
                    len(info["seeds"]),
                    info["seconds"],
                    info.get("compile_seconds") or 0.0,
                    info.get("step_mode"),
                )
            )

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        ica.execute(spec, out, device=args.device, workers=1, on_event=on_event)  # timed in this process
    wall = time.perf_counter() - start
    scale = 1.0 if args.full else full_steps / args.steps
    training = sum(seconds for _, _, seconds, _, _ in loops)
    compiling = sum(c for _, _, _, c, _ in loops)  # paid once: not scaled with the steps
    print(f"{'model':6} {'seeds':>5} {'mode':>9} {'train s':>9} {'compile s':>10} {'projected s':>12}")
    for label, seeds, seconds, compile_s, mode in loops:
        print(
            f"{label:6} {seeds:>5} {mode:>9} {seconds:>9.1f} {compile_s:>10.1f} "
            f"{(seconds - compile_s) * scale + compile_s:>12.0f}"
        )
    total = (training - compiling) * scale + compiling + (wall - training)
    kind = "measured" if args.full else f"projected from {args.steps} steps"
    print(f"everything but training (data, evaluation, files): {wall - training:.1f} s")
    print(
        f"\nwhole Fig. 2 protocol ({kind}, {'cell by cell' if args.no_pack else 'cells packed'}): "
        f"{total / 60:.1f} minutes"
    )


if __name__ == "__main__":
    main()
