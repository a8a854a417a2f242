"""Fuzzing `ica validate` with every shipped spec, each leaf (and some sections) mutated in many ways: wrong
types, huge, negative, zero, non-finite, empty, unicode, rich markup, a lone surrogate. Every outcome must
be exit 0 or 2 with one message and no traceback, in bounded memory (issue #11).

The mutations run in subprocesses (their peak RSS is what is bounded), one per shard of a deterministic
sample, so that pytest-xdist spreads them over its workers. Sizes are shrunk first so that the specs that
generate their data (TCL) build it in milliseconds and a grid of data draws validates a few runs, not dozens;
image data sets are pointed at an empty folder with downloads off, so they fail at once with a DataError. The
sample keeps the test within its time budget; the counts are printed for the record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # thousands of `ica validate` calls in a subprocess

ROOT = Path(__file__).resolve().parents[2]

MAX_RSS_MB = 3000
BUDGET = 2000
"""Mutations run, at most (a deterministic sample of all of them when there are more)."""
SHARDS = 2
"""The sample is split into this many tests, each its own subprocess (every shard's outcomes are checked)."""

WORKER = r'''
import copy, json, random, resource, sys, tempfile
from pathlib import Path
import typer.testing
from typer.testing import CliRunner
from ica.cli.app import app

COMMAND = typer.testing._get_command(app)
typer.testing._get_command = lambda _: COMMAND  # built once, not on every invoke (a third of the time)

ROOT, BUDGET, SHARD, SHARDS = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
SURROGATE = "@@SURROGATE@@"
RAW = {"Infinity": "Infinity", "-Infinity": "-Infinity", "NaN": "NaN", "1e999": "1e999"}


def shrunk(spec, folder):
    """The spec with its sizes made small (data built in milliseconds) and image downloads off."""
    data = spec.get("data", {})
    if data.get("name") == "tcl":
        data.update(segments=3, samples_per_segment=20, eval_samples_per_segment=10)
    if "download" in data or "root" in data:
        data.update(download=False, root=str(folder / "no-data"))
    spec["seeds"] = 2
    draws = spec.get("data_draws")
    if isinstance(draws, list):
        spec["data_draws"] = draws[:2]
    elif isinstance(draws, int):
        spec["data_draws"] = min(draws, 2)
    training = spec.setdefault("training", {})
    if "epochs" in training:
        training["epochs"] = 1
    for key, values in (spec.get("grid") or {}).items():
        spec["grid"][key] = values[:2]
        if "samples_per_segment" in key:
            spec["grid"][key] = [10, 20][: len(values)]
    return spec


def nodes(node, path=()):
    """Every (path, value) below ``node``: leaves and sections alike."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from nodes(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from nodes(value, path + (i,))


def values_for(value):
    """The mutations of one value."""
    out = ["x", True, False, [], {}, None, "", 1e12, 10**18, -1, 0, -0.5, "Infinity", "-Infinity", "NaN", "1e999",
           "h\u00e9llo \u2603 \U0001F600", "[/]", "[red]x", SURROGATE]
    if isinstance(value, (dict, list)):
        out = ["x", 1, None, [], {}, [value], "[/]"]
    if isinstance(value, list):
        out += [value * 50, [10**12] * len(value)]
    return out


def put(spec, path, value):
    spec = copy.deepcopy(spec)
    if not path:
        return value
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return spec


def text_of(spec, value):
    """The spec as JSON text, with raw literals JSON cannot write (Infinity, a lone surrogate) in place."""
    text = json.dumps(spec)
    if value == SURROGATE:
        return text.replace(json.dumps(SURROGATE), '"\\ud800"')
    if isinstance(value, str) and value in RAW:
        return text.replace(json.dumps(value), RAW[value])
    return text


def main():
    folder = Path(tempfile.mkdtemp())
    cases = []
    for file in sorted((ROOT / "specs").glob("*.json")):
        base = shrunk(json.loads(file.read_text()), folder)
        for path, value in nodes(base):
            if path[-1:] == ("download",):
                continue  # true would reach for the network
            for new in values_for(value):
                cases.append((file.name, path, new, base))
    total = len(cases)
    if total > BUDGET:
        cases = random.Random(0).sample(cases, BUDGET)
    cases = cases[SHARD::SHARDS]
    runner, outcomes, bad = CliRunner(), {0: 0, 2: 0}, []
    target = folder / "spec.json"
    for name, path, new, base in cases:
        target.write_text(text_of(put(base, path, new), new), encoding="utf-8", errors="surrogatepass")
        result = runner.invoke(app, ["validate", str(target)])
        output = result.output
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        ok = result.exit_code in (0, 2) and not crashed and "Traceback" not in output
        ok = ok and (output.count("error:") == 1 if result.exit_code == 2 else output.startswith("valid"))
        if ok:
            outcomes[result.exit_code] += 1
        else:
            bad.append({"spec": name, "path": ".".join(map(str, path)), "value": repr(new)[:60],
                        "exit": result.exit_code, "error": repr(result.exception)[:300], "output": output[-300:]})
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"total": total, "tried": len(cases), "exit0": outcomes[0], "exit2": outcomes[2],
                      "bad": bad, "rss_mb": rss_mb}))


main()
'''


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_leaf_of_every_shipped_spec_mutated_gives_exit_0_or_2_and_one_message(shard):
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(ROOT), str(BUDGET), str(shard), str(SHARDS)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"fuzz shard {shard + 1}/{SHARDS}: {report['total']} mutations, {report['tried']} tried: "
        f"{report['exit0']} exit 0, {report['exit2']} exit 2, {len(report['bad'])} bad; "
        f"peak RSS {report['rss_mb']:.0f} MB"
    )
    assert not report["bad"], json.dumps(report["bad"][:10], indent=1)
    assert report["rss_mb"] < MAX_RSS_MB
    assert report["exit0"] > 0 and report["exit2"] > 0
