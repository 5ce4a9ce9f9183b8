"""The smoke world, built once per test session into a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from usam_toolkit.mini.smoke import SMOKE_RECIPE


@pytest.fixture(scope="session")
def smoke_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from usam_toolkit.mini.smoke import write_smoke_world

    world = write_smoke_world(tmp_path_factory.mktemp("smoke"))
    os.environ["USAM_SMOKE_DIR"] = str(world)
    return world


@pytest.fixture(scope="session")
def smoke_run(smoke_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained smoke run folder (40 steps)."""
    from usam_toolkit.pipeline import train_recipe

    out = tmp_path_factory.mktemp("smoke_run")
    result = train_recipe(SMOKE_RECIPE, ["train.save_every=20"], out=str(out), device="cpu", progress=False)
    assert result.reason == "max_steps" and result.step == 40
    return out


@pytest.fixture(scope="session")
def infer_checkpoint(smoke_run: Path) -> Path:
    """The trained smoke run's last checkpoint, for the inference tests (one training per session)."""
    from usam_toolkit.train.checkpoint import find_latest

    found = find_latest(smoke_run)
    assert found is not None
    return found
