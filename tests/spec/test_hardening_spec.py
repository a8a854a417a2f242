"""Issue #11, the spec side: strict types, repeated keys, reserved labels, non-finite numbers, sizes checked
before anything is allocated, user text shown literally, and `ica validate` refusing what `ica run` would
refuse while changing nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import types
import typing
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import ica.components.registry
from ica.components.checking import DownloadNeeded, is_checking
from ica.cli import render
from ica.cli.app import app
from ica.errors import IcaError, SpecError
from ica.plugin import DatasetOptions, Field, Options, hookimpl, slot_kind
from ica.components.registry import Registry
from ica.components.protocols import DataSplits, Split
from ica.spec.load import load_spec
from ica.running.validate import check, plan, plan_packs

ROOT = Path(__file__).resolve().parents[2]


def _error(spec, reg=None) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec, reg)
    return str(info.value)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _one_message(result) -> str:
    """The CLI's output for a refused spec: exit 2, one 'error:' and no traceback."""
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    return result.output


# ----------------------------------------------------------------------- 8: strict types everywhere
def example_plugin() -> types.ModuleType:
    path = ROOT / "tests" / "example_plugin" / "ica_example_laplace.py"
    spec = importlib.util.spec_from_file_location("ica_example_laplace", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plugin_registry() -> Registry:
    reg = Registry.load(entry_points=False, extra=[("ica-example-laplace", example_plugin())])
    assert ("prior", "laplace") in reg.components
    return reg


def scalar_type(annotation) -> type | None:
    """int, bool, float or str for a field of that type (optional or constrained); None for anything else."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return scalar_type(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {scalar_type(a) for a in args if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return annotation if annotation in (int, bool, float, str) else None


WRONG = {int: [True, "2", 2.0, 2.5], bool: [1, 0, "yes", "true"], float: ["1e-3", True], str: [1, True, 1.5]}
SAMPLE = {int: 1, bool: False, float: 1.0, str: "x"}


def placed(tiny_spec: dict, reg: Registry, kind: str, options: dict) -> tuple[dict, str]:
    """``tiny_spec`` with a component of ``kind`` put where specs hold one, and the path to its options."""
    spec = json.loads(json.dumps(tiny_spec))
    if kind == "dataset":
        spec["data"] = options
        return spec, "data"
    if kind == "model":
        spec["models"] = {"m": options}
        return spec, "models.m"
    if kind == "metric":
        spec["evaluation"] = {"metrics": [options]}
        return spec, "evaluation.metrics[0]"
    host = next(c for c in reg.of_kind("model") if any(slot_kind(f) == kind for f in c.options.model_fields.values()))
    slot = next(n for n, f in host.options.model_fields.items() if slot_kind(f) == kind)
    spec["models"] = {"m": {"name": host.name, slot: options}}
    return spec, f"models.m.{slot}"


def strict_cases(reg: Registry):
    for component in reg.of_kind():
        fields = component.options.model_fields
        required = {n: SAMPLE[scalar_type(f.annotation)] for n, f in fields.items() if f.is_required()}
        for name, field in fields.items():
            kind = scalar_type(field.annotation)
            if kind is not None and slot_kind(field) is None:
                for wrong in WRONG[kind]:
                    yield component, required, name, wrong


def test_every_registered_option_refuses_a_value_of_another_type(tiny_spec, plugin_registry):
    """Ints are ints, booleans booleans, numbers numbers and text text, in every component's options,
    the third-party Laplace prior's included."""
    tried, components = 0, set()
    for component, required, name, wrong in strict_cases(plugin_registry):
        base = {"name": component.name, **required}
        spec, path = placed(tiny_spec, plugin_registry, component.kind, base)
        load_spec(spec, plugin_registry)  # the component in its place, with its defaults, is a valid spec
        spec, path = placed(tiny_spec, plugin_registry, component.kind, {**base, name: wrong})
        message = _error(spec, plugin_registry)
        assert f"{path}.{name}:" in message, (component.kind, component.name, name, wrong, message)
        tried += 1
        components.add((component.kind, component.name))
    assert ("prior", "laplace") in components and tried > 100
    print(f"strict options: {tried} wrong-typed values over {len(components)} components refused")


@pytest.mark.parametrize(
    "path, wrong",
    [
        ("seeds", True),
        ("seeds", "2"),
        ("seeds", 2.0),
        ("seeds", [0, True]),
        ("training.steps", True),
        ("training.steps", "200"),
        ("training.steps", 200.0),
        ("training.lr", "1e-3"),
        ("training.lr", True),
        ("training.betas", ["0.9", 0.99]),
        ("training.compile", 1),
        ("training.batch_seeds", 1),
        ("training.scheduler.patience", 5.0),
        ("training.identifiability.monitor", "yes"),
        ("data.standardize", "yes"),
        ("data.standardize", 1),
        ("name", 5),
        ("evaluation.split", 1),
    ],
)
def test_spec_sections_are_strict_too(tiny_spec, path, wrong):
    *parents, last = path.split(".")
    node = tiny_spec
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = wrong
    message = _error(tiny_spec)
    assert f"spec: {path}" in message and "\n" not in message.strip(), message


def test_a_float_option_may_be_written_as_an_int_and_a_pair_as_a_list(tiny_spec):
    tiny_spec["training"].update(lr=1, betas=[0, 0.5])
    spec = load_spec(tiny_spec)
    assert spec.training.lr == 1.0 and isinstance(spec.training.lr, float) and spec.training.betas == (0.0, 0.5)


# --------------------------------------------------------------------------------- 9: repeated keys
@pytest.mark.parametrize(
    "text, where",
    [
        ('{"seeds": 2, "data": DATA, "models": MODELS, "seeds": 3}', "(top level): key 'seeds'"),
        ('{"data": DATA, "models": MODELS, "training": {"steps": 30, "steps": 3000}}', "training: key 'steps'"),
        ('{"data": DATA, "models": {"a": {"name": "ivae"}, "a": {"name": "vade"}}}', "models: key 'a'"),
        ('{"data": {"name": "tcl", "dim": 3, "dim": 4}, "models": MODELS}', "data: key 'dim'"),
    ],
)
def test_a_key_given_twice_is_refused_naming_it_and_its_path(tmp_path, tiny_spec, text, where):
    path = tmp_path / "spec.json"
    path.write_text(
        text.replace("DATA", json.dumps(tiny_spec["data"])).replace("MODELS", json.dumps(tiny_spec["models"]))
    )
    message = _one_message(_cli("validate", str(path)))
    assert where in message and "twice" in message


# ------------------------------------------------------------------------------ 10: reserved labels
@pytest.mark.parametrize(
    "label",
    [
        "spec.json",
        "env.json",
        "summary.json",
        "grid.json",
        "index.json",
        "report.md",
        "report.html",
        "report_files",
        "Summary.JSON",
        "SPEC.json",
        "submitit",
    ],
)
def test_a_label_the_run_directory_uses_is_refused(tiny_spec, label):
    tiny_spec["models"][label] = tiny_spec["models"].pop("ivae")
    message = _error(tiny_spec)
    assert "spec: models:" in message and repr(label) in message and "run directory uses" in message


def test_an_over_long_label_and_labels_equal_but_for_case_are_refused(tiny_spec):
    spec = json.loads(json.dumps(tiny_spec))
    spec["models"]["a" * 300] = spec["models"].pop("ivae")
    assert "300 characters" in _error(spec)
    tiny_spec["models"]["VADE"] = tiny_spec["models"]["vade"]
    assert "differ only in case" in _error(tiny_spec)


# ------------------------------------------------------------------------ 11: non-finite numbers
@pytest.mark.parametrize(
    "path, literal",
    [
        ("training.lr", "Infinity"),
        ("training.scheduler.min_lr", "Infinity"),
        ("training.identifiability.threshold", "Infinity"),
        ("data.max_condition", "Infinity"),
        ("training.lr", "NaN"),
        ("training.scheduler.threshold", "-Infinity"),
        ("data.dim", "1e999"),
    ],
)
def test_non_finite_numbers_are_refused_with_their_path(tmp_path, tiny_spec, path, literal):
    *parents, last = path.split(".")
    node = tiny_spec
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = "@@"
    file = tmp_path / "spec.json"
    file.write_text(json.dumps(tiny_spec).replace('"@@"', literal))
    message = _one_message(_cli("validate", str(file)))
    assert f"{path}:" in message and "not a finite number" in message
    node[last] = float("inf")  # the same from Python
    assert f"{path}:" in _error(tiny_spec)


# ---------------------------------------------------------------------- 13: text shown as written
def test_show_a_component_with_a_required_option():
    result = _cli("show", "npz")
    assert result.exit_code == 0, result.output
    assert "path" in result.output and "(required)" in result.output


@pytest.mark.slow
def test_user_text_is_never_read_as_markup(tiny_spec, tmp_path):
    tiny_spec.update(name="[/] [red]x", seeds=1)
    tiny_spec["training"]["steps"] = 10
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(tiny_spec))
    result = _cli("run", str(spec), "--out", str(tmp_path / "[/]run"))
    assert result.exit_code == 0, result.output
    assert "[/] [red]x" in result.output and "[/]run" in result.output
    for event in ("cell_start", "seed_failed"):
        render.RunProgress().event(event, cell="[/]", seeds=[0], todo=[], seed=0, step=1)


@pytest.mark.parametrize("where", ["name", "models.ivae.encoder.activation", "data.name"])
def test_text_that_is_not_valid_unicode_is_refused_at_validation(tmp_path, tiny_spec, where):
    *parents, last = where.split(".")
    node = tiny_spec
    for part in parents:
        node = node[part]
    node[last] = "@@"
    file = tmp_path / "spec.json"
    file.write_text(json.dumps(tiny_spec).replace('"@@"', '"\\ud800"'))
    message = _one_message(_cli("validate", str(file)))
    assert f"{where}: text that is not valid Unicode" in message
    tiny_spec["models"]["ivae"]["encoder"]["activation"] = "relu"
    tiny_spec["name"] = "ok"
    tiny_spec["data"]["name"] = "tcl"
    tiny_spec["models"]["ivae"]["encoder"]["\udcff"] = 1  # in a key, from Python
    assert "models.ivae.encoder.\\udcff (the key)" in _error(tiny_spec)


# --------------------------------------------------------------- 14: validate refuses what run refuses
def test_validate_refuses_cuda_without_cuda_as_run_does(tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny_spec["device"] = "cuda"
    with pytest.raises(SpecError, match="CUDA was asked for"):
        check(tiny_spec)
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(tiny_spec))
    assert "device: CUDA" in _one_message(_cli("validate", str(spec)))
    assert "device: CUDA" in _one_message(_cli("run", str(spec), "--out", str(tmp_path / "r")))


def test_validate_refuses_tensorboard_when_it_is_not_installed(tiny_spec, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # importing it now fails
    tiny_spec["training"]["logger"] = "tensorboard"
    with pytest.raises(SpecError, match="tensorboard"):
        check(tiny_spec)


def _validate_in_thread(path: Path) -> tuple[threading.Thread, dict]:
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=_cli("validate", str(path))), daemon=True)
    thread.start()
    thread.join(10)
    return thread, box


def test_validate_on_a_fifo_refuses_at_once(tmp_path):
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    thread, box = _validate_in_thread(fifo)
    if thread.is_alive():  # blocked opening the FIFO: release it, then fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("ica validate blocked on a FIFO")
    assert "FIFO" in _one_message(box["result"])


def test_validate_on_a_device_refuses_at_once():
    thread, box = _validate_in_thread(Path("/dev/zero"))
    assert not thread.is_alive(), "ica validate read /dev/zero"
    assert "character device" in _one_message(box["result"])


# ------------------------------------------------------------------- 7: sizes, before allocating
def _fast_refusal(spec: dict, tmp_path: Path, fragment: str) -> str:
    file = tmp_path / "big.json"
    file.write_text(json.dumps(spec))
    start = time.perf_counter()
    message = _one_message(_cli("validate", str(file)))
    assert time.perf_counter() - start < 10 and fragment in message, message
    return message


@pytest.mark.parametrize("seeds", [1_000_000_000, list(range(10_001))])
def test_a_huge_seed_count_is_refused_before_a_list_is_built(tiny_spec, tmp_path, seeds):
    tiny_spec["seeds"] = seeds
    _fast_refusal(tiny_spec, tmp_path, "at most 10,000")


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda s: s["models"]["ivae"]["encoder"].update(hidden=[10**6, 10**6]), "models.ivae: training would need"),
        (lambda s: s["models"]["ivae"].update(latent_dim=10**9), "models.ivae: training would need"),
        (
            lambda s: (
                s["models"]["vade"]["encoder"].update(hidden=[4000, 4000]),
                s.update(seeds=5000),
                s["training"].update(batch_seeds=True),
            ),
            "5000 seeds trained together",
        ),
        (lambda s: s["models"]["ivae"]["encoder"].update(hidden=[10**18]), "models.ivae: sizes too large"),
        (
            lambda s: s.update(models={"g": {"name": "gmmflow", "transforms": 10**18}}),  # zuko cannot build on meta
            "models.g: the model is too large to build: it creates more than 10,000 modules",
        ),
        (
            lambda s: s.update(models={"g": {"name": "gmmflow", "hidden": [10**6, 10**6]}}),
            "models.g: there is not enough memory to build this model",
        ),
    ],
)
def test_a_model_too_large_for_memory_is_refused_without_allocating_it(tiny_spec, tmp_path, change, fragment):
    change(tiny_spec)
    message = _fast_refusal(tiny_spec, tmp_path, fragment)
    assert "is available on" in message or "too large" in message or "not enough memory" in message


def test_a_data_set_too_large_for_memory_is_refused_before_it_is_built(tiny_spec, tmp_path, monkeypatch):
    tcl = type(load_spec(tiny_spec).data).__mro__[1]
    built = []
    monkeypatch.setattr(tcl, "estimated_bytes", lambda self: 10**15 if self.segments > 100 else None)
    monkeypatch.setattr(
        ica.components.registry.Registry,
        "build",
        lambda self, o, ctx, real=Registry.build: built.append(o) or real(self, o, ctx),
    )
    tiny_spec["data"]["segments"] = 10**9
    assert "data: the data set would take about 1.0 PB" in _fast_refusal(tiny_spec, tmp_path, "available")
    assert not built


def _tcl_estimates() -> bool:
    from ica.plugins.datasets.tcl import TCLOptions

    return getattr(TCLOptions, "estimated_bytes", None) is not getattr(DatasetOptions, "estimated_bytes", None)


@pytest.mark.skipif(
    not _tcl_estimates(),
    reason="TCLOptions.estimated_bytes (the datasets' part of issue #11) "
    "is not there yet; without it these would allocate",
)
@pytest.mark.parametrize(
    "option, value",
    [("segments", 10**9), ("dim", 10**6), ("samples_per_segment", 10**12), ("eval_samples_per_segment", 10**12)],
)
def test_tcl_sizes_beyond_memory_are_refused_before_generating(tiny_spec, tmp_path, option, value):
    tiny_spec["data"][option] = value
    _fast_refusal(tiny_spec, tmp_path, "data")


class MetaShyOptions(Options):
    width: int = Field(4, ge=1)


class MetaShy(torch.nn.Module):
    """A plugin that computes with tensor values while building: it cannot be built on the meta device."""

    needs_u = False

    def __init__(self, options, ctx):
        super().__init__()
        scale = torch.ones(1).item()  # fails on meta
        self.w = torch.nn.Parameter(scale * torch.zeros(ctx.seeds, ctx.x_shape[0], options.width))

    def noise_shape(self, batch_size):
        return None

    def loss(self, batch, noise):
        from ica.components.protocols import LossOutput

        return LossOutput((batch.x @ self.w).pow(2).sum(-1))

    def represent(self, batch):
        from ica.components.protocols import Representation

        return Representation(batch.x @ self.w)


def test_a_plugin_that_cannot_be_built_on_meta_is_still_checked_for_real(tiny_spec):
    module = types.ModuleType("meta_shy")
    module.ica_register = hookimpl(lambda register: register("model", "meta_shy", MetaShyOptions, MetaShy))
    reg = Registry.load(entry_points=False, extra=[("tests", module)])
    tiny_spec["models"] = {"shy": {"name": "meta_shy"}}
    assert check(tiny_spec, reg)["models"]["shy"]["parameters"] == 12


# ------------------------------------------------------------------ 15: checking changes nothing
class RemoteOptions(DatasetOptions):
    download: bool = Field(True)
    root: str = Field("data")


def remote_plugin(marker: Path) -> types.ModuleType:
    def build(options, ctx):
        if is_checking():
            raise DownloadNeeded("the files are not there yet", files=["a.bin", "b.bin"], root=options.root)
        marker.write_text("downloaded")  # what a real download would do
        x = torch.zeros(20, 3)
        return DataSplits(
            Split(x, torch.zeros(20, dtype=torch.long)), Split(x[:10], torch.zeros(10, dtype=torch.long)), 1
        )

    module = types.ModuleType("remote_plugin")
    module.ica_register = hookimpl(lambda register: register("dataset", "remote", RemoteOptions, build))
    return module


def test_validate_says_what_run_would_download_and_downloads_nothing(tiny_spec, tmp_path, monkeypatch):
    marker = tmp_path / "downloaded"
    reg = Registry.load(entry_points=False, extra=[("tests", remote_plugin(marker))])
    tiny_spec["data"] = {"name": "remote", "root": str(tmp_path / "data")}
    tiny_spec["models"] = {"vae": {"name": "ivae", "latent_dim": 2}}
    report = check(tiny_spec, reg)
    assert report["downloads"] == {"root": str(tmp_path / "data"), "files": ["a.bin", "b.bin"]}
    assert "skipped" in report and report["models"]["vae"]["parameters"] is None
    tiny_spec["grid"] = {"training.lr": [0.1, 0.01]}
    assert all(c["downloads"]["files"] == ["a.bin", "b.bin"] for c in check(tiny_spec, reg)["grid"])
    tiny_spec["training"]["epochs"] = 2
    assert [r["steps"] for r in plan(tiny_spec, reg)] == [None, None] and plan_packs(tiny_spec, reg) is None
    monkeypatch.setattr(ica.components.registry, "_DEFAULT", reg)
    spec = tmp_path / "s.json"
    tiny_spec.pop("grid")
    spec.write_text(json.dumps(tiny_spec))
    result = _cli("validate", str(spec))
    assert result.exit_code == 0, result.output
    assert f"ica run will download 2 file(s) into {tmp_path / 'data'}" in " ".join(result.output.split())
    assert _cli("run", str(spec), "--dry-run").exit_code == 0
    assert not marker.exists()


def test_checks_do_not_swallow_refusals_that_are_not_about_missing_data(tiny_spec):
    tiny_spec["training"]["epochs"] = 1
    tiny_spec["models"]["ivae"]["encoder"]["hidden"] = [10**6, 10**6]
    with pytest.raises(IcaError, match="training would need"):
        plan(tiny_spec)
