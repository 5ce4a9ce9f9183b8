"""Every registered built-in component passes the conformance checks of its kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from usam_toolkit.plugins import load_registry
from usam_toolkit.registry import KINDS
from usam_toolkit.testing import check_component, check_config_roundtrip

REGISTRY = load_registry(entry_points=False)
BUILT = ("encoders", "projectors", "llms", "losses", "metrics", "tasks")
ENTRIES = [(e.kind, e.name) for e in REGISTRY.entries() if e.kind in BUILT]


def test_builtins_register_every_kind() -> None:
    assert not REGISTRY.failures, REGISTRY.failures
    empty = [k for k in KINDS if not REGISTRY.entries(k)]
    assert not empty, f"no built-in component of kind(s) {empty}"


@pytest.mark.parametrize("kind,name", ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_component_conforms(kind: str, name: str, tmp_path: Path) -> None:
    entry = REGISTRY.get(kind, name)
    missing = entry.missing_requirements
    if missing:
        pytest.skip(f"{kind[:-1]} '{name}' needs {', '.join(missing)}, not installed here")
    check_component(kind, name, tmp_path, REGISTRY)


@pytest.mark.parametrize("name", [e.name for e in REGISTRY.entries("datasets")])
def test_dataset_config_roundtrip(name: str) -> None:
    check_config_roundtrip(REGISTRY.get("datasets", name))
