"""Output formats of ``usam infer``: text, JSONL, SRT-like segments.

- ``text``: one line per file, ``<file>\\t<answer>`` (newlines in answers become spaces).
- ``jsonl``: one object per file (``file``, ``task``, ``text``, ``duration``, ``windows`` with
  ``start``/``end``/``text``, ``routing_weights``), or with ``per_window`` one object per window
  (``file``, ``window``, ``start``, ``end``, ``text``, ``routing_weights``).
- ``srt``: per file a ``# <file>`` line, then numbered SRT cues (``HH:MM:SS,mmm --> HH:MM:SS,mmm``),
  one per window, and a blank line; only for tasks with time stamps (asr, s2tt).

Failed files never appear here; they are reported on stderr by the command.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from .engine import Result

FORMATS = ("text", "jsonl", "srt")


def srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def format_text(results: Iterable[Result]) -> Iterator[str]:
    for r in results:
        if r.ok:
            yield f"{r.name}\t{_one_line(r.text)}"


def format_jsonl(results: Iterable[Result], per_window: bool = False) -> Iterator[str]:
    for r in results:
        if not r.ok:
            continue
        if not per_window:
            yield json.dumps(r.to_dict(), ensure_ascii=False)
            continue
        for i, w in enumerate(r.windows):
            yield json.dumps(
                {
                    "file": r.name,
                    "task": r.task,
                    "window": i,
                    "start": w.start,
                    "end": w.end,
                    "text": w.text,
                    "routing_weights": w.routing_weights,
                },
                ensure_ascii=False,
            )


def format_srt(results: Iterable[Result]) -> Iterator[str]:
    for r in results:
        if not r.ok:
            continue
        yield f"# {r.name}"
        for i, w in enumerate(r.windows, start=1):
            yield str(i)
            yield f"{srt_time(w.start)} --> {srt_time(w.end)}"
            yield _one_line(w.text)
            yield ""


def format_results(results: list[Result], fmt: str, per_window: bool = False) -> Iterator[str]:
    """Lines of ``results`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "text":
        return format_text(results)
    if fmt == "jsonl":
        return format_jsonl(results, per_window)
    if fmt == "srt":
        return format_srt(results)
    raise ValueError(f"unknown format '{fmt}' (valid: {', '.join(FORMATS)})")
