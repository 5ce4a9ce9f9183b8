"""Plugin loading: built-ins by import, third parties by the entry-point group ``usam_toolkit``.

Each plugin is imported and registered alone: one that raises becomes a warning and a ``failed`` row
in ``usam list-plugins`` while every other plugin keeps working. Set ``USAM_STRICT_PLUGINS=1`` to make
such failures fatal (useful in a plugin's own CI).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import traceback
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import KINDS, LoadFailure, Provider, Registry

ENTRY_POINT_GROUP = "usam_toolkit"
STRICT_ENV = "USAM_STRICT_PLUGINS"

#: Built-in plugin modules, registered by import (no entry point needed, so a source checkout works).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "usam_plugins.encoders",
    "usam_plugins.projectors",
    "usam_plugins.llms",
    "usam_plugins.losses",
    "usam_plugins.metrics",
    "usam_plugins.tasks",
    "usam_plugins.datasets",
    "usam_plugins.recipe_dirs",
)

_HOOK_OF_KIND = {kind: f"usam_register_{kind}" for kind in KINDS}

_registry: Registry | None = None


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or register and was skipped."""


def _own_version() -> str:
    try:
        return md.version("usam-toolkit")
    except md.PackageNotFoundError:
        return "0+source"


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes"}


def _fail(registry: Registry, provider: Provider, stage: str, exc: BaseException) -> None:
    detail = f"{type(exc).__name__}: {exc}"
    registry.failures.append(
        LoadFailure(provider.plugin, provider.distribution, provider.version, stage, detail)
    )
    msg = (
        f"plugin '{provider.plugin}' from {provider.distribution} {provider.version} "
        f"failed at {stage}: {detail}"
    )
    if _strict():
        raise PluginError(f"{msg}\n{traceback.format_exc()}") from exc
    warnings.warn(f"{msg} (skipped; set {STRICT_ENV}=1 to make this fatal)", PluginLoadWarning, stacklevel=3)


def _register_module(pm: pluggy.PluginManager, registry: Registry, module: Any, provider: Provider) -> None:
    """Register one plugin object and run its hooks alone, so its failure is its own."""
    try:
        pm.register(module, name=provider.plugin)
        pm.check_pending()
    except Exception as exc:  # misspelled hook, duplicate plugin name
        if pm.is_registered(module):
            pm.unregister(module)
        _fail(registry, provider, "register", exc)
        return
    snapshot = {k: (dict(registry.entries_by_kind[k]), dict(registry.aliases_by_kind[k])) for k in KINDS}
    dirs_before = list(registry.recipe_dirs)
    try:
        for kind, hook_name in _HOOK_OF_KIND.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                if impl.plugin is module:
                    impl.function(register=registry.register_fn(kind, provider))
        for impl in pm.hook.usam_register_recipe_dirs.get_hookimpls():
            if impl.plugin is module:
                impl.function(register=lambda p: registry.recipe_dirs.append(Path(p).resolve()))
    except Exception as exc:
        # Roll back this plugin's partial registrations so the registry holds only whole plugins.
        for k in KINDS:
            registry.entries_by_kind[k], registry.aliases_by_kind[k] = snapshot[k]
        registry.recipe_dirs[:] = dirs_before
        pm.unregister(module)
        _fail(registry, provider, "register", exc)


def _iter_entry_points() -> Iterable[md.EntryPoint]:
    return md.entry_points(group=ENTRY_POINT_GROUP)


def load_registry(extra_modules: Iterable[ModuleType | Any] = (), *, entry_points: bool = True) -> Registry:
    """Build a fresh registry from the built-ins, installed entry points and ``extra_modules``.

    Args:
        extra_modules: plugin objects to register too (tests use this to add or fake plugins).
        entry_points: whether to load third-party plugins from the ``usam_toolkit`` group.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    own = _own_version()
    for name in BUILTIN_PLUGINS:
        provider = Provider(name, "usam-toolkit", own)
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            _fail(registry, provider, "import", exc)
            continue
        _register_module(pm, registry, module, provider)
    if entry_points:
        for ep in _iter_entry_points():
            dist = ep.dist.name if ep.dist else "unknown"
            version = ep.dist.version if ep.dist else "?"
            provider = Provider(ep.name, dist, version)
            try:
                module = ep.load()
            except Exception as exc:
                _fail(registry, provider, "import", exc)
                continue
            _register_module(pm, registry, module, provider)
    for i, module in enumerate(extra_modules):
        name = getattr(module, "__name__", f"extra_{i}")
        _register_module(pm, registry, module, Provider(name, "local", "0"))
    return registry


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = load_registry()
    return _registry


def reset_registry(registry: Registry | None = None) -> None:
    """Replace (or drop, with None) the process-wide registry; tests use it to add plugins."""
    global _registry
    _registry = registry
