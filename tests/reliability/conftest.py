"""Shared fixtures of the reliability suite: the smoke world, and a runner for ``python -m usam_toolkit``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def rel_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke world (clips, manifests, tiny LLM) written once for this folder's tests."""
    from usam_toolkit.mini.smoke import write_smoke_world

    return write_smoke_world(tmp_path_factory.mktemp("rel_world"))


@pytest.fixture
def smoke_env(rel_world: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the smoke recipe at the world, in this process and for subprocesses (returned env)."""
    monkeypatch.setenv("USAM_SMOKE_DIR", str(rel_world))
    monkeypatch.delenv("USAM_TEST_PAUSE_IN_SAVE", raising=False)
    env = {**os.environ, "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return env
