"""``usam health RECIPE [key=value ...]``: the projector-health figures of a recipe's model on a few batches.

Builds the model as ``usam train`` does (same seed, weights as the recipe says, or a checkpoint's with
``--checkpoint``), runs ``--batches`` batches of the split through ``model.forward`` in eval mode under
``no_grad``, and prints, per stage of the audio path: width, tokens per second of audio, and the means
over the batches of ``rms_ratio``, ``between_clip`` and ``within_clip`` (:mod:`usam_toolkit.model.health`,
docs/training.md "Projector health").
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "health",
        help="projector health of a recipe's model at initialisation: token scale and clip spread per stage",
        description=(
            "Run a few batches through the recipe's model (no training) and print, for each stage of the "
            "audio path (fusion, every projector, audio_norm), its width, tokens per second of audio, "
            "rms_ratio (token RMS / the LLM's text-embedding RMS), between_clip (spread of the clips' mean "
            "tokens; 0 = every clip looks the same to the LLM) and within_clip (spread of the tokens inside "
            "a clip)."
        ),
    )
    p.add_argument("recipe", help="recipe YAML")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. audio_norm.kind=layer_norm"
    )
    p.add_argument("--batches", type=int, default=2, metavar="N", help="batches to measure (default: 2)")
    p.add_argument(
        "--split",
        default="train",
        choices=("train", "valid", "test"),
        help="data split of the recipe (default: train, batched as in training)",
    )
    p.add_argument(
        "--checkpoint",
        help="measure a checkpoint's weights (checkpoint or run folder) instead of the recipe's initial ones",
    )
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(run=run)


def measure_health(
    recipe: str | Path,
    overrides: Sequence[str] = (),
    *,
    batches: int = 2,
    split: str = "train",
    checkpoint: str | Path | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The health figures of the recipe's model on its first ``batches`` batches of ``split``.

    Returns:
        ``{"recipe", "split", "checkpoint", "batches", "clips", "audio_seconds", "text_rms", "stages"}``,
        ``stages`` a list, in path order, of ``{"stage", "width", "tokens_per_s", "rms_ratio",
        "between_clip", "within_clip"}`` (figures: means over the batches where defined, else NaN).
    """
    import torch

    from ..config.loader import load_recipe
    from ..errors import ConfigError
    from ..model.health import FIGURES, stage_health, stage_tensors
    from ..pipeline import build_data, build_model, load_for_evaluation, pick_device
    from ..train.rng import seed_everything

    if batches < 1:
        raise ConfigError(f"--batches: must be >= 1, got {batches}")
    dev = pick_device(device)
    if checkpoint:
        cfg, model = load_for_evaluation(checkpoint, overrides, recipe=recipe, device=dev)
    else:
        cfg = load_recipe(recipe, overrides)
        seed_everything(int(cfg.seed))  # the initial weights `usam train` starts from
        model = build_model(cfg, dev)
    text_rms = float(model.llm.embedding_rms())
    loader, sampler = build_data(cfg, model, split, train=split == "train")
    sampler.set_epoch(0)
    model.eval()

    stages: dict[str, dict[str, Any]] = {}
    done = clips = 0
    seconds = 0.0
    with torch.no_grad():
        for batch in loader:
            if len(batch) == 0:
                continue
            out = model(batch.to(dev))
            for label, feats, lens in stage_tensors(out.extras or {}):
                acc = stages.setdefault(
                    label, {"width": int(feats.shape[-1]), "tokens": 0.0, **{f: [] for f in FIGURES}}
                )
                acc["tokens"] += float(lens.sum())
                for name, value in stage_health(feats, lens, text_rms).items():
                    if not math.isnan(value):
                        acc[name].append(value)
            done += 1
            clips += len(batch)
            seconds += float(batch.audio_seconds)
            if done >= batches:
                break
    if done == 0:
        raise ConfigError(f"{recipe}: data.{split} gave no batch to measure")
    if not stages:
        raise ConfigError(f"{recipe}: the model recorded no stage/<label> extras to measure")
    rows = [
        {
            "stage": label,
            "width": acc["width"],
            "tokens_per_s": acc["tokens"] / seconds if seconds > 0 else float("nan"),
            **{f: (sum(acc[f]) / len(acc[f]) if acc[f] else float("nan")) for f in FIGURES},
        }
        for label, acc in stages.items()
    ]
    return {
        "recipe": str(recipe),
        "split": split,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "batches": done,
        "clips": clips,
        "audio_seconds": seconds,
        "text_rms": text_rms,
        "stages": rows,
    }


def format_table(result: dict[str, Any]) -> str:
    """The figures as an aligned text table, with a header line saying what was measured."""
    rows = result["stages"]
    w = max([len("stage")] + [len(r["stage"]) for r in rows])
    weights = f"checkpoint {result['checkpoint']}" if result.get("checkpoint") else "initial weights"
    header = (
        f"{result['recipe']} ({weights}): {result['batches']} {result['split']} batches, {result['clips']} "
        f"clips, {result['audio_seconds']:.1f} s of audio; text-embedding RMS {result['text_rms']:.4g}"
    )
    lines = [
        header,
        (
            f"{'stage':<{w}}  {'width':>6}  {'tokens/s':>9}  {'rms_ratio':>10}  "
            f"{'between_clip':>12}  {'within_clip':>11}"
        ),
    ]
    for r in rows:
        lines.append(
            f"{r['stage']:<{w}}  {r['width']:>6}  {r['tokens_per_s']:>9.2f}  {r['rms_ratio']:>10.4g}  "
            f"{r['between_clip']:>12.4g}  {r['within_clip']:>11.4g}"
        )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    result = measure_health(
        args.recipe,
        args.overrides,
        batches=args.batches,
        split=args.split,
        checkpoint=args.checkpoint,
        device=args.device,
    )
    if args.json:
        print(json.dumps(_json_safe(result), indent=2))
    else:
        print(format_table(result))
    return 0
