"""``usam validate RECIPE... [KEY=VALUE ...]``: resolve and check recipes without loading any weights.

Overrides are the strings ``usam train`` takes, handed to the same
:func:`~usam_toolkit.config.loader.load_recipe` (so a recipe that validates with ``train.lr=1e-4`` trains
with it); they apply to every recipe given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsamError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check recipes (keys, plugin names, plugin fields) without building")
    p.add_argument(
        "items",
        nargs="+",
        metavar="RECIPE|KEY=VALUE",
        help="recipe YAML files, and overrides applied to every one as `usam train` takes "
        "them, e.g. train.lr=1e-4 encoders.0.name=my_enc",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override (repeatable); the same as a KEY=VALUE argument",
    )
    p.add_argument(
        "--print", dest="print_yaml", action="store_true", help="print each resolved recipe as YAML"
    )
    p.set_defaults(run=run)


def split_items(items: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split the positional arguments into recipe paths and ``key=value`` overrides.

    An argument is an override when it holds ``=`` and names no existing file (a recipe path may
    contain ``=`` only if the file exists).
    """
    recipes: list[str] = []
    overrides: list[str] = []
    for item in items:
        (overrides if "=" in item and not Path(item).expanduser().is_file() else recipes).append(item)
    return recipes, overrides


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from ..config.loader import load_recipe

    recipes, overrides = split_items(args.items)
    overrides += list(args.overrides)
    if not recipes:
        example = " ".join(["recipes/mini/smoke.yaml", *overrides])
        raise UsamError(f"validate: no recipe given, only overrides; e.g. usam validate {example}")
    failed = 0
    for path in recipes:
        try:
            cfg = load_recipe(path, overrides)
        except UsamError as exc:
            failed += 1
            print(f"FAIL {path}\n  {exc}", file=sys.stderr)
            continue
        print(f"ok   {path}")
        if args.print_yaml:
            print(OmegaConf.to_yaml(cfg))
    if len(recipes) > 1:
        print(f"{len(recipes) - failed} valid, {failed} invalid")
    return 1 if failed else 0
