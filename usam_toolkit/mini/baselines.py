"""The demo's text-only baseline: always answer the most frequent training target of the task.

Scored by the same code as the models (:func:`usam_toolkit.evaluate.runner.score`), so the table compares
like with like. The training target of an example is its first reference (captioning clips have several).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.manifest import references_of


def training_target(record: Mapping[str, Any]) -> str:
    """The first reference of a manifest record (its training target)."""
    target = record["target"]
    return str(target if isinstance(target, str) else target[0])


def _key(record: Mapping[str, Any]) -> str:
    """Task, split by target language where one is given (an s2tt baseline answers in the right language)."""
    lang = record.get("target_lang")
    return f"{record['task']}:{lang}" if lang else str(record["task"])


def read_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every JSON line of ``paths``."""
    out: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def most_frequent_targets(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Task (``task:lang`` when the record names a target language) -> its most frequent training target.

    Ties go to the target seen first, so the answer is deterministic for a given manifest order.
    """
    counts: dict[str, Counter[str]] = {}
    for rec in records:
        counts.setdefault(_key(rec), Counter())[training_target(rec)] += 1
    # Counter.most_common keeps insertion order among equal counts.
    return {key: counter.most_common(1)[0][0] for key, counter in counts.items()}


def baseline_predictions(
    test: Sequence[Mapping[str, Any]], answers: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Prediction records (the shape :func:`~usam_toolkit.evaluate.runner.decode` returns) of the baseline.

    A test example whose task has no training example gets an empty hypothesis.
    """
    records = []
    for rec in test:
        refs = references_of(rec["target"])
        records.append(
            {
                "id": rec["id"],
                "task": rec["task"],
                "target_lang": rec.get("target_lang"),
                "hypothesis": answers.get(_key(rec), answers.get(str(rec["task"]), "")),
                "references": refs,
                "seconds": rec.get("duration"),
            }
        )
    return records
