"""The demo's text-only baselines: one fixed answer per task, chosen from the training targets.

- *most frequent*: the task's most frequent training target;
- *consensus*: the training target closest to all the others — the highest mean TF-IDF n-gram cosine
  (n = 1..4, the similarity CIDEr is built on, without its length penalty) to the task's training
  targets. Where every caption is distinct, the most frequent target is an arbitrary one, while the
  consensus caption is the "central" template a model that ignores its audio drifts to; a captioning
  model that only beats the first has not shown that it listens.

Scored by the same code as the models (:func:`usam_toolkit.evaluate.runner.score`), so the table compares
like with like. The training target of an example is its first reference (captioning clips have several).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.manifest import references_of


def training_target(record: Mapping[str, Any]) -> str:
    """The first reference of a manifest record (its training target)."""
    return str(references_of(record["target"])[0])


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


def _ngrams(text: str, n_max: int = 4) -> list[Counter[tuple[str, ...]]]:
    words = re.findall(r"[\w']+", text.lower())
    return [Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1)) for n in range(1, n_max + 1)]


def consensus_target(targets: Sequence[str], n_max: int = 4) -> str:
    """The target with the highest mean TF-IDF n-gram cosine to all ``targets`` (itself included).

    Document frequencies count the targets holding an n-gram; each target's per-n vector is scaled to
    unit length, so the mean cosine of a candidate is its dot product with the mean unit vector. Ties go
    to the target seen first.

    Raises:
        ValueError: ``targets`` is empty.
    """
    if not targets:
        raise ValueError("consensus_target needs at least one target")
    grams = [_ngrams(t, n_max) for t in targets]
    docs = len(targets)
    df: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(n_max)]
    for g in grams:
        for n in range(n_max):
            df[n].update(g[n].keys())

    def unit(g: Counter[tuple[str, ...]], n: int) -> dict[tuple[str, ...], float]:
        vec = {k: c * math.log(docs / df[n][k]) for k, c in g.items()}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        return {k: v / norm for k, v in vec.items()} if norm > 0 else {}

    units = [[unit(g[n], n) for n in range(n_max)] for g in grams]
    centre: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(n_max)]
    for u in units:
        for n in range(n_max):
            for k, v in u[n].items():
                centre[n][k] += v / docs
    scores = [sum(v * centre[n][k] for n in range(n_max) for k, v in u[n].items()) / n_max for u in units]
    return targets[max(range(docs), key=lambda i: (scores[i], -i))]


def consensus_targets(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Task (``task:lang`` as in :func:`most_frequent_targets`) -> its consensus training target."""
    by_key: dict[str, list[str]] = {}
    for rec in records:
        by_key.setdefault(_key(rec), []).append(training_target(rec))
    return {key: consensus_target(targets) for key, targets in by_key.items()}


#: the text-only baselines by system name (the demo's table columns after "model" and "untrained").
TEXT_BASELINES = {"most_frequent": most_frequent_targets, "consensus": consensus_targets}


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
