"""Registry: registration, aliases, duplicates, unknown names, slot validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from usam_toolkit.errors import ConfigError, PluginError, UnknownComponentError
from usam_toolkit.registry import Provider, Registry


@dataclass
class EchoConfig:
    """Config of a test component."""

    width: int = 4
    layers: list[int] = field(default_factory=lambda: [1, 2])


def build_echo(cfg: EchoConfig, ctx: object) -> tuple:
    """An echo component (returns its config)."""
    return (cfg, ctx)


def _reg() -> Registry:
    reg = Registry()
    reg.register_fn("encoders", Provider("p1", "dist-one", "1.0"))(
        "echo", build_echo, EchoConfig, aliases=("ech",)
    )
    return reg


def test_alias_resolves_to_the_same_entry() -> None:
    reg = _reg()
    assert reg.get("encoders", "ech") is reg.get("encoders", "echo")
    assert reg.get("encoders", "echo").doc == "An echo component (returns its config)."


def test_duplicate_name_names_both_providers() -> None:
    reg = _reg()
    again = reg.register_fn("encoders", Provider("p2", "dist-two", "2.0"))
    with pytest.raises(PluginError) as err:
        again("echo", build_echo, EchoConfig)
    assert "p1 (dist-one 1.0)" in str(err.value) and "p2 (dist-two 2.0)" in str(err.value)
    with pytest.raises(PluginError, match="duplicate encoder name 'ech'"):
        again("other", build_echo, EchoConfig, aliases=("ech",))


def test_same_name_in_another_kind_is_fine() -> None:
    reg = _reg()
    reg.register_fn("losses", Provider("p2", "d", "1"))("echo", build_echo, EchoConfig)
    assert reg.get("losses", "echo").kind == "losses"


def test_unknown_name_lists_valid_ones_and_nearest() -> None:
    with pytest.raises(UnknownComponentError) as err:
        _reg().get("encoders", "ecko", where="encoders[0]")
    msg = str(err.value)
    assert msg.startswith("encoders[0]: unknown encoder 'ecko'.")
    assert "Did you mean 'echo'?" in msg and "Valid encoders: echo." in msg


def test_bad_names_and_configs_are_rejected() -> None:
    reg = Registry()
    register = reg.register_fn("encoders", Provider("p", "d", "1"))
    with pytest.raises(PluginError, match="lower_snake"):
        register("Echo", build_echo, EchoConfig)
    with pytest.raises(PluginError, match="must be a dataclass"):
        register("echo", build_echo, dict)


def test_slot_typo_lists_valid_fields() -> None:
    with pytest.raises(ConfigError) as err:
        _reg().make_config("encoders", {"name": "echo", "widht": 3}, "encoders[1]")
    msg = str(err.value)
    assert "encoders[1]: 'widht' is not a field of encoder 'echo'." in msg
    assert "Did you mean 'width'?" in msg
    assert "Valid fields: width, layers (and mode, lora, which the core applies)." in msg


def test_slot_type_error_names_the_slot() -> None:
    with pytest.raises(ConfigError, match=r"encoders\[0\] \(encoder 'echo'\)"):
        _reg().make_config("encoders", {"name": "echo", "width": "wide"}, "encoders[0]")


@dataclass
class EchoMetric:
    """A metric (it follows usam_toolkit.interfaces.Metric) that keeps what it was built with."""

    cfg: EchoConfig
    ctx: object
    name: str = "echo"

    def compute(self, hypotheses: object, references: object, **kw: object) -> dict:
        return {}


def test_build_passes_typed_config_and_context() -> None:
    reg = Registry()
    register = reg.register_fn("metrics", Provider("p1", "dist-one", "1.0"))
    register("echo", EchoMetric, EchoConfig, aliases=("ech",))
    built = reg.build("metrics", {"name": "ech", "width": 7}, "CTX", "--metric ech")
    cfg, ctx = built.cfg, built.ctx
    assert isinstance(cfg, EchoConfig) and cfg.width == 7 and cfg.layers == [1, 2] and ctx == "CTX"


def test_build_failure_names_plugin_and_distribution() -> None:
    reg = Registry()

    def broken(cfg: EchoConfig, ctx: object) -> None:
        raise RuntimeError("weights missing")

    reg.register_fn("encoders", Provider("p9", "dist-nine", "0.3"))("bad", broken, EchoConfig)
    with pytest.raises(
        PluginError,
        match=r"encoders\[0\]: building encoder 'bad' from p9 \(dist-nine 0.3\) failed: "
        r"RuntimeError: weights missing",
    ):
        reg.build("encoders", {"name": "bad"}, None, "encoders[0]")


def test_missing_requirement_is_reported_not_imported() -> None:
    reg = Registry()
    reg.register_fn("encoders", Provider("p", "d", "1"))(
        "needs", build_echo, EchoConfig, requires=("json", "no_such_module_xyz")
    )
    entry = reg.get("encoders", "needs")
    assert entry.missing_requirements == ["no_such_module_xyz"]
    with pytest.raises(PluginError, match="needs the module\\(s\\) no_such_module_xyz"):
        reg.build("encoders", {"name": "needs"}, None, "encoders[0]")
