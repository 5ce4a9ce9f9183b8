"""A tiny trained smoke checkpoint for examples and tests of inference (a few seconds of training)."""

from __future__ import annotations

import os
from pathlib import Path


def smoke_checkpoint(run_dir: str | Path, steps: int = 3, world: str | Path | None = None) -> Path:
    """Train ``recipes/mini/smoke.yaml`` for ``steps`` steps into ``run_dir`` (reused when already there).

    Args:
        run_dir: a folder; the run goes into ``<run_dir>/run`` and its latest checkpoint is returned.
        steps: training steps (3 proves the code paths; the answers are noise).
        world: the smoke world folder; default: ``$USAM_SMOKE_DIR`` if set, else ``<run_dir>/world``
            (written when missing). ``USAM_SMOKE_DIR`` is set to it, as the recipe reads it.

    Returns:
        The checkpoint folder.
    """
    from ..mini.smoke import SMOKE_RECIPE, write_smoke_world
    from ..train.checkpoint import find_latest

    run_dir = Path(run_dir)
    found = find_latest(run_dir / "run") if (run_dir / "run").is_dir() else None
    if found is not None:
        return found
    world_dir = Path(world or os.environ.get("USAM_SMOKE_DIR") or run_dir / "world")
    if not (world_dir / "train.jsonl").is_file():
        write_smoke_world(world_dir)
    os.environ["USAM_SMOKE_DIR"] = str(world_dir)

    from ..pipeline import train_recipe

    result = train_recipe(
        SMOKE_RECIPE,
        [f"train.max_steps={steps}", "data.valid=[]"],
        out=str(run_dir / "run"),
        device="cpu",
        progress=False,
    )
    return Path(result.last_checkpoint)
