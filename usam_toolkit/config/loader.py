"""Load recipes: schema defaults < ``base:`` files < the recipe < CLI ``key=value`` overrides.

Rules:
- Struct mode: an unknown key is an error naming the file and line, and the valid keys.
- A slot whose ``name`` changes in a later layer is replaced, not merged, so no stale field of the
  old plugin leaks into the new one.
- Each slot is validated against its plugin's config dataclass (see :func:`validate_recipe`).
- Only OmegaConf's own ``oc.*`` resolvers exist (no code runs from a recipe).
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import ConfigError, did_you_mean
from .schema import SLOT_SECTIONS, RecipeSchema

BASE_KEY = "base"
RECIPE_DIR_KEY = "_recipe_dir_"


@dataclass
class _Layer:
    path: Path
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)


def _key_lines(node: yaml.Node, prefix: str = "") -> dict[str, int]:
    """Map dotted key paths (list items as indices) to 1-based line numbers."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            out.update(_key_lines(v, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{prefix}.{i}" if prefix else str(i)
            out[key] = v.start_mark.line + 1
            out.update(_key_lines(v, key))
    return out


def _read_layer(path: Path) -> _Layer:
    if not path.is_file():
        raise ConfigError(f"recipe file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: a recipe must be a mapping of keys to values, got {type(data).__name__}"
        )
    return _Layer(path, data, _key_lines(node) if node is not None else {})


def _find_base(name: str, relative_to: Path, recipe_dirs: Sequence[Path]) -> Path:
    candidates = [(relative_to.parent / name)] + [d / name for d in recipe_dirs]
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    searched = ", ".join(str(c.parent) for c in candidates)
    raise ConfigError(f"{relative_to}: base recipe '{name}' not found (looked in: {searched})")


def _collect_layers(path: Path, recipe_dirs: Sequence[Path], stack: tuple[Path, ...] = ()) -> list[_Layer]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"{path}: 'base:' forms a cycle: {chain}")
    layer = _read_layer(path)
    bases = layer.data.pop(BASE_KEY, None) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        line = layer.lines.get(BASE_KEY, 1)
        raise ConfigError(f"{path}:{line}: 'base' must be a file name or a list of file names")
    layers: list[_Layer] = []
    for b in bases:
        layers.extend(_collect_layers(_find_base(b, path, recipe_dirs), recipe_dirs, (*stack, path)))
    layers.append(layer)
    return layers


def _is_slot(value: Any) -> bool:
    return isinstance(value, Mapping) and "name" in value


def _merge(base: Any, top: Any) -> Any:
    """OmegaConf-like merge on plain containers, plus the replace-on-name-change rule for slots."""
    if isinstance(base, dict) and isinstance(top, dict):
        if _is_slot(base) and _is_slot(top) and base["name"] != top["name"]:
            return copy.deepcopy(top)
        out = dict(base)
        for k, v in top.items():
            out[k] = _merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(top)


def _dataclass_fields(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_keys(data: Mapping[str, Any], cls: Any, prefix: str, layer: _Layer) -> None:
    """Reject keys that the schema does not have, naming file, line and the valid keys."""
    fields = _dataclass_fields(cls)
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            where = f"{layer.path}:{layer.lines.get(dotted, 1)}"
            scope = f"section '{prefix[:-1]}'" if prefix else "a recipe"
            raise ConfigError(
                f"{where}: '{dotted}' is not a key of {scope}.{did_you_mean(str(key), fields)} "
                f"Valid keys: {', '.join(fields)}."
            )
        if dataclasses.is_dataclass(fields[key]) and isinstance(value, Mapping):
            _check_keys(value, fields[key], f"{dotted}.", layer)


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected key=value, e.g. train.lr=1e-4")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _apply_override(cfg: DictConfig, key: str, value: Any) -> None:
    parts = key.split(".")
    top = parts[0]
    valid = [f.name for f in dataclasses.fields(RecipeSchema)]
    if top not in valid:
        raise ConfigError(
            f"override '{key}': unknown key '{top}'.{did_you_mean(top, valid)} "
            f"Valid keys: {', '.join(valid)}."
        )
    if parts[-1] == "name" and len(parts) > 1:
        parent_key = ".".join(parts[:-1])
        parent = OmegaConf.select(cfg, parent_key, default=None)
        if isinstance(parent, DictConfig) and "name" in parent and parent.name != value:
            # replace-on-name-change: the new plugin starts from its own defaults
            OmegaConf.update(cfg, parent_key, {"name": value}, merge=False, force_add=True)
            return
    try:
        with_struct_off = top not in _typed_sections()
        OmegaConf.update(cfg, key, value, merge=True, force_add=with_struct_off)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"override '{key}={value}': {str(exc).splitlines()[0]}") from None


def _typed_sections() -> set[str]:
    return {k for k, t in _dataclass_fields(RecipeSchema).items() if dataclasses.is_dataclass(t)}


def compose(path: str | Path, overrides: Iterable[str] = (), recipe_dirs: Sequence[Path] = ()) -> DictConfig:
    """Merge schema, bases, the recipe and overrides; check keys; return a struct-mode config.

    Slots are *not* yet validated against their plugins: see :func:`validate_recipe`.

    Args:
        path: the recipe file.
        overrides: ``key=value`` strings (values parsed as YAML); list items by index, e.g.
            ``encoders.0.layer=-2``.
        recipe_dirs: extra folders searched for ``base:`` names.
    """
    path = Path(path).expanduser().resolve()
    layers = _collect_layers(path, recipe_dirs)
    merged: dict[str, Any] = {}
    for layer in layers:
        _check_keys(layer.data, RecipeSchema, "", layer)
        merged = _merge(merged, layer.data)
    schema = OmegaConf.structured(RecipeSchema)
    try:
        cfg = OmegaConf.merge(schema, merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or ""
        owner = next((lay for lay in reversed(layers) if key in lay.lines), layers[-1])
        line = owner.lines.get(key, 1)
        raise ConfigError(f"{owner.path}:{line}: {str(exc).splitlines()[0]}") from None
    assert isinstance(cfg, DictConfig)
    for item in overrides:
        _apply_override(cfg, *_parse_override(item))
    OmegaConf.set_struct(cfg, True)
    object.__setattr__(cfg, "_usam_recipe_path", path)
    return cfg


def recipe_path(cfg: DictConfig) -> Path | None:
    """The file a composed recipe came from (None if built in memory)."""
    return getattr(cfg, "_usam_recipe_path", None)


def section(cfg: DictConfig, key: str, cls: type) -> Any:
    """The recipe section ``key`` (``data``, ``train``, ``evaluate`` ...) as an instance of its dataclass."""
    return cls(**OmegaConf.to_container(cfg[key], resolve=True))  # type: ignore[arg-type]


def recipe_base_dir(cfg: DictConfig) -> Path | None:
    """The folder relative paths of a recipe resolve against: ``base_dir`` (itself relative to the
    recipe's folder), else the recipe's folder.

    A recipe in another folder than its ``base:`` sets ``base_dir`` to the base's folder (e.g. ``..``)
    so the relative paths it inherits keep pointing where the base meant them to.
    """
    explicit = cfg.get("base_dir")
    path = recipe_path(cfg)
    if explicit:
        base = Path(explicit).expanduser()
        return path.parent / base if not base.is_absolute() and path else base
    return path.parent if path else None


def resolve(cfg: DictConfig) -> DictConfig:
    """Resolve interpolations, with errors naming the key."""
    try:
        out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "")
        raise ConfigError(
            f"{recipe_path(cfg) or 'recipe'}: cannot resolve '{key}': {str(exc).splitlines()[0]}"
        ) from None
    assert isinstance(out, DictConfig)
    OmegaConf.set_struct(out, True)
    object.__setattr__(out, "_usam_recipe_path", recipe_path(cfg))
    return out


def iter_slots(
    cfg: DictConfig | Mapping[str, Any],
) -> Iterable[tuple[str, str, dict[str, Any], tuple[str, ...]]]:
    """Yield ``(where, kind, slot, extra_keys)`` for every plugin slot of a recipe."""
    for section in SLOT_SECTIONS:
        value = cfg.get(section.key)
        if value is None:
            continue
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
        items = value if section.is_list else [value]
        if section.is_list and not isinstance(value, list):
            raise ConfigError(f"'{section.key}' must be a list of slots {{name: ..., ...}}")
        for i, slot in enumerate(items):
            where = f"{section.key}[{i}]" if section.is_list else section.key
            yield where, section.kind, slot, section.extra_keys


def slot_fields(slot: Mapping[str, Any], extra_keys: Sequence[str]) -> dict[str, Any]:
    """A slot without the keys the core consumes (``weight`` of a loss)."""
    return {k: v for k, v in slot.items() if k not in extra_keys}


def validate_recipe(cfg: DictConfig, registry: Any) -> DictConfig:
    """Resolve ``cfg`` and validate every slot against its plugin's config dataclass.

    Returns:
        The resolved config.

    Raises:
        ConfigError: the first problem, naming the slot, the field and what is valid.
    """
    resolved = resolve(cfg)
    if not resolved.encoders:
        raise ConfigError(f"{recipe_path(cfg)}: 'encoders' is empty; a recipe needs at least one encoder")
    if resolved.llm is None:
        raise ConfigError(
            f"{recipe_path(cfg)}: 'llm' is not set; e.g. llm: {{name: hf_causal_lm, path: ...}}"
        )
    for where, kind, slot, extra in iter_slots(resolved):
        registry.make_config(kind, slot_fields(slot, extra) if isinstance(slot, Mapping) else slot, where)
    return resolved


def load_recipe(path: str | Path, overrides: Iterable[str] = (), registry: Any = None) -> DictConfig:
    """Compose, resolve and validate a recipe with the process-wide (or given) registry."""
    from ..plugins import get_registry

    reg = registry or get_registry()
    cfg = compose(path, overrides, reg.recipe_dirs)
    return validate_recipe(cfg, reg)
