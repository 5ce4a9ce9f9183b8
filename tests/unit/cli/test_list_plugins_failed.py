"""``usam list-plugins --kind K`` keeps plugins that failed to load visible, marked failed with the reason,
so "unknown encoder" in a recipe can be traced to a plugin that did not load."""

from __future__ import annotations

import json
import types
import warnings
from collections.abc import Iterator

import pytest

from usam_toolkit import plugins
from usam_toolkit.cli import main
from usam_toolkit.hookspecs import hookimpl
from usam_toolkit.registry import Registry


class _BrokenEntryPoint:
    """An installed entry point whose import raises, as pip would leave a plugin with a missing dependency."""

    name = "broken_at_import"
    dist = None

    def load(self) -> None:
        raise ImportError("No module named 'imaginary_dependency'")


@hookimpl
def _raising_hook(register):
    raise RuntimeError("registration exploded")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    monkeypatch.setattr(plugins, "_iter_entry_points", lambda: [_BrokenEntryPoint()])
    bad = types.ModuleType("broken_at_register")
    bad.usam_register_encoders = _raising_hook  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.PluginLoadWarning)
        reg = plugins.load_registry([bad])
    plugins.reset_registry(reg)
    yield reg
    plugins.reset_registry(None)


def _failed(rows: list[dict]) -> dict[str, dict]:
    return {r["plugin"]: r for r in rows if r["status"] == "failed"}


@pytest.mark.parametrize("kind", ["encoders", "metrics"])
def test_failed_plugins_show_under_any_kind(
    registry: Registry, kind: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["list-plugins", "--kind", kind, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in rows if r["status"] == "ok"} <= {kind}
    failed = _failed(rows)
    assert "imaginary_dependency" in failed["broken_at_import"]["doc"]
    assert failed["broken_at_import"]["doc"].startswith("failed at import: ImportError")
    assert "registration exploded" in failed["broken_at_register"]["doc"]


def test_the_table_marks_them_failed_with_the_whole_reason(registry: Registry, capsys) -> None:
    registry.failures[0].error += " " + "x" * 100  # longer than a description cell
    assert main(["list-plugins", "--kind", "encoders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(x for x in lines if "broken_at_import" in x)
    assert "failed" in line and line.rstrip().endswith("x" * 100)
    assert any("conv_transformer" in x and " ok " in x for x in lines)


def test_a_failure_that_knows_its_kind_shows_only_there(registry: Registry, capsys) -> None:
    failure = next(f for f in registry.failures if f.plugin == "broken_at_register")
    failure.kind = "projectors"  # type: ignore[attr-defined]  # where the registry records the kind
    main(["list-plugins", "--kind", "encoders", "--json"])
    assert "broken_at_register" not in _failed(json.loads(capsys.readouterr().out))
    main(["list-plugins", "--kind", "projectors", "--json"])
    assert _failed(json.loads(capsys.readouterr().out))["broken_at_register"]["kind"] == "projectors"
