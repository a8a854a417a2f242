"""GMM-Flow (App. D) and the seed-stacking adapter that batches its zuko flow over seeds.

The flow's log-determinant is checked against the autograd Jacobian, its loss against a mixture
density written out with numpy, and the adapter against plain, unstacked copies of the module.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import zuko
from scipy.special import logsumexp
from torch import nn

import ica
from ica.errors import SpecError
from ica.training.optim import SeedAdam
from ica.components.registry import registry
from ica.components.protocols import Batch, BuildContext
from ica.nn.seeding import build_seeded, check_seed_axis, derived_seed
from ica.nn.stacked import SeedStacked
from ica.spec.models import spec_models

REG = registry()
D = 3


@pytest.fixture
def float64():
    """Build and compute in float64, so equalities hold to rounding of a few operations."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def flow_options(**extra):
    raw = {"name": "gmmflow", "transforms": 3, "hidden": [8, 8], "prior": {"name": "gmm", "components": 4}, **extra}
    return spec_models(REG).tagged[("model", "gmmflow")].model_validate(raw)


def build_flow(seeds: list[int], d: int = D, **extra):
    ctx = BuildContext(seeds=1, x_shape=(d,), latent_dim=d, build=REG.build)
    return build_seeded(lambda n: REG.build(flow_options(**extra), ctx.with_(seeds=n)), seeds)


def points(seeds: int, n: int, d: int = D, seed: int = 0) -> torch.Tensor:
    return 1.5 * torch.randn(seeds, n, d, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------ flow maths
@pytest.mark.parametrize("univariate", ["affine", "spline"])
def test_log_det_is_that_of_the_autograd_jacobian(float64, univariate):
    model = build_flow([3], univariate=univariate)
    x = points(1, 4)
    _, log_det = model.to_base(x)
    for i in range(x.shape[1]):
        jacobian = torch.autograd.functional.jacobian(lambda v: model.to_base(v.view(1, 1, D))[0].view(D), x[0, i])
        sign, expected = torch.linalg.slogdet(jacobian)
        assert sign != 0
        assert not torch.allclose(jacobian, torch.eye(D), atol=1e-2), "a near-identity flow would test nothing"
        assert torch.allclose(log_det[0, i], expected, atol=1e-10), (log_det[0, i], expected)


@pytest.mark.parametrize("univariate", ["affine", "spline"])
def test_the_flow_inverts(float64, univariate):
    model = build_flow([0, 1], univariate=univariate)
    x = points(2, 5)
    z, _ = model.to_base(x)
    assert torch.allclose(model.to_data(z), x, atol=1e-9)
    z = points(2, 5, seed=1)
    assert torch.allclose(model.to_base(model.to_data(z))[0], z, atol=1e-9)


def mixture_log_density(prior, z: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """log Σ_k π_k N(z; μ_k, diag σ²_k) and log π_k N(z; μ_k, σ²_k) per k, written out with numpy."""
    mean = prior.mean[seed].detach().numpy()
    var = np.exp(prior.log_var[seed].detach().numpy())
    logits = prior.logits[seed].detach().numpy()
    log_weights = logits - logsumexp(logits)
    diff = z[:, None, :] - mean[None]
    component = -0.5 * (diff**2 / var + np.log(2 * np.pi * var)).sum(-1)
    joint = log_weights[None] + component
    return logsumexp(joint, axis=1), joint


def test_loss_is_minus_mixture_density_at_z_minus_log_det(float64):
    model = build_flow([0, 1])
    x = points(2, 6)
    out = model.loss(Batch(x), None)
    assert model.noise_shape(6) is None and not model.needs_u
    rep = model.represent(Batch(x))
    for s in range(2):
        z = rep.latents[s].detach()
        log_det = torch.stack(
            [
                torch.linalg.slogdet(
                    torch.autograd.functional.jacobian(
                        lambda v, s=s: model.to_base(_one_seed_input(v, s, 2))[0][s, 0], x[s, i]
                    )
                )[1]
                for i in range(6)
            ]
        ).numpy()
        log_base, joint = mixture_log_density(model.prior, z.numpy(), s)
        np.testing.assert_allclose(out.terms["log_base"][s].detach().numpy(), log_base, rtol=1e-10)
        np.testing.assert_allclose(out.terms["log_det"][s].detach().numpy(), log_det, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(out.loss[s].detach().numpy(), -(log_base + log_det), rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(rep.assignments[s].numpy(), joint.argmax(1))


def _one_seed_input(v: torch.Tensor, seed: int, seeds: int) -> torch.Tensor:
    """A ``[S, 1, D]`` input with ``v`` in seed ``seed``'s row and zeros elsewhere."""
    rows = [v.view(1, D) if s == seed else torch.zeros(1, D) for s in range(seeds)]
    return torch.stack(rows)


def test_gradients_reach_every_parameter_and_stay_in_their_seed():
    model = build_flow([0, 1, 2])
    x = points(3, 8)
    model.loss(Batch(x), None).loss[1].sum().backward()  # seed 1's loss only
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad[1].abs().sum() > 0, f"no gradient reached seed 1's {name}"
        assert p.grad[0].abs().sum() == 0 and p.grad[2].abs().sum() == 0, f"seed 1's loss moved another seed's {name}"


def test_image_shaped_data_is_refused():
    ctx = BuildContext(seeds=1, x_shape=(1, 4, 4), latent_dim=3, build=REG.build)
    with pytest.raises(SpecError, match="flat observations"):
        REG.build(flow_options(), ctx)


# ------------------------------------------------------------------------------- stacking adapter
def small_net() -> nn.Module:
    net = nn.Sequential(nn.Linear(D, 5), nn.Tanh(), nn.Linear(5, 2))
    net.register_buffer("offset", torch.randn(2))
    net.register_buffer("scratch", torch.zeros(1), persistent=False)
    return net


class WithOffset(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = small_net()

    def forward(self, x):
        return self.net(x) + self.net.offset + self.net.scratch


def maf() -> nn.Module:
    return zuko.flows.MAF(D, transforms=2, hidden_features=[8]).transform


@pytest.mark.parametrize("make", [WithOffset, maf], ids=["mlp", "maf"])
def test_a_stack_holds_independent_copies_made_in_order(make):
    torch.manual_seed(11)
    copies = [make() for _ in range(3)]
    torch.manual_seed(11)
    stack = SeedStacked(make, 3)
    check_seed_axis(stack, 3)
    own = dict(copies[0].named_parameters())
    assert {n.removeprefix("module."): p.shape[1:] for n, p in stack.named_parameters()} == {
        n: p.shape for n, p in own.items()
    }, "the stack registers exactly the template's parameters, stacked"
    assert all(p.device.type == "meta" for p in stack.template.parameters()), "the template holds no numbers"
    for name, tensor in stack.stacked_state().items():
        for i, c in enumerate(copies):
            assert torch.equal(tensor[i], dict([*c.named_parameters(), *c.named_buffers()])[name])


def test_the_template_is_not_part_of_the_module_tree():
    stack = SeedStacked(WithOffset, 2)
    assert all(n.startswith("module.") for n, _ in [*stack.named_parameters(), *stack.named_buffers()])
    assert "module.net.scratch" not in stack.state_dict(), "non-persistent buffers stay non-persistent"
    stack.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in stack.parameters())
    assert stack(torch.randn(2, 4, D, dtype=torch.float64)).dtype == torch.float64


def test_non_tensor_inputs_reach_every_seed_unchanged():
    stack = SeedStacked(lambda: nn.Linear(D, 2), 3)
    x = points(3, 4)
    out = stack.per_seed(lambda m, v, scale, none: m(v) * scale if none is None else None, x, 2.0, None)
    expected = torch.stack([2.0 * (x[i] @ stack.module.weight[i].T + stack.module.bias[i]) for i in range(3)])
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("make", [WithOffset, maf], ids=["mlp", "maf"])
def test_seed_alone_equals_seed_in_a_stack(make):
    seeds = [4, 9, 2]
    stack = build_seeded(lambda n: SeedStacked(make, n), seeds)
    x = points(3, 6)
    batched = stack.per_seed(_outputs, x)
    looped = SeedStacked(make, 3, vectorize=False)
    looped.load_state_dict(stack.state_dict())
    for i, seed in enumerate(seeds):
        alone = build_seeded(lambda n: SeedStacked(make, n), [seed])
        for name, tensor in alone.state_dict().items():
            assert torch.equal(tensor[0], stack.state_dict()[name][i]), name
        torch.manual_seed(derived_seed(seed, "init"))
        plain = make()  # the module itself, never stacked
        for out_batched, out_alone, out_plain, out_looped in zip(
            batched, alone.per_seed(_outputs, x[i : i + 1]), _outputs(plain, x[i]), looped.per_seed(_outputs, x)
        ):
            assert torch.allclose(out_batched[i], out_alone[0], atol=1e-6)
            assert torch.allclose(out_batched[i], out_plain, atol=1e-6)
            assert torch.allclose(out_batched[i], out_looped[i], atol=1e-6)


def _outputs(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """What each kind of test module computes: a flow's z and log-det, or a network's output."""
    if isinstance(module, zuko.lazy.LazyTransform):
        return module().call_and_ladj(x)
    return (module(x),)


def test_training_a_seed_in_a_batch_equals_training_it_alone(float64):
    seeds = [0, 1, 2]
    x = points(3, 16)

    def train(model, data):
        optimizer = SeedAdam(model.parameters(), data.shape[0], lr=1e-2)
        for step in range(5):
            batch = data[:, (step % 2) * 8 : (step % 2) * 8 + 8]
            optimizer.zero_grad()
            model.loss(Batch(batch), None).loss.mean(1).sum().backward()
            optimizer.step()
        return model.state_dict()

    batched = train(build_flow(seeds), x)
    start = build_flow(seeds).state_dict()
    for i, seed in enumerate(seeds):
        alone = train(build_flow([seed]), x[i : i + 1])
        moved = False
        for name, tensor in alone.items():
            assert torch.allclose(batched[name][i], tensor[0], rtol=0, atol=1e-10), name
            moved |= not torch.equal(tensor[0], start[name][i])
        assert moved, "training must change the parameters"


def test_vmap_and_loop_evaluation_agree():
    vmapped = build_flow([0, 1])
    looped = build_flow([0, 1], vectorize=False)
    assert all(torch.equal(a, b) for a, b in zip(vmapped.state_dict().values(), looped.state_dict().values()))
    x = points(2, 5)
    a, b = vmapped.loss(Batch(x), None), looped.loss(Batch(x), None)
    assert torch.allclose(a.loss, b.loss, atol=1e-5)


# ------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_run_end_to_end(tmp_path, tiny_spec):
    tiny_spec["models"] = {
        "flow": {"name": "gmmflow", "transforms": 2, "hidden": [16], "prior": {"name": "gmm", "components": 4}}
    }
    summary = ica.run(copy.deepcopy(tiny_spec), tmp_path / "run")
    assert summary["cells"]["flow"]["status"] == {"0": "finished", "1": "finished"}
    for seed in (0, 1):
        latents = np.load(tmp_path / "run" / "flow" / "seeds" / str(seed) / "latents.npz")
        assert latents["latents"].shape == (4 * 20, 3) and np.isfinite(latents["latents"]).all()
        assert latents["assignments"].shape == (4 * 20,) and latents["assignments"].max() < 4
