"""``usam train RECIPE [key=value ...]``: the one training loop, also under ``torchrun``."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a recipe (single process, or DDP/FSDP under torchrun)")
    p.add_argument("recipe", help="recipe YAML")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. train.lr=1e-4")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue from the latest checkpoint of the run folder, or from CHECKPOINT",
    )
    p.add_argument("--out", help="run folder (default: the recipe's output_dir)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import train_recipe

    result = train_recipe(args.recipe, args.overrides, resume=args.resume, device=args.device, out=args.out)
    print(
        f"stopped after {result.step} steps ({result.reason}); last checkpoint: {result.last_checkpoint}"
        + (f"; best: {result.best_checkpoint} ({result.best_value:.4g})" if result.best_checkpoint else "")
    )
    return 0 if result.reason == "max_steps" else 1
