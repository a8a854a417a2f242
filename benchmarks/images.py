"""Batched against sequential seeds for the image architectures of App. A (iVAE, MNIST-shaped data).

    python -m benchmarks.images [--steps 20] [--seeds 10] [--nets mlp convnet resnet] [--side 28]

Random 8-bit images stand in for MNIST (the time of a step does not depend on pixel values), so this runs
offline. Both paths use `ica`'s trainer; every ratio comes from this one run.
"""

from __future__ import annotations

import argparse

import torch

import ica
from ica.components.protocols import DataSplits, Split
from ica.running.building import build_model, resolve_device
from ica.training.loop import Trainer

from .seeds import timed_run

NETS = {
    "mlp": {"name": "mlp", "hidden": [512, 384, 256, 256], "negative_slope": 0.1, "dropout": 0.1, "dropout_after": [2]},
    "convnet": {"name": "convnet"},
    "resnet": {"name": "resnet"},
}


def images(n: int, side: int, device: torch.device) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (n, 1, side, side), generator=g) / 255, torch.arange(n) % 10).to(device)
    return DataSplits(split, split, n_u=10)


def seconds(options, data, seeds: list[int], steps: int, device: torch.device) -> float:
    model = build_model(ica.registry(), options, data, seeds, "bench").to(device)
    training = ica.load_spec(
        {"data": {"name": "tcl"}, "model": {"name": "ivae"}, "training": {"steps": steps, "log_every": steps}}
    ).training
    trainer = Trainer(model, data.train, seeds, training)
    trainer.one_step()  # warm-up: allocations and kernel choice
    return timed_run(trainer, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--nets", nargs="+", default=list(NETS))
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = images(2048, args.side, device)
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, {args.steps} steps, batch 64, "
        f"{args.side}x{args.side} images, d_z 50\n"
    )
    print(f"{'net':8} {'S':>3} {'batched seed-steps/s':>21} {'sequential seed-steps/s':>24} {'ratio':>6}")
    for net in args.nets:
        options = ica.load_spec(
            {
                "data": {"name": "tcl"},
                "model": {
                    "name": "ivae",
                    "latent_dim": 50,
                    "encoder": NETS[net],
                    "decoder": NETS[net],
                    "likelihood": {"name": "bernoulli"},
                },
            }
        ).models["ivae"]
        seeds = list(range(args.seeds))
        batched = seconds(options, data, seeds, args.steps, device)
        sequential = sum(seconds(options, data, [s], args.steps, device) for s in seeds)
        work = args.seeds * args.steps
        ratio = sequential / batched
        print(f"{net:8} {args.seeds:>3} {work / batched:>21.1f} {work / sequential:>24.1f} {ratio:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
