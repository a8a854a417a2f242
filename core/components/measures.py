"""How a metric's numbers are shown: one `Measure` per record name a metric writes, declared when it registers.

A metric says what it measures once, at registration (``register("metric", name, Options, build,
measures=(Measure(...), ...))``, or a ``measures`` attribute of the class it registers), and every display reads
that: `ica run`'s table, ``ica results``, ``ica report`` and the comparisons take names, order, direction,
decimals and controls from here, so a third-party metric is shown like a built-in without a change to `ica`.
A record no metric declares (from a metric written before measures existed) is shown under its own name,
after every declared one (`Measures.get`).

The statistics are written by one rule (`stats_text`): ``median [q25, q75] n=N``, numbers to four significant
digits, failures spelled out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

CONTROLS = ("untrained", "observations", "pca", "fastica")
"""What a measure can be read against, in the order shown: its value on the untrained networks (per seed or pair,
recorded as ``<key>_untrained``), then its floors, measured on the raw observations, their PCA and FastICA
(``<key>_observations``, ``_pca``, ``_fastica``)."""
CONTROL_NAMES = {"untrained": "untrained", "observations": "observations", "pca": "PCA", "fastica": "FastICA"}
SHORT_MAX = 14
"""The most characters of a column header (`Measure.header`): a table of several metrics fits a terminal."""
INDEX = re.compile(r"\d+|\[\d+(,\d+)*\]")
"""The index of one member of an indexed measure: ``affine_r2_source`` 0, 1, ...; ``grid_mcc_in`` [0,1], ..."""


@dataclass(frozen=True)
class Measure:
    """One record name a metric writes to summary.json, and how tables show it.

    Attributes:
        key: the record name (``MetricRecord.metric``), e.g. ``"mcc"``, ``"cca_mcc_out"``.
        title: the name in reports and captions, e.g. ``"MCC to sources"``.
        short: a column header of at most 14 characters (default: the title, where it is that short).
        order: tables sort by it (the built-ins use 10 to 99); records no metric declares come last.
        higher_is_better: the direction of a comparison's verdict; None for a description of the representation
            (a count of dimensions, say) that is shown beside the results and never compared.
        digits: decimals in the terminal's cells (``ica results``).
        controls: which of `CONTROLS` the metric records for it.
        headline: shown by default in `ica run`'s table and ``ica results`` (``--all`` shows every measure).
        indexed: one record per source or position besides (or instead of) the key itself, named the key
            followed by an index (``affine_r2_source0``, ``grid_mcc_in[0,1]``).
    """

    key: str
    title: str
    short: str = ""
    order: float = 1000
    higher_is_better: bool | None = True
    digits: int = 3
    controls: tuple[str, ...] = ()
    headline: bool = False
    indexed: bool = False

    @property
    def header(self) -> str:
        """The column header: `short`, or the title where none is given."""
        return self.short or self.title

    def number(self, value: float | None) -> str:
        """One value at the measure's decimals ('failed' for a failure)."""
        return "failed" if value is None else f"{value:.{self.digits}f}"

    def member(self, name: str) -> str | None:
        """The index of ``name`` in this indexed measure (``"[0,1]"``), or None when it is not one of it."""
        rest = name[len(self.key) :] if self.indexed and name.startswith(self.key) else None
        return rest if rest and INDEX.fullmatch(rest) else None

    def declares(self, record: str) -> bool:
        """Whether ``record`` (a name in a metric's records) is this measure, one of its members or controls."""
        for control in self.controls:
            if record.endswith(f"_{control}"):
                record = record[: -len(control) - 1]
                break
        return record == self.key or self.member(record) is not None


def undeclared(key: str) -> Measure:
    """How a record that no metric declares is shown: under its own name, after every declared measure, compared
    with higher taken as better."""
    return Measure(key, key, key, order=math.inf)


def problems(measure: object) -> list[str]:
    """What is wrong with one declared measure, for the plugin kit (empty when it is well formed)."""
    if not isinstance(measure, Measure):
        return [f"{measure!r} is not an ica.plugin.Measure"]
    m, found = measure, []
    if not (isinstance(m.key, str) and m.key and m.key.isidentifier()):
        found.append(f"key {m.key!r} must be a record name such as 'my_score' (letters, digits, underscores)")
    elif any(m.key.endswith(f"_{c}") for c in CONTROLS):
        found.append(f"key {m.key!r} ends like a control (_{'/_'.join(CONTROLS)}): tables would read it as one")
    if not (isinstance(m.title, str) and m.title.strip()):
        found.append(f"{m.key}: title must be a non-empty string")
    elif not isinstance(m.short, str) or len(m.header) > SHORT_MAX:
        found.append(f"{m.key}: the column header {m.header!r} is longer than {SHORT_MAX} characters: give a short")
    if isinstance(m.order, bool) or not isinstance(m.order, (int, float)) or not math.isfinite(m.order):
        found.append(f"{m.key}: order must be a finite number, got {m.order!r}")
    if m.higher_is_better not in (True, False, None):
        found.append(f"{m.key}: higher_is_better must be True, False or None, got {m.higher_is_better!r}")
    if isinstance(m.digits, bool) or not isinstance(m.digits, int) or not 0 <= m.digits <= 8:
        found.append(f"{m.key}: digits must be a whole number from 0 to 8, got {m.digits!r}")
    if (
        not isinstance(m.controls, tuple)
        or not set(m.controls) <= set(CONTROLS)
        or len(set(m.controls)) != len(m.controls)
    ):
        found.append(
            f"{m.key}: controls must be a tuple of distinct names among {', '.join(CONTROLS)}, got {m.controls!r}"
        )
    for flag in ("headline", "indexed"):
        if not isinstance(getattr(m, flag), bool):
            found.append(f"{m.key}: {flag} must be True or False, got {getattr(m, flag)!r}")
    return found


class Measures:
    """Every declared measure by key, as tables ask for them: what a record is called, where it goes, how it reads.

    The first metric to declare a key keeps it (two metrics writing one record name would overwrite each other's
    numbers anyway).
    """

    def __init__(self, measures: Iterable[Measure] = ()):
        self.declared: dict[str, Measure] = {}
        for m in measures:
            self.declared.setdefault(m.key, m)
        self._indexed = [m for m in self.declared.values() if m.indexed]

    def get(self, name: str) -> Measure:
        """The measure of record ``name``: declared, a member of an indexed measure (titled with its index), or
        `undeclared`."""
        if name in self.declared:
            return self.declared[name]
        family = self.family(name)
        if family is not None:
            index = family.member(name)
            return Measure(
                name,
                f"{family.title} {index}",
                f"{family.header} {index}",
                family.order,
                family.higher_is_better,
                family.digits,
                family.controls,
            )
        return undeclared(name)

    def family(self, name: str) -> Measure | None:
        """The indexed measure that record ``name`` is one member of (``grid_mcc_in`` for ``grid_mcc_in[0,1]``)."""
        return next((m for m in self._indexed if m.member(name) is not None), None)

    def title(self, name: str) -> str:
        return self.get(name).title

    def order(self, names: Iterable[str]) -> list[str]:
        """``names`` (metrics, no controls) by their measures' order: each declared measure, followed by its
        members, then every record no metric declares, by name."""

        def rank(name: str) -> tuple[float, bool, str]:
            return (self.get(name).order, self.family(name) is not None, name)

        return sorted(set(names), key=rank)

    def headline(self, names: Iterable[str]) -> list[str]:
        """The headline measures among ``names``, in order."""
        return [n for n in self.order(names) if n in self.declared and self.declared[n].headline]


def fmt_number(value: float) -> str:
    """One number of a statistics text: four significant digits."""
    return f"{value:.4g}"


def stats_text(stats: dict | None) -> str:
    """'0.6796 [0.6243, 0.7078] n=3' (median [q25, q75] count) from summary.json's statistics, failures spelled out
    ('... n=5 (1 failed)', 'all failed n=3'); '-' where the metric was not measured."""
    if not stats:
        return "-"
    if stats.get("median") is None:
        return f"all failed n={stats['n']}"
    failed = stats.get("n_failed", 0)
    tail = f" ({failed} failed)" if failed else ""
    return (
        f"{fmt_number(stats['median'])} [{fmt_number(stats['q25'])}, {fmt_number(stats['q75'])}] n={stats['n']}{tail}"
    )
