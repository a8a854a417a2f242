"""Throughput of S seeds: batched eager, batched through the compiled step, and one seed after another, with
each as a fraction of this CPU's arithmetic limit for the step's matrix products.

    OMP_NUM_THREADS=1 python -m benchmarks.seeds [--steps 300] [--seeds 1 10 50] [--models ivae vade]
                                                 [--repeats 3] [--no-sequential] [--device cpu]

Every contender uses `ica`'s own trainer on the TCL data of §4.1 (20 segments x 1000 samples, d = 5). The
contenders of one (model, S) are run in interleaved rounds (``--repeats``), and each is reported as the
median seed-steps per second with its range. A compiled trainer first runs ``WARM_UP_STEPS`` untimed steps,
so compiling is not counted (``compile s``: the most one round paid; later rounds reuse the compiled code of
the first, as `ica run` does for a second trainer of the same shapes in one process).

The limit: one eager step is traced once to record every matrix product it runs (forward and backward,
`torch.utils._python_dispatch`), with their FLOPs; the same products are then timed alone, back to back,
on random tensors of the same shapes. ``limit`` is S divided by that time, the seed-steps per second a step
made of nothing but its matrix products would reach; ``of limit`` is the compiled step's share of it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import ica
from ica.components.protocols import Batch
from ica.running.building import build_model, prepare_data, resolve_device
from ica.spec.load import load_spec
from ica.training.loop import Trainer

WARM_UP_STEPS = 30
PRODUCTS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.baddbmm.default,
}


def spec_for(model: str, steps: int, compile: bool) -> dict:
    return {
        "data": {"name": "tcl", "samples_per_segment": 1000},
        "model": {"name": model},
        "training": {"steps": steps, "log_every": steps, "checkpoint_every": steps, "compile": compile},
    }


def train_seconds(name: str, steps: int, data, seeds: list[int], device: torch.device, compile: bool):
    """Seconds of ``steps`` training steps of ``seeds`` as one model (build excluded), and compile seconds."""
    spec = load_spec(spec_for(name, steps, compile))
    label = next(iter(spec.models))
    model = build_model(ica.registry(), spec.models[label], data, seeds, label).to(device)
    trainer = Trainer(model, data.train, seeds, spec.training)
    compiling = 0.0
    if trainer.compiled is not None:
        trainer.spec = spec.training.model_copy(update={"steps": WARM_UP_STEPS})
        trainer.run()
        compiling = trainer.compiled.compile_seconds or 0.0
        trainer.spec = spec.training.model_copy(update={"steps": WARM_UP_STEPS + steps})
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, compiling


class _Products(TorchDispatchMode):
    """Records each matrix product an operation runs: (op, argument shapes)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            self.calls.append((func, [a.shape for a in args if isinstance(a, torch.Tensor)]))
        return func(*args, **(kwargs or {}))


def _flops(func, shapes) -> int:
    if func in (torch.ops.aten.mm.default, torch.ops.aten.bmm.default):
        a, b = shapes
    else:  # addmm / baddbmm: (bias, a, b)
        a, b = shapes[1], shapes[2]
    batch = a[0] if len(a) == 3 else 1
    return 2 * batch * a[-2] * a[-1] * b[-1]


def product_limit(name: str, data, seeds: int, device: torch.device, repeats: int = 200) -> tuple[float, float]:
    """(FLOPs of one step's matrix products, seconds those products take alone, back to back)."""
    spec = load_spec(spec_for(name, 1, False))
    label = next(iter(spec.models))
    model = build_model(ica.registry(), spec.models[label], data, list(range(seeds)), label).to(device).train()
    index = torch.randint(0, len(data.train), (seeds, spec.training.batch_size), device=device)
    shape = model.noise_shape(spec.training.batch_size)
    noise = None if shape is None else torch.randn(seeds, *shape, device=device)
    u = None if data.train.u is None else data.train.u[index]
    with _Products() as recorded:
        model.loss(Batch(data.train.x[index], u), noise).loss.mean(1).sum().backward()
    flops = sum(_flops(f, s) for f, s in recorded.calls)
    tensors = [(f, [torch.randn(s, device=device) for s in shapes]) for f, shapes in recorded.calls]
    for f, args in tensors:  # warm-up
        f(*args)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            for f, args in tensors:
                f(*args)
        times.append((time.perf_counter() - start) / repeats)
    return flops, statistics.median(times)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):>7.0f} [{min(values):.0f}-{max(values):.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--models", nargs="+", default=["ivae", "vade"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-sequential", action="store_true", help="leave out one-seed-after-another")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, {args.steps} steps, {args.repeats} "
        "interleaved rounds; seed-steps/s as median [range]\n"
    )
    print(
        f"{'model':6} {'S':>3} {'eager batched':>20} {'compiled batched':>20} {'sequential':>20} "
        f"{'compile s':>9} {'MFLOP/step':>10} {'GFLOP/s alone':>13} {'limit':>7} {'of limit':>8}"
    )
    for name in args.models:
        data = prepare_data(load_spec(spec_for(name, args.steps, False)), ica.registry())
        data = type(data)(data.train.to(device), data.eval.to(device), data.n_u, data.info)
        train_seconds(name, 20, data, [0], device, False)  # first-call allocations and kernel selection
        for s in args.seeds:
            seeds = list(range(s))
            rates = {"eager": [], "compiled": [], "sequential": []}
            compiling = []
            for _ in range(args.repeats):  # interleaved: each round runs every contender once
                rates["eager"].append(s * args.steps / train_seconds(name, args.steps, data, seeds, device, False)[0])
                seconds, c = train_seconds(name, args.steps, data, seeds, device, True)
                rates["compiled"].append(s * args.steps / seconds)
                compiling.append(c)
                if not args.no_sequential:
                    total = sum(train_seconds(name, args.steps, data, [k], device, False)[0] for k in seeds)
                    rates["sequential"].append(s * args.steps / total)
            flops, alone = product_limit(name, data, s, device)
            limit = s / alone
            share = statistics.median(rates["compiled"]) / limit
            sequential = spread(rates["sequential"]) if rates["sequential"] else f"{'-':>20}"
            print(
                f"{name:6} {s:>3} {spread(rates['eager']):>20} {spread(rates['compiled']):>20} {sequential:>20} "
                f"{max(compiling):>9.1f} {flops / s / 1e6:>10.2f} {flops / alone / 1e9:>13.1f} "
                f"{limit:>7.0f} {share:>8.0%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
