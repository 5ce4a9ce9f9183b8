"""A tiny mini world built once per session (skips, naming the packages, where they are missing)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


def _require_packages() -> None:
    from usam_toolkit.mini import debian

    missing = debian.missing_packages()
    if missing:
        pytest.skip(
            f"mini world needs the Debian packages: {', '.join(missing)} ({debian.install_command(missing)})"
        )


@pytest.fixture(scope="session")
def tiny_worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two independent builds of the tiny world with seed 0, in two folders.

    They run side by side: the build mostly waits on espeak-ng and fluidsynth, so this halves the wait.
    """
    _require_packages()
    from usam_toolkit.mini.build import build_world

    outs = (tmp_path_factory.mktemp("mini") / "tiny", tmp_path_factory.mktemp("mini") / "tiny-again")
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(build_world, out, scale="tiny", seed=0, progress=False) for out in outs]:
            future.result()
    return outs


@pytest.fixture(scope="session")
def tiny_world(tiny_worlds: tuple[Path, Path]) -> Path:
    return tiny_worlds[0]


@pytest.fixture(scope="session")
def tiny_world_again(tiny_worlds: tuple[Path, Path]) -> Path:
    return tiny_worlds[1]
