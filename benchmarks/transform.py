"""Encoding new data with a trained model: ``ica.load(run).transform`` rows per second, 10 seeds batched
against the same 10 seeds loaded and encoded one at a time.

    OMP_NUM_THREADS=1 python -m benchmarks.transform [--rows 1000000] [--seeds 10] [--repeats 3] [--out DIR]

A quick-start-sized TCL model (d = 5, MLPs of width 50) is trained briefly for ``--seeds`` seeds (the
weights do not matter for speed), then both contenders encode the same ``--rows`` new points, interleaved,
``--repeats`` times; medians and ranges are printed, and the two results are checked to be equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ica


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="where to train the run (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "run"
    spec = {
        "data": {"name": "tcl", "segments": 20, "samples_per_segment": 100, "dim": 5, "mixing_layers": 4},
        "model": {"name": "vade", "prior": {"name": "gmm", "components": 20}},
        "training": {"steps": 200, "batch_seeds": True},
        "seeds": args.seeds,
        "device": "cpu",
    }
    ica.run(spec, out=out)
    batched = ica.load(out)
    singles = [ica.load(out, seeds=[s]) for s in batched.seeds]
    x = torch.randn(args.rows, 5, generator=torch.Generator().manual_seed(0))
    times = {"batched": [], "one at a time": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        z = batched.transform(x)
        times["batched"].append(time.perf_counter() - start)
        start = time.perf_counter()
        z1 = np.stack([m.transform(x) for m in singles])
        times["one at a time"].append(time.perf_counter() - start)
    print(
        f"{args.rows:,} rows x {args.seeds} seeds, torch threads {torch.get_num_threads()}, "
        f"equal: {np.array_equal(z, z1)}"
    )
    for name, ts in times.items():
        rates = [args.rows / t for t in ts]
        print(
            f"  {name:14s} {statistics.median(rates):12,.0f} rows/s per model of {args.seeds} seeds "
            f"(range {min(rates):,.0f} .. {max(rates):,.0f})"
        )
    ratios = [b / a for a, b in zip(times["batched"], times["one at a time"])]
    print(f"  batched is {statistics.median(ratios):.2f}x faster (range {min(ratios):.2f} .. {max(ratios):.2f})")


if __name__ == "__main__":
    main()
