"""Plugin loading: each plugin alone, failures become warnings and rows, strict mode is fatal."""

from __future__ import annotations

import types
from dataclasses import dataclass

import pytest

from usam_toolkit.errors import PluginError
from usam_toolkit.hookspecs import hookimpl
from usam_toolkit.plugins import PluginLoadWarning, load_registry


@dataclass
class TinyConfig:
    size: int = 2


def _build(cfg: TinyConfig, ctx: object) -> int:
    return cfg.size


def _module(name: str, **hooks: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, fn in hooks.items():
        setattr(mod, key, hookimpl(fn))
    return mod


def good_hook(register):  # noqa: ANN001
    register("tiny_loss", _build, TinyConfig)


def raising_hook(register):  # noqa: ANN001
    register("half_registered", _build, TinyConfig)
    raise RuntimeError("boom at registration")


def test_a_good_extra_plugin_registers() -> None:
    reg = load_registry([_module("goodplug", usam_register_losses=good_hook)], entry_points=False)
    entry = reg.get("losses", "tiny_loss")
    assert entry.provider.plugin == "goodplug"
    assert not reg.failures


def test_misspelled_hook_is_a_failure_not_a_crash() -> None:
    bad = _module("typoplug", usam_register_encoderz=good_hook)
    with pytest.warns(PluginLoadWarning, match="typoplug"):
        reg = load_registry([bad, _module("goodplug", usam_register_losses=good_hook)], entry_points=False)
    assert [f.plugin for f in reg.failures] == ["typoplug"]
    assert "usam_register_encoderz" in reg.failures[0].error
    assert reg.get("losses", "tiny_loss")  # the other plugin still works


def test_raising_at_registration_rolls_back_its_partial_entries() -> None:
    with pytest.warns(PluginLoadWarning, match="boom at registration"):
        reg = load_registry([_module("halfplug", usam_register_losses=raising_hook)], entry_points=False)
    assert reg.failures[0].stage == "register"
    assert "half_registered" not in {e.name for e in reg.entries("losses")}


def test_strict_mode_makes_failures_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAM_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="halfplug"):
        load_registry([_module("halfplug", usam_register_losses=raising_hook)], entry_points=False)


def test_builtins_load_without_failures() -> None:
    reg = load_registry(entry_points=False)
    assert not reg.failures, reg.failures
