"""`check_component`: every contract check of a component's kind, run against an installed registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ica.components.registry import Registry, registry
from ica.testing.contract import ContractError, NotApplicable

Check = Callable[..., None]
"""``check(reg, name, extra=None)``: raises `ContractError` or `NotApplicable`, returns None when it holds."""


@dataclass
class CheckReport:
    """What `check_component` ran: the checks that held and, per check that did not apply, why."""

    kind: str
    name: str
    passed: list[str] = field(default_factory=list)
    not_applicable: dict[str, str] = field(default_factory=dict)


def component_checks(kind: str) -> list[Check]:
    """The checks of one kind, in the order they run (every kind also round-trips its options through JSON)."""
    from ica.testing import data_checks, model_checks, module_checks

    per_kind: dict[str, list[Check]] = {
        "encoder": [module_checks.encoder_contract],
        "decoder": [module_checks.decoder_contract],
        "prior": [module_checks.prior_contract],
        "likelihood": [module_checks.likelihood_contract, data_checks.likelihood_support],
        "model": [
            model_checks.model_contract,
            model_checks.generative_methods,
            model_checks.seeds_initialised_apart,
            model_checks.fitted_peer_contract,
        ],
        "dataset": [data_checks.dataset_contract],
        "metric": [data_checks.metric_contract, data_checks.metric_measures],
    }
    if kind not in per_kind:
        raise ValueError(f"unknown kind {kind!r}; the kinds are {sorted(per_kind)}")
    return [data_checks.options_round_trip, *per_kind[kind]]


def check_component(
    kind: str, name: str, *, reg: Registry | None = None, options: dict[str, Any] | None = None
) -> CheckReport:
    """Run every check of ``kind`` on component ``name`` of ``reg`` (default: the installed registry, entry-point
    plugins included); raise `ContractError` at the first that fails.

    Args:
        kind: "encoder", "decoder", "prior", "likelihood", "model", "dataset" or "metric".
        name: the component's registered name.
        reg: the registry to check in, e.g. ``Registry.load(extra=[...])`` for a module not installed.
        options: options for the component where its defaults do not build (a dataset's file, say).
    """
    reg = reg or registry()
    reg.get(kind, name)  # an unknown name says what is close
    report = CheckReport(kind, name)
    for check in component_checks(kind):
        try:
            check(reg, name, options)
        except NotApplicable as reason:
            report.not_applicable[check.__name__] = str(reason)
        except ContractError as exc:
            raise ContractError(f"{kind} {name!r} fails {check.__name__}: {exc}") from None
        except Exception as exc:  # the component itself raised: that breaks the contract too
            raise ContractError(
                f"{kind} {name!r} fails {check.__name__}: it raised {type(exc).__name__}: {exc}"
            ) from exc
        else:
            report.passed.append(check.__name__)
    return report
