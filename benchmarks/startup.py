"""Start-up time of the ``ica`` command, which every worker process and array task pays too: ``ica list``
(import `ica`, load every plugin, print) against the floor of importing torch alone and against the same
command with torchvision, scipy and scikit-learn imported up front, as every start did before 2026-11-28.

    python -m benchmarks.startup [--repeats 5]

Each command runs in a fresh interpreter; the median of ``--repeats`` runs is reported, after one run of
each to warm the file cache.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "ica list": [sys.executable, "-m", "ica", "list"],
    # what every start paid before these libraries were imported on use (2026-11-28)
    "ica list, eager imports": [
        sys.executable,
        "-c",
        "import torchvision, scipy.optimize, scipy.stats, "
        "sklearn.decomposition, sys; sys.argv = ['ica', 'list']; import ica.cli; ica.cli.main()",
    ],
}


def median_seconds(command: list[str], repeats: int) -> float:
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seconds = {name: median_seconds(command, args.repeats) for name, command in COMMANDS.items()}
    floor = seconds["python -c 'import torch'"]
    print(f"{'command':<28}{'median s':>10}{'x torch import':>16}")
    for name, value in seconds.items():
        print(f"{name:<28}{value:>10.2f}{value / floor:>16.2f}")


if __name__ == "__main__":
    main()
