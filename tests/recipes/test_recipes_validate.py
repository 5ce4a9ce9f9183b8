"""Every shipped recipe passes `usam validate` and starts with the command that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from usam_toolkit.config.loader import load_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if "tables" not in p.parts)


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(REPO)) for p in RECIPES])
def test_recipe_validates(path: Path) -> None:
    cfg = load_recipe(path)
    assert cfg.encoders and cfg.llm is not None


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(REPO)) for p in RECIPES])
def test_recipe_starts_with_its_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# usam ") or first.startswith("# torchrun "), f"{path}: first line must be '# usam ...'"


def test_there_are_recipes() -> None:
    assert RECIPES, "no recipes shipped"
