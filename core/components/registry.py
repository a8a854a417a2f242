"""The registry: which components exist, who provides them, and how to build one from its options.

Plugins are found once, lazily: the built-in modules listed in ``registry.toml`` and every module
declared in the ``ica`` entry-point group. Both go through the same pluggy hook, so built-ins have no
privileges. A plugin that fails to import is recorded (``failures``) and shown by ``ica list``; it never
stops the others from loading. Two plugins claiming the same (kind, name) make that name unusable and
the error names both, so the winner is never chosen silently.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as metadata
import tomllib
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

import pluggy

from ica.components import hookspecs
from ica.errors import RegistryError
from ica.components.hookspecs import PROJECT
from ica.components.measures import Measure, Measures
from ica.components.options import Options
from ica.components.protocols import KINDS, BuildContext

ENTRY_POINT_GROUP = "ica"


@dataclass(frozen=True)
class PluginInfo:
    """Where components come from: a distribution (for entry points) or ``ica`` itself (built-ins)."""

    name: str
    version: str
    source: str  # "builtin", "entry point" or "direct"
    module: str


@dataclass(frozen=True)
class Component:
    """One registered component: its kind, name, options class and factory; a metric also its measures (how its
    records are shown: `ica.components.measures`)."""

    kind: str
    name: str
    options: type[Options]
    build: Callable[[Any, BuildContext], Any]
    description: str
    plugin: PluginInfo
    measures: tuple[Measure, ...] = ()


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or registered, with the reason."""

    plugin: str
    version: str
    error: str


@dataclass
class Registry:
    """Names, options classes and builders. Nothing else in `ica` looks names up."""

    components: dict[tuple[str, str], Component] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: list[PluginInfo] = field(default_factory=list)
    # What higher rooms derive from these components and keep for the registry's lifetime (the spec models of
    # `ica.spec.models.spec_models`): the registry itself never looks inside.
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------------------- queries
    def names(self, kind: str) -> list[str]:
        return sorted(name for (k, name) in self.components if k == kind)

    def of_kind(self, kind: str | None = None) -> list[Component]:
        found = [c for c in self.components.values() if kind is None or c.kind == kind]
        return sorted(found, key=lambda c: (KINDS.index(c.kind), c.name))

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``, or a `RegistryError` that says what is close."""
        if (kind, name) in self.conflicts:
            owners = " and ".join(f"{p.name} ({p.module})" for p in self.conflicts[(kind, name)])
            raise RegistryError(f"{kind} {name!r} is registered by both {owners}; uninstall one of them")
        try:
            return self.components[(kind, name)]
        except KeyError:
            raise RegistryError(unknown_name_message(kind, name, self.names(kind))) from None

    def find(self, name: str) -> list[Component]:
        """Every component called ``name``, whatever its kind (``ica show`` uses it)."""
        return [c for c in self.of_kind() if c.name == name]

    def measures(self) -> Measures:
        """The measures every metric declares: what tables, ``ica results`` and reports call and order records."""
        return Measures(m for c in self.of_kind("metric") for m in c.measures)

    def build(self, options: Options, ctx: BuildContext) -> Any:
        """Build the component whose validated (tagged) options are given."""
        kind, name = component_of(options)
        return self.get(kind, name).build(options, ctx.with_(build=self.build))

    # ------------------------------------------------------------------------ registration
    def _register_from(self, plugin: PluginInfo) -> Callable[..., None]:
        def register(
            kind: str,
            name: str,
            options: type[Options],
            build: Callable[[Any, BuildContext], Any],
            description: str | None = None,
            measures: tuple[Measure, ...] | None = None,
        ) -> None:
            if kind not in KINDS:
                raise ValueError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")
            if not (isinstance(options, type) and issubclass(options, Options)):
                raise TypeError(f"options for {kind} {name!r} must subclass ica.plugin.Options")
            if "name" in options.model_fields:
                raise TypeError(f"options for {kind} {name!r} must not define a field called 'name'")
            declared = _declared_measures(kind, name, build, measures)
            key = (kind, name)
            if key in self.conflicts:
                self.conflicts[key].append(plugin)
                return
            if key in self.components:
                self.conflicts[key] = [self.components.pop(key).plugin, plugin]
                return
            doc_lines = (build.__doc__ or "").strip().splitlines()
            text = description or (doc_lines[0] if doc_lines else "")
            self.components[key] = Component(kind, name, options, build, text, plugin, declared)

        return register

    def add_plugin(self, module: ModuleType | object, plugin: PluginInfo, manager: pluggy.PluginManager) -> None:
        """Register one plugin object and let it register its components; failures are recorded."""
        try:
            manager.register(module, name=f"{plugin.name}:{plugin.module}")
            for impl in manager.hook.ica_register.get_hookimpls():
                if impl.plugin is module:
                    impl.function(register=self._register_from(plugin))
            self.plugins.append(plugin)
        except Exception as exc:  # a broken plugin must not break the others
            self.failures.append(PluginFailure(f"{plugin.name} ({plugin.module})", plugin.version, _reason(exc)))

    # --------------------------------------------------------------------------------- load
    @classmethod
    def load(cls, *, entry_points: bool = True, extra: Iterable[tuple[str, ModuleType | object]] = ()) -> "Registry":
        """Load the built-ins, then entry-point plugins, then ``extra`` (name, module) pairs."""
        reg = cls()
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(hookspecs)
        version = ica_version()
        for module_name in builtin_modules():
            info = PluginInfo("ica", version, "builtin", module_name)
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                reg.failures.append(PluginFailure(f"ica ({module_name})", version, _reason(exc)))
                continue
            reg.add_plugin(module, info, manager)
        if entry_points:
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep, "dist", None)
                info = PluginInfo(
                    dist.name if dist else ep.name, dist.version if dist else "?", "entry point", ep.value
                )
                try:
                    module = ep.load()
                except Exception as exc:
                    reg.failures.append(PluginFailure(f"{info.name} ({ep.value})", info.version, _reason(exc)))
                    continue
                reg.add_plugin(module, info, manager)
        for name, given in extra:
            reg.add_plugin(given, PluginInfo(name, "?", "direct", getattr(given, "__name__", name)), manager)
        return reg


# ------------------------------------------------------------------------------------- helpers
_TAGS: dict[type, tuple[str, str]] = {}


def tag_options(options_cls: type[Options], kind: str, name: str) -> None:
    """Remember which (kind, name) a generated, name-tagged options class belongs to."""
    _TAGS[options_cls] = (kind, name)


def component_of(options: Options) -> tuple[str, str]:
    """The (kind, name) of validated options produced by a spec."""
    try:
        return _TAGS[type(options)]
    except KeyError:
        raise TypeError(f"{type(options).__name__} is not a validated component spec") from None


def _declared_measures(kind: str, name: str, build: Any, measures: Any) -> tuple[Measure, ...]:
    """A metric's measures: given to ``register``, else the ``measures`` of the class registered (where they are
    `Measure`s); their appearance is the plugin kit's to check, so a long header never makes a metric unusable."""
    if measures is not None and kind != "metric":
        raise TypeError(f"{kind} {name!r}: only a metric declares measures")
    if measures is None:
        found = getattr(build, "measures", ()) if kind == "metric" else ()
        return tuple(found) if isinstance(found, (tuple, list)) and all(isinstance(m, Measure) for m in found) else ()
    found = tuple(measures) if isinstance(measures, (tuple, list)) else None
    if found is None or not all(isinstance(m, Measure) for m in found):
        raise TypeError(f"the measures of metric {name!r} must be a tuple of ica.plugin.Measure, got {measures!r}")
    return found


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """'unknown prior 'gmmm'; did you mean 'gmm'? (known: conditional, gmm)'."""
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(known) if known else "none registered"
    return f"unknown {kind} {name!r}{hint} (known: {listing})"


def builtin_modules() -> list[str]:
    """The built-in plugin modules named in ``registry.toml`` (inside the package, or beside it)."""
    candidates = [resources.files("ica") / "registry.toml", Path(__file__).resolve().parent.parent / "registry.toml"]
    for path in candidates:
        try:
            text = path.read_text()
        except (FileNotFoundError, NotADirectoryError, OSError):
            continue
        return list(tomllib.loads(text)["builtin"]["modules"])
    raise RuntimeError("registry.toml is missing from the ica package")


def ica_version() -> str:
    """The installed version of `ica` itself (``0+unknown`` in a source tree that is not installed)."""
    try:
        return metadata.version("ica-toolkit")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _reason(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


_DEFAULT: Registry | None = None


def registry(reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None or reload:
        _DEFAULT = Registry.load()
    return _DEFAULT
