"""The one typed registry: per kind, name -> (build function, config dataclass, provenance).

Plugins fill it through the hooks in :mod:`usam_toolkit.hookspecs`; the core reads it with
:meth:`Registry.get`, :meth:`Registry.entries` and :meth:`Registry.build`. Every build is checked
against its kind's protocol (:data:`usam_toolkit.interfaces.PROTOCOLS`), and the slot keys the core owns
(:data:`CORE_SLOT_KEYS`: an encoder's ``mode`` and ``lora``) are validated and applied here, so that every
path that builds a component (the model, the conformance suite, the commands) gets the same thing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, PluginError, UnknownComponentError, did_you_mean
from .hookspecs import BuildFn, ExampleFn, RegisterFn
from .interfaces import PROTOCOLS, missing_members

KINDS: tuple[str, ...] = ("encoders", "projectors", "llms", "losses", "metrics", "tasks", "datasets")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: Slot keys the core owns, by kind: every slot of the kind accepts them whether or not its plugin's
#: config declares them (a config that does receives their values too), and the core applies them to the
#: built component. Encoders: ``mode`` (``frozen`` | ``lora`` | ``trainable``; default ``frozen``) and
#: ``lora`` (:class:`usam_toolkit.model.lora.LoraSettings` fields).
CORE_SLOT_KEYS: Mapping[str, tuple[str, ...]] = {"encoders": ("mode", "lora")}


def singular(kind: str) -> str:
    """``encoders`` -> ``encoder``, ``losses`` -> ``loss``: one component of ``kind``, for messages."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]


#: Kinds whose components are ``torch.nn.Module`` objects (the model holds them in ``nn.ModuleList``).
MODULE_KINDS: tuple[str, ...] = ("encoders", "projectors", "llms", "losses")


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
    build_fn: BuildFn
    config_cls: type
    provider: Provider
    aliases: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    example: ExampleFn | None = None

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

    @property
    def core_keys(self) -> tuple[str, ...]:
        """The slot keys the core owns for this kind that the config does not declare itself."""
        declared = set(self.field_names())
        return tuple(k for k in CORE_SLOT_KEYS.get(self.kind, ()) if k not in declared)

    def make_config(self, values: Mapping[str, Any], where: str) -> Any:
        """Validate ``values`` (a slot without its ``name``) against the config dataclass.

        Args:
            values: the slot's fields; the core's keys (:data:`CORE_SLOT_KEYS`) that the config does not
                declare are accepted and left out of the config.
            where: the recipe key of the slot, for error messages (e.g. ``encoders[1]``).

        Returns:
            An instance of :attr:`config_cls`.

        Raises:
            ConfigError: naming the key, the bad field and the valid fields.
        """
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        valid = self.field_names()
        core = self.core_keys
        for key in values:
            if key not in valid and key not in core:
                also = f" (and {', '.join(core)}, which the core applies)" if core else ""
                raise ConfigError(
                    f"{where}: '{key}' is not a field of {singular(self.kind)} '{self.name}'."
                    f"{did_you_mean(str(key), valid + list(core))} "
                    f"Valid fields: {', '.join(valid) or '(none)'}{also}."
                )
        values = {k: v for k, v in values.items() if k not in core}
        try:
            merged = OmegaConf.merge(OmegaConf.structured(self.config_cls), dict(values))
            return OmegaConf.to_object(merged)
        except OmegaConfBaseException as exc:
            msg = str(exc).splitlines()[0]
            raise ConfigError(f"{where} ({singular(self.kind)} '{self.name}'): {msg}") from None
        except ConfigError as exc:  # a config's __post_init__ names the field but cannot know the slot
            raise ConfigError(f"{where} ({singular(self.kind)} '{self.name}'): {exc}") from None


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

    def register_fn(self, kind: str, provider: Provider) -> RegisterFn:
        """The ``register`` callback handed to one plugin's hook of one kind."""

        def register(
            name: str,
            build_fn: BuildFn,
            config_cls: type,
            *,
            aliases: Sequence[str] = (),
            requires: Sequence[str] = (),
            example: ExampleFn | None = None,
        ) -> None:
            if not callable(build_fn):
                raise PluginError(f"{provider}: build function of {singular(kind)} '{name}' is not callable")
            if example is not None and not callable(example):
                raise PluginError(f"{provider}: example of {singular(kind)} '{name}' is not callable")
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
                f"{entry.provider}: {singular(kind)} name '{entry.name}' must be lower_snake "
                "([a-z][a-z0-9_]*)"
            )
        if not dataclasses.is_dataclass(entry.config_cls):
            raise PluginError(
                f"{entry.provider}: config of {singular(kind)} '{entry.name}' must be a dataclass"
            )
        if "name" in entry.field_names():
            raise PluginError(f"{entry.provider}: config of '{entry.name}' must not have a field 'name'")
        table, aliases = self.entries_by_kind[kind], self.aliases_by_kind[kind]
        for key in (entry.name, *entry.aliases):
            owner = table.get(key) or table.get(aliases.get(key, ""))
            if owner is not None:
                raise PluginError(
                    f"duplicate {singular(kind)} name '{key}': registered by {owner.provider} "
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
            f"{prefix}unknown {singular(kind)} '{name}'.{did_you_mean(name, valid)} "
            f"Valid {kind}: {', '.join(sorted(table)) or '(none registered)'}."
            f"{self._failure_note(kind, name)}"
        )

    def _failure_note(self, kind: str, name: str) -> str:
        """What an unknown name's error adds about plugins that failed to load (they may have provided it).

        A failure whose plugin or distribution name contains ``name`` comes first, as the likely provider.
        """

        def norm(text: str) -> str:
            return re.sub(r"[^a-z0-9]+", "_", text.lower())

        if not self.failures:
            return ""
        key = norm(name)

        def likely(f: LoadFailure) -> bool:
            return key in norm(f.plugin) or key in norm(f.distribution)

        ranked = sorted(self.failures, key=lambda f: not likely(f))
        lines = [
            f"plugin '{f.plugin}' ({f.distribution} {f.version}) failed at {f.stage}: "
            f"{f.error.splitlines()[0][:300] if f.error else '?'}"
            for f in ranked
        ]
        if likely(ranked[0]):
            head = f" A plugin that may provide {singular(kind)} '{name}' failed to load: "
        else:
            head = f" Plugins that failed to load (one may provide {singular(kind)} '{name}'): "
        return head + "; ".join(lines) + "."

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [kind] if kind else list(KINDS)
        return [e for k in kinds for _, e in sorted(self.entries_by_kind[k].items())]

    def make_config(self, kind: str, slot: Mapping[str, Any], where: str) -> tuple[Entry, Any]:
        """Validate a recipe slot ``{name: ..., <fields>}``; returns the entry and its config instance.

        The core's keys of the kind (:data:`CORE_SLOT_KEYS`) are validated too.
        """
        entry, cfg, _ = self._configure(kind, slot, where)
        return entry, cfg

    def _configure(self, kind: str, slot: Mapping[str, Any], where: str) -> tuple[Entry, Any, Any]:
        """Entry, config instance and the validated core settings of a slot (None for kinds without)."""
        if not isinstance(slot, Mapping) or "name" not in slot:
            raise ConfigError(f"{where}: a {singular(kind)} slot needs a 'name' key, e.g. {{name: ..., ...}}")
        entry = self.get(kind, str(slot["name"]), where)
        values = {k: v for k, v in slot.items() if k != "name"}
        cfg = entry.make_config(values, where)
        core = None
        if kind == "encoders":
            from .model.train_mode import ENCODER_MODE_KEYS, encoder_mode

            own = {k: values[k] for k in entry.core_keys if k in values}
            own.update({k: getattr(cfg, k) for k in ENCODER_MODE_KEYS if k not in entry.core_keys})
            core = encoder_mode(own, where)
        return entry, cfg, core

    def check_contract(self, entry: Entry, obj: Any, where: str) -> None:
        """Raise :class:`ConfigError` when ``obj`` lacks members of its kind's protocol, naming the plugin,
        its distribution, the recipe slot and the missing members."""
        protocol = PROTOCOLS.get(entry.kind)
        if protocol is None:
            return
        missing = missing_members(obj, protocol)
        problems = [f"missing {', '.join(missing)}"] if missing else []
        if entry.kind in MODULE_KINDS:
            from torch import nn

            if not isinstance(obj, nn.Module):
                problems.append("it is not a torch.nn.Module")
        if problems:
            raise ConfigError(
                f"{where}: {singular(entry.kind)} '{entry.name}' from plugin {entry.provider} built a "
                f"{type(obj).__name__} that does not follow usam_toolkit.interfaces.{protocol.__name__}: "
                + "; ".join(problems)
            )

    def build(self, kind: str, slot: Mapping[str, Any], ctx: Any, where: str) -> Any:
        """Validate ``slot``, call the plugin's build function with its config and ``ctx``, check the result
        against the kind's protocol and apply the core's slot keys (an encoder's ``mode``)."""
        entry, cfg, core = self._configure(kind, slot, where)
        missing = entry.missing_requirements
        if missing:
            raise PluginError(
                f"{where}: {singular(kind)} '{entry.name}' from {entry.provider} needs the module(s) "
                f"{', '.join(missing)}, which cannot be imported here; install them to use it"
            )
        try:
            obj = entry.build_fn(cfg, ctx)
        except (ConfigError, PluginError):
            raise
        except Exception as exc:
            raise PluginError(
                f"{where}: building {singular(kind)} '{entry.name}' from {entry.provider} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.check_contract(entry, obj, where)
        if kind == "encoders":
            from .model.train_mode import apply_encoder_mode

            apply_encoder_mode(obj, core, where)
        return obj
