"""The matrix L of Eq. 2, its condition number, and the remedies of §3, on hand-built priors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import ica
from ica.training.identifiability import LConstraint, condition_number, l_matrix, natural_parameters
from ica.spec.load import load_spec


def test_natural_parameters_of_a_gaussian():
    lam = natural_parameters(torch.tensor([[[2.0]]]), torch.tensor([[[math.log(4.0)]]]))
    torch.testing.assert_close(lam, torch.tensor([[[0.5, -0.125]]]))


def test_l_and_its_condition_number_on_a_hand_built_case():
    mean = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    log_var = torch.log(torch.tensor([[[1.0], [1.0], [4.0]]], dtype=torch.float64))
    # λ(u0) = (0, -1/2), λ(u1) = (1, -1/2), λ(u2) = (1/2, -1/8): columns are the differences from u0.
    expected = np.array([[1.0, 0.5], [0.0, 0.375]])
    L = l_matrix(mean, log_var)
    np.testing.assert_allclose(L[0].numpy(), expected)
    np.testing.assert_allclose(condition_number(L).numpy(), [np.linalg.cond(expected)])


def test_l_cannot_be_built_with_too_few_components_and_is_singular_with_equal_variances():
    assert l_matrix(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)) is None  # K = 4 < 2·2 + 1
    mean = torch.randn(1, 6, 2, dtype=torch.float64)
    cn = condition_number(l_matrix(mean, torch.zeros(1, 6, 2, dtype=torch.float64)))
    assert not torch.isfinite(cn).all() or cn.item() > 1e12  # the σ² rows of L are all zero


class EqualVariancePrior(nn.Module):
    """A prior whose components share one variance: L is singular until perturbed."""

    def __init__(self, seeds=2, k=5, d=2):
        super().__init__()
        self.mean = nn.Parameter(torch.randn(seeds, k, d))
        self.log_var = nn.Parameter(torch.zeros(seeds, k, d))

    def component_parameters(self):
        return self.mean, self.log_var


class Holder(nn.Module):
    def __init__(self, prior):
        super().__init__()
        self.prior = prior


def spec(**identifiability):
    return load_spec(
        {"data": {"name": "tcl"}, "model": {"name": "vade"}, "training": {"identifiability": identifiability}}
    ).training.identifiability


def test_perturbation_makes_a_singular_l_invertible_and_touches_only_that_seed():
    prior = EqualVariancePrior()
    with torch.no_grad():
        prior.log_var[1].copy_(torch.randn(5, 2))  # seed 1 is fine
    before = [p.detach().clone() for p in prior.parameters()]
    constraint = LConstraint.for_model(Holder(prior), spec(remedy="perturb"), print)
    out = constraint.check([torch.Generator().manual_seed(s) for s in (0, 1)])
    assert out["l_perturbed"] == [True, False]
    assert all(math.isfinite(c) and c < 1e6 for c in out["l_condition"])
    after = list(prior.parameters())
    assert not torch.equal(after[1][0], before[1][0]) and torch.equal(after[1][1], before[1][1])


def test_monitor_only_never_changes_the_prior():
    prior = EqualVariancePrior()
    before = prior.log_var.detach().clone()
    out = LConstraint.for_model(Holder(prior), spec(), print).check([torch.Generator()] * 2)
    assert out["l_perturbed"] == [False, False] and torch.equal(prior.log_var, before)


def test_the_penalty_is_alpha_times_cn_and_has_gradients():
    prior = EqualVariancePrior()
    with torch.no_grad():
        prior.log_var.copy_(torch.randn(2, 5, 2))
    constraint = LConstraint.for_model(Holder(prior), spec(remedy="penalty", alpha=0.5), print)
    penalty = constraint.penalty()
    torch.testing.assert_close(penalty, 0.5 * constraint.condition())
    penalty.sum().backward()
    assert prior.mean.grad.abs().sum() > 0 and prior.log_var.grad.abs().sum() > 0


@pytest.mark.slow
def test_too_few_components_is_said_once(tiny_spec, tmp_path):
    events = []
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}  # 5 components, d = 3: needs 7
    ica.run(tiny_spec, out=tmp_path, on_event=lambda name, **info: events.append((name, info)))
    notices = [info["message"] for name, info in events if name == "notice"]
    assert len(notices) == 1 and "cannot be built" in notices[0]
    line = json.loads((tmp_path / "vade" / "seeds" / "0" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "l_condition" not in line


@pytest.mark.slow
@pytest.mark.parametrize("remedy", ["none", "perturb", "penalty"])
def test_condition_number_is_logged_during_training(tiny_spec, tmp_path, remedy):
    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    tiny_spec["data"].update(segments=8)  # 8 values of u >= 2·3 + 1
    tiny_spec["training"]["identifiability"] = {"remedy": remedy}
    ica.run(tiny_spec, out=tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "ivae" / "seeds" / "1" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(line["l_condition"]) and line["l_condition"] >= 1 for line in lines)
    assert all(line["l_perturbed"] in (True, False) for line in lines)
