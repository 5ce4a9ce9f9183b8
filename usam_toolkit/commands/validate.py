"""``usam validate RECIPE...``: resolve and check recipes without loading any weights."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import UsamError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check recipes (keys, plugin names, plugin fields) without building")
    p.add_argument("recipes", nargs="+", help="recipe YAML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every recipe (repeatable), e.g. --set train.lr=1e-4")
    p.add_argument("--print", dest="print_yaml", action="store_true", help="print each resolved recipe as YAML")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from ..config.loader import load_recipe

    failed = 0
    for path in args.recipes:
        try:
            cfg = load_recipe(path, args.overrides)
        except UsamError as exc:
            failed += 1
            print(f"FAIL {path}\n  {exc}", file=sys.stderr)
            continue
        print(f"ok   {path}")
        if args.print_yaml:
            print(OmegaConf.to_yaml(cfg))
    if len(args.recipes) > 1:
        print(f"{len(args.recipes) - failed} valid, {failed} invalid")
    return 1 if failed else 0
