"""``usam evaluate RECIPE --checkpoint DIR``: decode full-length audio and score each task."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="decode a recipe's test manifests with a checkpoint and score them")
    p.add_argument("recipe", help="recipe YAML (its model must match the checkpoint's)")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. evaluate.strategy=beam"
    )
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint folder, or a run folder (its latest checkpoint)"
    )
    p.add_argument("--manifest", action="append", help="manifest(s) to evaluate instead of data.test")
    p.add_argument(
        "--split", default="test", choices=("test", "valid", "train"), help="data split of the recipe"
    )
    p.add_argument("--out", help="output folder (default: <output_dir>/eval-<checkpoint name>)")
    p.add_argument(
        "--paper-scoring",
        action="store_true",
        help="also print the paper's per-sentence-average WER/BLEU next to the corpus scores",
    )
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import evaluate_model, load_for_evaluation, output_dir, pick_device
    from ..train.checkpoint import resolve_checkpoint

    device = pick_device(args.device)
    ckpt = resolve_checkpoint(args.checkpoint)
    cfg, model = load_for_evaluation(ckpt, args.overrides, recipe=args.recipe, device=device)
    out = Path(args.out) if args.out else output_dir(cfg) / f"eval-{ckpt.name}"
    results = evaluate_model(
        cfg,
        model,
        out,
        manifests=args.manifest,
        split=args.split,
        device=device,
        paper_scoring=args.paper_scoring,
        extra={"checkpoint": str(ckpt)},
    )
    print((out / "summary.md").read_text())
    print(json.dumps({"out": str(out)}))
    return 0 if results else 1
