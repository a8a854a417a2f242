"""`ica`'s iVAE beside the public reference implementation (Khemakhem et al.'s ilkhem/iVAE) on the same data.

    python -m benchmarks.reference_ivae --reference /path/to/ilkhem-iVAE [--steps 20000] [--seed 0]

The reference code is not part of `ica` and is never copied into it: point ``--reference`` at your own
checkout (``git clone https://github.com/ilkhem/iVAE``); its ``models/nets.py`` is imported from there.
Both models are trained on the same TCL data of §4.1 (20 segments x 1000 samples, d = 5, the `tcl`
defaults), for the same number of Adam steps (lr 1e-3, batch 64, no schedule), with the reference's own
architecture defaults (3-layer MLPs, hidden 50, LeakyReLU 0.1, decoder variance 0.1, plain ELBO:
a = b = c = d = 1) and `ica`'s defaults. Reported: training steps per second and MCC to the true sources
on the held-out evaluation points (posterior means), for one seed each, and `ica` with 10 seeds batched.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import numpy as np
import torch

import ica
from ica.evaluation.correlation import mcc
from ica.running.building import prepare_data
from ica.spec.load import load_spec


def reference_model(path: str, data_dim: int, aux_dim: int):
    sys.path.insert(0, path)
    nets = importlib.import_module("models.nets")
    return nets.cleanIVAE(
        data_dim=data_dim,
        latent_dim=data_dim,
        aux_dim=aux_dim,
        hidden_dim=50,
        n_layers=3,
        activation="lrelu",
        slope=0.1,
    )


def train_reference(model, data, steps: int, seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    x, u = data.train.x, torch.nn.functional.one_hot(data.train.u, data.n_u).float()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, u), batch_size=64, shuffle=True, drop_last=True
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    done, start = 0, time.perf_counter()
    while done < steps:
        for xb, ub in loader:
            optimizer.zero_grad()
            loss, _ = model.elbo(xb, ub, len(x), a=1.0, b=1.0, c=1.0, d=1.0)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        _, g, _, _, _ = model(data.eval.x, torch.nn.functional.one_hot(data.eval.u, data.n_u).float())
    return steps / seconds, mcc(g.numpy(), data.eval.s.numpy())


def train_ica(steps: int, seeds: list[int]) -> tuple[float, list[float]]:
    spec = {
        "data": {"name": "tcl", "samples_per_segment": 1000},
        "model": {"name": "ivae"},
        "training": {"steps": steps, "scheduler": None, "log_every": steps, "checkpoint_every": steps},
        "seeds": seeds,
        "evaluation": {"metrics": [{"name": "mcc", "floors": False}]},
        "device": "cpu",
    }
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        events = {}
        summary = ica.run(spec, out=out, on_event=lambda name, **info: events.setdefault(name, info))
    seconds = events["train_end"]["seconds"]
    values = [v["mcc"] for v in summary["cells"]["ivae"]["seeds"].values()]
    return steps * len(seeds) / seconds, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="A checkout of github.com/ilkhem/iVAE.")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = load_spec({"data": {"name": "tcl", "samples_per_segment": 1000}, "model": {"name": "ivae"}})
    data = prepare_data(spec, ica.registry())
    print(f"TCL data: {len(data.train)} training and {len(data.eval)} evaluation points, {args.steps} steps\n")
    rate, score = train_reference(
        reference_model(args.reference, data.x_shape[0], data.n_u), data, args.steps, args.seed
    )
    print(f"reference iVAE, 1 seed:      {rate:7.0f} seed-steps/s   MCC {score:.3f}")
    rate, scores = train_ica(args.steps, [args.seed])
    print(f"ica iVAE, 1 seed:            {rate:7.0f} seed-steps/s   MCC {scores[0]:.3f}")
    rate, scores = train_ica(args.steps, list(range(10)))
    print(
        f"ica iVAE, 10 seeds batched:  {rate:7.0f} seed-steps/s   MCC median {np.median(scores):.3f} "
        f"[{np.percentile(scores, 25):.3f}, {np.percentile(scores, 75):.3f}]"
    )


if __name__ == "__main__":
    main()
