"""The one typed registry: per kind, name -> (build function, config dataclass, provenance).

Plugins fill it through the hooks in :mod:`usam_toolkit.hookspecs`; the core reads it with
:meth:`Registry.get`, :meth:`Registry.entries` and :meth:`Registry.build`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError, PluginError, UnknownComponentError, did_you_mean

KINDS: tuple[str, ...] = ("encoders", "projectors", "llms", "losses", "metrics", "tasks", "datasets")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Provider:
    """Where a registration came from: plugin name, distribution and its version."""

    plugin: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.plugin} ({self.distribution} {self.version})"


@dataclass
class Entry:
    """One registered component."""

    kind: str
    name: str
    build_fn: Callable[[Any, Any], Any]
    config_cls: type
    provider: Provider
    aliases: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    example: Callable[[Path], dict[str, Any]] | None = None

    @property
    def doc(self) -> str:
        """First line of the build function's (or config's) docstring."""
        text = (self.build_fn.__doc__ or self.config_cls.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""

    @property
    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        missing = []
        for mod in self.requires:
            try:
                if importlib.util.find_spec(mod) is None:
                    missing.append(mod)
            except (ImportError, ValueError):
                missing.append(mod)
        return missing

    def field_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config_cls)]

    def make_config(self, values: Mapping[str, Any], where: str) -> Any:
        """Validate ``values`` (a slot without its ``name``) against the config dataclass.

        Args:
            values: the slot's fields.
            where: the recipe key of the slot, for error messages (e.g. ``encoders[1]``).

        Returns:
            An instance of :attr:`config_cls`.

        Raises:
            ConfigError: naming the key, the bad field and the valid fields.
        """
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        valid = self.field_names()
        for key in values:
            if key not in valid:
                raise ConfigError(
                    f"{where}: '{key}' is not a field of {self.kind[:-1]} '{self.name}'."
                    f"{did_you_mean(str(key), valid)} Valid fields: {', '.join(valid) or '(none)'}."
                )
        try:
            merged = OmegaConf.merge(OmegaConf.structured(self.config_cls), dict(values))
            return OmegaConf.to_object(merged)
        except OmegaConfBaseException as exc:
            msg = str(exc).splitlines()[0]
            raise ConfigError(f"{where} ({self.kind[:-1]} '{self.name}'): {msg}") from None
        except ConfigError as exc:  # a config's __post_init__ names the field but cannot know the slot
            raise ConfigError(f"{where} ({self.kind[:-1]} '{self.name}'): {exc}") from None


@dataclass
class LoadFailure:
    """A plugin that could not be imported or could not register."""

    plugin: str
    distribution: str
    version: str
    stage: str  # "import" or "register"
    error: str


@dataclass
class Registry:
    """All registered components, by kind."""

    entries_by_kind: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    aliases_by_kind: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    recipe_dirs: list[Path] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    def register_fn(self, kind: str, provider: Provider) -> Callable[..., None]:
        """The ``register`` callback handed to one plugin's hook of one kind."""

        def register(
            name: str,
            build_fn: Callable[[Any, Any], Any],
            config_cls: type,
            *,
            aliases: tuple[str, ...] | list[str] = (),
            requires: tuple[str, ...] | list[str] = (),
            example: Callable[[Path], dict[str, Any]] | None = None,
        ) -> None:
            self.add(
                Entry(kind, name, build_fn, config_cls, provider, tuple(aliases), tuple(requires), example)
            )

        return register

    def add(self, entry: Entry) -> None:
        """Add one entry; names and aliases must be new within their kind."""
        kind = entry.kind
        if kind not in KINDS:
            raise PluginError(f"unknown kind '{kind}'; valid kinds: {', '.join(KINDS)}")
        if not _NAME_RE.match(entry.name):
            raise PluginError(
                f"{entry.provider}: {kind[:-1]} name '{entry.name}' must be lower_snake ([a-z][a-z0-9_]*)"
            )
        if not dataclasses.is_dataclass(entry.config_cls):
            raise PluginError(f"{entry.provider}: config of {kind[:-1]} '{entry.name}' must be a dataclass")
        if "name" in entry.field_names():
            raise PluginError(f"{entry.provider}: config of '{entry.name}' must not have a field 'name'")
        table, aliases = self.entries_by_kind[kind], self.aliases_by_kind[kind]
        for key in (entry.name, *entry.aliases):
            owner = table.get(key) or table.get(aliases.get(key, ""))
            if owner is not None:
                raise PluginError(
                    f"duplicate {kind[:-1]} name '{key}': registered by {owner.provider} "
                    f"and again by {entry.provider}"
                )
        table[entry.name] = entry
        for alias in entry.aliases:
            aliases[alias] = entry.name

    def get(self, kind: str, name: str, where: str | None = None) -> Entry:
        """Look up ``name`` (or an alias) of ``kind``; unknown names list the valid ones."""
        if kind not in KINDS:
            raise ConfigError(f"unknown kind '{kind}'; valid kinds: {', '.join(KINDS)}")
        table = self.entries_by_kind[kind]
        key = self.aliases_by_kind[kind].get(name, name)
        if key in table:
            return table[key]
        valid = sorted(table) + sorted(self.aliases_by_kind[kind])
        prefix = f"{where}: " if where else ""
        raise UnknownComponentError(
            f"{prefix}unknown {kind[:-1]} '{name}'.{did_you_mean(name, valid)} "
            f"Valid {kind}: {', '.join(sorted(table)) or '(none registered)'}."
        )

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [kind] if kind else list(KINDS)
        return [e for k in kinds for _, e in sorted(self.entries_by_kind[k].items())]

    def make_config(self, kind: str, slot: Mapping[str, Any], where: str) -> tuple[Entry, Any]:
        """Validate a recipe slot ``{name: ..., <fields>}``; returns the entry and its config instance."""
        if not isinstance(slot, Mapping) or "name" not in slot:
            raise ConfigError(f"{where}: a {kind[:-1]} slot needs a 'name' key, e.g. {{name: ..., ...}}")
        entry = self.get(kind, str(slot["name"]), where)
        values = {k: v for k, v in slot.items() if k != "name"}
        return entry, entry.make_config(values, where)

    def build(self, kind: str, slot: Mapping[str, Any], ctx: Any, where: str) -> Any:
        """Validate ``slot`` and call the plugin's build function with its config and ``ctx``."""
        entry, cfg = self.make_config(kind, slot, where)
        missing = entry.missing_requirements
        if missing:
            raise PluginError(
                f"{where}: {kind[:-1]} '{entry.name}' from {entry.provider} needs the module(s) "
                f"{', '.join(missing)}, which cannot be imported here; install them to use it"
            )
        try:
            return entry.build_fn(cfg, ctx)
        except (ConfigError, PluginError):
            raise
        except Exception as exc:
            raise PluginError(
                f"{where}: building {kind[:-1]} '{entry.name}' from {entry.provider} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
