"""``usam score``: score existing predictions against a manifest's references, without a model.

Predictions file (JSONL, one line per example)::

    {"id": "utt-001", "hypothesis": "the cat sat on the mat"}

``prediction`` or ``text`` are accepted instead of ``hypothesis``; other keys are ignored. References come
from a manifest in the project schema (``target``: a string or a list of strings; ``target_lang`` per line).
The result is printed to stdout as JSON (see docs/scoring.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError

HYPOTHESIS_KEYS: tuple[str, ...] = ("hypothesis", "prediction", "text")
#: Metrics per task when no task plugin of that name is registered.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "asr": ("wer",),
    "s2tt": ("bleu", "chrf"),
    "aac": ("coco_caption",),
    "mc": ("coco_caption",),
}
_MAX_IDS_SHOWN = 10


def add_parser(sub: Any) -> None:
    p = sub.add_parser("score", help="score a predictions JSONL against a manifest (no model needed)")
    p.add_argument(
        "--task", required=True, help="task of the manifest lines to score (asr, s2tt, aac, mc, ...)"
    )
    p.add_argument(
        "--hyp",
        required=True,
        type=Path,
        help='predictions JSONL: {"id": ..., "hypothesis": ...} per line ("prediction"/"text" also read)',
    )
    p.add_argument("--ref", required=True, type=Path, help="manifest JSONL with the references (target)")
    p.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=None,
        metavar="NAME",
        help="metric plugin to run (repeatable); default: the task's metrics",
    )
    p.add_argument(
        "--paper-scoring",
        action="store_true",
        help="also print the U-SAM reference code's averages of per-sentence WER / BLEU",
    )
    p.add_argument(
        "--target-lang",
        default=None,
        help="target language for every line (overrides the manifest's target_lang)",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score the ids present in both files instead of failing on missing/extra ids",
    )
    p.add_argument(
        "--metric-option",
        dest="metric_options",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="metric config field (repeatable; VALUE parsed as JSON, else taken as a string), e.g. "
        'wer.normalizer=basic or \'coco_caption.metrics=["bleu","cider_d"]\'',
    )
    p.add_argument("--output", type=Path, default=None, help="also write the JSON to this file")
    p.set_defaults(run=run)


def read_predictions(path: Path) -> dict[str, str]:
    """Read a predictions JSONL into ``{id: hypothesis}``.

    Raises:
        DataError: ``path:line``, naming what is wrong (bad JSON, no id, no hypothesis key, duplicate id).
    """
    if not path.is_file():
        raise DataError(f"predictions file {path} does not exist (expected JSONL with id and hypothesis)")
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{where}: malformed JSON ({exc.msg}) (valid: one JSON object per line)"
                ) from None
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not rec["id"]:
                raise DataError(f"{where}: missing or non-string 'id' (valid: a non-empty string)")
            key = next((k for k in HYPOTHESIS_KEYS if k in rec), None)
            if key is None or not isinstance(rec[key], str):
                raise DataError(
                    f"{where} (id={rec['id']}): no string hypothesis "
                    f"(valid keys: {', '.join(HYPOTHESIS_KEYS)})"
                )
            if rec["id"] in out:
                raise DataError(
                    f"{where}: id '{rec['id']}' already on line {lines[rec['id']]} (valid: unique ids)"
                )
            out[rec["id"]] = rec[key]
            lines[rec["id"]] = lineno
    return out


def parse_metric_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["wer.normalizer=basic", ...]`` -> ``{"wer": {"normalizer": "basic"}}`` (values parsed as JSON if
    they can be).

    Raises:
        ConfigError: an item not shaped ``NAME.KEY=VALUE``.
    """
    from ..errors import ConfigError

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        head, sep, raw = item.partition("=")
        name, dot, key = head.partition(".")
        if not sep or not dot or not name or not key:
            raise ConfigError(f"--metric-option {item!r}: expected NAME.KEY=VALUE, e.g. wer.normalizer=basic")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out


def default_metrics(task: str) -> list[str]:
    """The task plugin's default metrics when that task is registered, else :data:`DEFAULT_METRICS`."""
    from ..errors import UsamError
    from ..interfaces import BuildContext
    from ..plugins import get_registry

    reg = get_registry()
    if task in reg.entries_by_kind["tasks"] or task in reg.aliases_by_kind["tasks"]:
        try:
            built = reg.build("tasks", {"name": task}, BuildContext(), f"task '{task}'")
            return list(built.metrics)
        except UsamError:
            pass  # fall back to the table: a task that cannot build still has known defaults
    if task not in DEFAULT_METRICS:
        raise DataError(
            f"no default metrics for task '{task}' (known: {', '.join(sorted(DEFAULT_METRICS))}); "
            "name them with --metric"
        )
    return list(DEFAULT_METRICS[task])


def _ids_text(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_MAX_IDS_SHOWN])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > _MAX_IDS_SHOWN else "")


def score(
    task: str,
    hyp_path: Path,
    ref_path: Path,
    metrics: Sequence[str] | None = None,
    *,
    paper_scoring: bool = False,
    target_lang: str | None = None,
    allow_missing: bool = False,
    metric_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score predictions against a manifest; the returned dict is what ``usam score`` prints.

    Lines are grouped by target language (``--target-lang`` overrides); with one group the scores are under
    ``metrics``, with several each language is scored on its own under ``by_target_lang`` (BLEU with a
    different tokenizer per language cannot be pooled).

    ``metric_options`` maps a metric name to config fields of that metric (e.g. ``{"wer": {"normalizer":
    "basic"}}``).

    Raises:
        ConfigError: an unknown metric or metric field.
        DataError: no manifest line of ``task``, or ids missing/extra (unless ``allow_missing``).
    """
    from ..data.manifest import read_manifest
    from ..interfaces import BuildContext
    from ..plugins import get_registry

    hyps = read_predictions(hyp_path)
    examples = read_manifest(ref_path, strict=True)
    tasks_found = sorted({e.task for e in examples})
    examples = [e for e in examples if e.task == task]
    if not examples:
        raise DataError(
            f"{ref_path}: no line with task '{task}' (tasks in the manifest: {', '.join(tasks_found)})"
        )
    ref_ids = {e.id for e in examples}
    missing = [e.id for e in examples if e.id not in hyps]
    extra = [i for i in hyps if i not in ref_ids]
    if (missing or extra) and not allow_missing:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} manifest id(s) without a prediction in {hyp_path}: {_ids_text(missing)}"
            )
        if extra:
            parts.append(
                f"{len(extra)} predicted id(s) not in {ref_path} (task '{task}'): {_ids_text(extra)}"
            )
        raise DataError("; ".join(parts) + " (use --allow-missing to score the ids present in both)")
    examples = [e for e in examples if e.id in hyps]
    if not examples:
        raise DataError(f"no id of {hyp_path} is in {ref_path} for task '{task}'")

    names = list(metrics) if metrics else default_metrics(task)
    reg = get_registry()
    ctx = BuildContext(base_dir=Path.cwd())
    options = metric_options or {}
    unused = sorted(set(options) - set(names))
    if unused:
        from ..errors import ConfigError

        raise ConfigError(
            f"--metric-option for {', '.join(unused)}, which is not scored (scored: {', '.join(names)})"
        )
    built = [reg.build("metrics", {"name": n, **options.get(n, {})}, ctx, f"--metric {n}") for n in names]

    groups: dict[str | None, list[Any]] = {}
    for e in examples:
        groups.setdefault(target_lang if target_lang is not None else e.target_lang, []).append(e)

    def run_group(group: list[Any], lang: str | None) -> dict[str, Any]:
        h = [hyps[e.id] for e in group]
        r = [e.references for e in group]
        return {
            n: m.compute(h, r, target_lang=lang, paper_scoring=paper_scoring) for n, m in zip(names, built)
        }

    result: dict[str, Any] = {
        "task": task,
        "hyp": str(hyp_path),
        "ref": str(ref_path),
        "num_scored": len(examples),
        "missing_ids": missing,
        "extra_ids": extra,
        "paper_scoring": paper_scoring,
    }
    try:
        if len(groups) == 1:
            ((lang, group),) = groups.items()
            result["target_lang"] = lang
            result["metrics"] = run_group(group, lang)
        else:
            result["by_target_lang"] = {
                str(lang): {"num_scored": len(group), "metrics": run_group(group, lang)}
                for lang, group in sorted(groups.items(), key=lambda kv: str(kv[0]))
            }
    finally:
        for m in built:
            close = getattr(m, "close", None)
            if callable(close):
                close()
    return result


def run(args: argparse.Namespace) -> int:
    result = score(
        args.task,
        args.hyp,
        args.ref,
        args.metrics,
        paper_scoring=args.paper_scoring,
        target_lang=args.target_lang,
        allow_missing=args.allow_missing,
        metric_options=parse_metric_options(args.metric_options),
    )
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    return 0
