"""Finding and loading plugins (pluggy, entry-point group `microsim.plugins`)."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from microsim import hookspecs
from microsim.errors import PluginError

ENTRY_POINT_GROUP = "microsim.plugins"


@dataclass
class PluginRecord:
    """A loaded plugin and what it registered."""

    name: str
    plugin: Any
    requires: tuple[str, ...] = ()
    description: str = ""
    distribution: str = ""
    object_types: list[str] = field(default_factory=list)
    syscalls: list[str] = field(default_factory=list)
    info_topics: list[str] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    event_kinds: list[str] = field(default_factory=list)
    # Modules (or classes) of hook specs the plugin declared for others to implement.
    hookspecs: list[Any] = field(default_factory=list)


# Scanning entry points parses every distribution's metadata: about a third of building a
# Kernel. The scan is kept per import path (a changed sys.path scans again).
_scans: dict[tuple[str, ...], tuple[dict[str, importlib.metadata.EntryPoint], dict[str, str]]] = {}


def _scan() -> tuple[dict[str, importlib.metadata.EntryPoint], dict[str, str]]:
    """Every installed entry point of the group by name, and each one's distribution name."""
    key = tuple(sys.path)
    found = _scans.get(key)
    if found is None:
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        found = _scans[key] = (
            {ep.name: ep for ep in eps},
            {ep.name: ep.dist.name if ep.dist is not None else "" for ep in eps},
        )
    return found


def distribution_of(name: str) -> str:
    """The distribution that installs the plugin entry point `name` ("" if none)."""
    return _scan()[1].get(name, "")


def installed_plugins() -> dict[str, importlib.metadata.EntryPoint]:
    """Entry points of the `microsim.plugins` group, by name (sorted).

    `MICROSIM_PLUGINS=a,b` restricts them to the named ones.
    """
    found = dict(_scan()[0])
    only = os.environ.get("MICROSIM_PLUGINS")
    if only:
        wanted = {n.strip() for n in only.split(",") if n.strip()}
        found = {n: ep for n, ep in found.items() if n in wanted}
    return found


def builtin_plugins() -> list[str]:
    """Names of the plugins microsim's own distribution installs (sorted), whatever
    third-party plugins are installed beside them; microsim's docs and doc tests cover
    these only."""
    return sorted(name for name, dist in _scan()[1].items() if dist == "microsim")


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc


def resolve(spec: Any, installed: dict[str, importlib.metadata.EntryPoint]) -> PluginRecord:
    """Turn a plugin spec (entry-point name, module path, module or object) into a record."""
    dist = ""
    if isinstance(spec, str):
        if spec in installed:
            ep = installed[spec]
            plugin = _load_entry_point(ep)
            name = spec
            dist = distribution_of(spec)
        else:
            try:
                plugin = importlib.import_module(spec)
            except ImportError as exc:
                raise PluginError(
                    f"no plugin named {spec!r}: not an installed microsim plugin "
                    f"({', '.join(installed) or 'none installed'}) nor an importable module"
                ) from exc
            name = getattr(plugin, "name", None) or spec.rsplit(".", 1)[-1]
    else:
        plugin = spec
        default = spec.__name__ if isinstance(spec, ModuleType) else type(spec).__name__
        name = getattr(spec, "name", None) or default.rsplit(".", 1)[-1]
        for ep_name, ep in installed.items():
            if isinstance(spec, ModuleType) and ep.value.split(":")[0] == spec.__name__:
                name = ep_name
                dist = distribution_of(ep_name)
    if not isinstance(name, str):
        raise PluginError(f"plugin {spec!r}: its `name` attribute must be a string")
    requires = tuple(getattr(plugin, "requires", ()) or ())
    description = getattr(plugin, "description", "") or (
        (plugin.__doc__ or "").strip().splitlines()[0] if getattr(plugin, "__doc__", None) else ""
    )
    return PluginRecord(name, plugin, requires, description, dist)


def order_plugins(records: list[PluginRecord]) -> list[PluginRecord]:
    """Check dependencies and order plugins so each comes after what it requires."""
    by_name: dict[str, PluginRecord] = {}
    for rec in records:
        if rec.name in by_name and by_name[rec.name].plugin is not rec.plugin:
            raise PluginError(f"two plugins are named {rec.name!r}")
        by_name[rec.name] = rec
    for rec in by_name.values():
        for dep in rec.requires:
            if dep not in by_name:
                raise PluginError(
                    f"plugin {rec.name!r} requires plugin {dep!r}, which is not loaded"
                )
    ordered: list[PluginRecord] = []
    state: dict[str, int] = {}

    def visit(rec: PluginRecord, chain: tuple[str, ...]) -> None:
        mark = state.get(rec.name, 0)
        if mark == 2:
            return
        if mark == 1:
            raise PluginError("plugin dependency cycle: " + " -> ".join((*chain, rec.name)))
        state[rec.name] = 1
        for dep in rec.requires:
            visit(by_name[dep], (*chain, rec.name))
        state[rec.name] = 2
        ordered.append(rec)

    for rec in sorted(by_name.values(), key=lambda r: r.name):
        visit(rec, ())
    return ordered


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with microsim's hook specs."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


# Registering a plugin with pluggy inspects every attribute of its module: most of the
# cost of building a Kernel. Kernels loading the same plugin objects in the same order
# share one manager (hooks always receive the kernel, so plugins keep per-kernel state on
# it); the value is the manager and the hook-spec modules each plugin declared.
_managers: dict[tuple[tuple[str, int], ...], tuple[pluggy.PluginManager, dict[str, list[Any]], list[Any]]] = {}


def plugin_manager_for(records: list[PluginRecord]) -> tuple[pluggy.PluginManager, dict[str, list[Any]]]:
    """A plugin manager with `records` registered in order, their own hook specs added
    and `check_pending()` passed; and, per plugin name, the hook-spec modules it added."""
    key = tuple((rec.name, id(rec.plugin)) for rec in records)
    cached = _managers.get(key)
    if cached is not None:
        return cached[0], cached[1]
    pm = make_plugin_manager()
    for rec in records:
        try:
            pm.register(rec.plugin, name=rec.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {rec.name!r}: {exc}") from exc
    specs: dict[str, list[Any]] = {rec.name: [] for rec in records}

    def add_specs(name: str) -> dict[str, Any]:
        def register(module: Any) -> None:
            pm.add_hookspecs(module)
            specs[name].append(module)

        return {"register": register}

    try:
        call_each(pm, "register_hookspecs", add_specs)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r}: {exc}") from exc
    # The plugin objects are kept with the entry, so their ids stay theirs.
    _managers[key] = (pm, specs, [rec.plugin for rec in records])
    return pm, specs


def call_each(
    pm: pluggy.PluginManager, hook_name: str, make_kwargs: Any
) -> None:
    """Call a registration hook once per implementing plugin, in load order.

    `make_kwargs(plugin_name)` returns the keyword arguments for that plugin (so each
    `register` callback knows which plugin is registering).
    """
    caller = getattr(pm.hook, hook_name)
    impls = caller.get_hookimpls()  # registration (load) order; pluggy calls them LIFO
    for impl in impls:
        kwargs = make_kwargs(impl.plugin_name)
        accepted = {k: v for k, v in kwargs.items() if k in impl.argnames}
        impl.function(**accepted)
