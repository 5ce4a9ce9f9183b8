"""Registers the recipes shipped with the toolkit, so ``base:`` can name them from anywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from usam_toolkit.hookspecs import hookimpl


def shipped_recipes_dir() -> Path | None:
    """The ``recipes/`` folder of a source checkout or editable install, if present."""
    here = Path(__file__).resolve().parent.parent / "recipes"
    return here if here.is_dir() else None


@hookimpl
def usam_register_recipe_dirs(register: Callable[[str], None]) -> None:
    """Register the shipped ``recipes/`` folder."""
    found = shipped_recipes_dir()
    if found is not None:
        register(str(found))
