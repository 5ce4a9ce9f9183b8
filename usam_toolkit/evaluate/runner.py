"""The one evaluation loop: decode full-length audio in batches, score per task, write the results.

Clips of any length are decoded whole: encoders with a maximum input (Whisper's 30 s) read longer clips
in windows and join the frames (``usam_plugins.encoders.common.encode_in_chunks``), so every clip gets
one hypothesis from all of its audio.

Outputs in ``out_dir``: ``predictions.jsonl`` (id, task, hypothesis, references, seconds),
``metrics.json`` (task -> metric -> values) and ``summary.md`` (a table).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..interfaces import BuildContext, GenerationConfig
from .config import EvalConfig


def generation_config(cfg: EvalConfig, max_audio_seconds: float) -> GenerationConfig:
    """Decoding settings for a batch; ``max_new_tokens`` fixed by the recipe or derived from its audio."""
    if cfg.max_new_tokens is not None:
        limit = int(cfg.max_new_tokens)
    else:
        limit = int(cfg.max_new_tokens_base + math.ceil(cfg.max_new_tokens_per_second * max_audio_seconds))
    return GenerationConfig(
        strategy=cfg.strategy,
        max_new_tokens=limit,
        num_beams=cfg.num_beams,
        length_penalty=cfg.length_penalty,
        top_p=cfg.top_p,
        temperature=cfg.temperature,
        repetition_penalty=cfg.repetition_penalty,
    )


def decode(
    model: Any,
    loader: Iterable[Any],
    cfg: EvalConfig,
    device: str = "cpu",
    progress: bool = True,
    total: int | None = None,
) -> list[dict[str, Any]]:
    """Generate one hypothesis per example of ``loader``; returns prediction records in loader order."""
    import torch
    from tqdm import tqdm

    model.eval()
    records: list[dict[str, Any]] = []
    bar = tqdm(total=total, desc="decode", unit="batch", disable=not progress, dynamic_ncols=True)
    with torch.no_grad():
        for batch in loader:
            if batch is None or len(batch) == 0:
                bar.update(1)
                continue
            batch = batch.to(device)
            seconds = [float(s) for s in batch.durations]
            hyps = model.generate(batch, generation_config(cfg, max(seconds)))
            for i, hyp in enumerate(hyps):
                ex = batch.examples[i]
                records.append(
                    {
                        "id": batch.ids[i],
                        "task": batch.tasks[i],
                        "target_lang": getattr(ex, "target_lang", None),
                        "hypothesis": hyp,
                        "references": list(batch.references[i]),
                        "seconds": round(seconds[i], 3),
                    }
                )
            bar.update(1)
            bar.set_postfix(examples=len(records))
    bar.close()
    return records


def _groups(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Group predictions by task, splitting a task by target language when it has several."""
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by_task[r["task"]].append(r)
    out: dict[str, list[Mapping[str, Any]]] = {}
    for task, rows in by_task.items():
        langs = sorted({str(r.get("target_lang")) for r in rows})
        if len(langs) <= 1:
            out[task] = rows
        else:
            for lang in langs:
                out[f"{task}:{lang}"] = [r for r in rows if str(r.get("target_lang")) == lang]
    return out


def score(
    records: Sequence[Mapping[str, Any]],
    metric_names: Mapping[str, Sequence[str]],
    registry: Any = None,
    paper_scoring: bool = False,
) -> dict[str, dict[str, Any]]:
    """Score prediction records per task group with the named metric plugins.

    Args:
        records: dicts with ``task``, ``hypothesis``, ``references`` and optionally ``target_lang``.
        metric_names: task name -> metric plugin names.
        registry: the plugin registry (default: the process-wide one).
        paper_scoring: also ask metrics for the paper's per-sentence-average variants.

    Returns:
        group -> metric name -> that metric's result dict, plus ``n`` (examples scored).
    """
    from ..plugins import get_registry

    reg = registry or get_registry()
    results: dict[str, dict[str, Any]] = {}
    built: dict[str, Any] = {}
    for group, rows in _groups(records).items():
        task = group.split(":", 1)[0]
        lang = rows[0].get("target_lang")
        hyps = [str(r["hypothesis"]) for r in rows]
        refs = [list(r["references"]) for r in rows]
        out: dict[str, Any] = {"n": len(rows)}
        for name in metric_names.get(task, ()):
            if name not in built:
                built[name] = reg.build("metrics", {"name": name}, BuildContext(), where=f"metric '{name}'")
            kwargs: dict[str, Any] = {"target_lang": lang} if lang else {}
            if paper_scoring:
                kwargs["paper_scoring"] = True
            out[name] = built[name].compute(hyps, refs, **kwargs)
        results[group] = out
    return results


def _flat_scores(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, formatted value) pairs of the scores in one group's result; counts (ints) stay in
    metrics.json, the summary shows scores."""
    pairs = []
    for metric, values in result.items():
        if not isinstance(values, Mapping):
            continue
        for key, val in values.items():
            if isinstance(val, float):
                pairs.append((f"{metric}.{key}" if key != metric else metric, f"{val:.2f}"))
    return pairs


def summary_markdown(results: Mapping[str, Mapping[str, Any]], title: str = "Evaluation") -> str:
    """A markdown table: one row per (task, score)."""
    lines = [f"# {title}", "", "| task | n | score | value |", "|---|---|---|---|"]
    for group, result in results.items():
        for name, value in _flat_scores(result):
            lines.append(f"| {group} | {result.get('n', '')} | {name} | {value} |")
    missing = [
        f"- {group} / {metric}: {v['missing']}"
        for group, result in results.items()
        for metric, v in result.items()
        if isinstance(v, Mapping) and v.get("missing")
    ]
    if missing:
        lines += ["", "Not computed:", *missing]
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: Path,
    records: Sequence[Mapping[str, Any]],
    results: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``predictions.jsonl``, ``metrics.json`` and ``summary.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "predictions.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out_dir / "metrics.json").write_text(
        json.dumps({**(extra or {}), "results": results}, indent=2, ensure_ascii=False)
    )
    (out_dir / "summary.md").write_text(summary_markdown(results))


def metrics_for_tasks(tasks: Mapping[str, Any], cfg: EvalConfig) -> dict[str, list[str]]:
    """The metric names per task: the recipe's ``evaluate.metrics`` or else each task's defaults."""
    return {name: list(cfg.metrics.get(name, task.metrics)) for name, task in tasks.items()}
