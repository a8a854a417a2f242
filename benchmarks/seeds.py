"""Throughput of S seeds trained as one batched model against the same S seeds trained one after another.

    python -m benchmarks.seeds [--steps 500] [--seeds 1 5 10 50] [--models ivae vade] [--device cpu] [--compile]

Both paths use `ica`'s own trainer on the TCL data of §4.1 (20 segments x 1000 samples, d = 5), so the
ratio is what `training.batch_seeds` buys in `ica run`. Every number in a table comes from this one run.
With ``--compile`` each batched run is repeated with ``training.compile`` on (compilation, done on the
warm-up steps, is excluded), and the last column is compiled over eager batched throughput.
"""

from __future__ import annotations

import argparse
import time

import torch

import ica
from ica.running.building import build_model, prepare_data, resolve_device
from ica.spec.load import load_spec
from ica.training.loop import Trainer


WARM_UP_STEPS = 50


def spec_for(model: str, steps: int, compile: bool = False) -> dict:
    return {"data": {"name": "tcl", "samples_per_segment": 1000}, "model": {"name": model},
            "training": {"steps": steps, "log_every": steps, "checkpoint_every": steps, "compile": compile}}


def train_seconds(spec, data, seeds: list[int], device: torch.device) -> float:
    """Wall time of training ``seeds`` as one model for the spec's steps (build excluded).

    A compiled model first runs ``WARM_UP_STEPS`` untimed steps, so compilation is not counted.
    """
    reg = ica.registry()
    label = next(iter(spec.models))
    model = build_model(reg, spec.models[label], data, seeds, label).to(device)
    trainer = Trainer(model, data.train, seeds, spec.training)
    if spec.training.compile:
        trainer.spec = spec.training.model_copy(update={"steps": WARM_UP_STEPS})
        trainer.run()
        trainer.spec = spec.training.model_copy(update={"steps": WARM_UP_STEPS + spec.training.steps})
    return timed_run(trainer, device)


def timed_run(trainer: Trainer, device: torch.device) -> float:
    """Seconds of ``trainer.run()``, waiting for the device at both ends so the clock sees all the work."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5, 10, 50])
    parser.add_argument("--models", nargs="+", default=["ivae", "vade"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time batched training with torch.compile")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.steps} steps per seed\n")
    header = f"{'model':6} {'S':>4} {'batched seed-steps/s':>21} {'sequential seed-steps/s':>24} {'ratio':>6}"
    print(header + (f" {'compiled seed-steps/s':>22} {'compiled/eager':>15}" if args.compile else ""))
    for name in args.models:
        spec = load_spec(spec_for(name, args.steps))
        data = prepare_data(spec, ica.registry())
        data = type(data)(data.train.to(device), data.eval.to(device), data.n_u, data.info)
        train_seconds(spec, data, [0], device)  # warm-up: first-call allocations and kernel selection
        for s in args.seeds:
            seeds = list(range(s))
            batched = train_seconds(spec, data, seeds, device)
            sequential = sum(train_seconds(spec, data, [seed], device) for seed in seeds)
            work = s * args.steps
            line = f"{name:6} {s:>4} {work / batched:>21.0f} {work / sequential:>24.0f} {sequential / batched:>6.1f}"
            if args.compile:
                compiled = train_seconds(load_spec(spec_for(name, args.steps, compile=True)), data, seeds, device)
                line += f" {work / compiled:>22.0f} {batched / compiled:>15.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
