"""The record of bad samples: counted, kept in memory and appended to a JSONL report file.

Each line of the report is ``{"id", "manifest", "line", "audio", "reason", "detail", "stage"}``.
Lines are written with one ``write`` of a whole line to a file opened in append mode and flushed at
once, so DataLoader worker processes can share one report file: POSIX appends of a short line land
whole and in some order, never interleaved.

A manifest line is reported once per report, however often it is met: a sample that fails to
decode fails again every epoch (and in every worker process that loads it), so before appending, a
report checks, under an exclusive ``flock`` of the file, that the line is not in it yet.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class BadSample:
    """One skipped example.

    Attributes:
        id: example id ("" when the line could not be parsed far enough to have one).
        manifest: manifest file.
        line: 1-based line number in the manifest.
        audio: audio path as resolved ("" if unknown).
        reason: short code (``malformed_json``, ``schema``, ``unknown_task``, ``missing``, ``unreadable``,
            ``empty``, ``silent``, ``non_finite``, ``too_long``, ``too_short``, ``odd_sample_rate``, ...).
        detail: what is wrong and what would be valid.
        stage: ``manifest`` (reading lines), ``probe`` (header read at dataset build) or ``load``
            (decoding in ``__getitem__``).
    """

    id: str
    manifest: str
    line: int
    audio: str
    reason: str
    detail: str
    stage: str = "load"

    @property
    def location(self) -> str:
        """``manifest:line (id=..., audio=...)`` for messages."""
        return format_location(self.manifest, self.line, self.id, self.audio)

    def message(self) -> str:
        return f"{self.location}: {self.reason}: {self.detail}"


def format_location(manifest: Any, line: int, id: str = "", audio: Any = "") -> str:
    """The one location format used in every data error: ``path:line (id=..., audio=...)``."""
    extra = ", ".join(p for p in (f"id={id}" if id else "", f"audio={audio}" if audio else "") if p)
    return f"{manifest}:{line}" + (f" ({extra})" if extra else "")


class BadSampleReport:
    """Collects skipped samples; appends each to ``path`` (JSONL) when a path is given.

    The in-memory list and counts only see samples recorded in this process; a report file shared
    with worker processes sees them all (use :meth:`read` to load it).
    """

    def __init__(self, path: str | Path | None = None, *, truncate: bool = False):
        self.path = Path(path) if path is not None else None
        self.samples: list[BadSample] = []
        self.counts: Counter[str] = Counter()
        self._seen: set[tuple[str, int]] = set()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if truncate:
                self.path.write_text("")

    def add(self, sample: BadSample) -> bool:
        """Record one bad sample and append it to the report file, unless its manifest line already
        is there (then nothing happens). Returns whether it was recorded."""
        key = (sample.manifest, sample.line)
        if key in self._seen:
            return False
        self._seen.add(key)
        if self.path is not None and not self._append_once(sample, key):
            return False
        self.samples.append(sample)
        self.counts[sample.reason] += 1
        return True

    def _append_once(self, sample: BadSample, key: tuple[str, int]) -> bool:
        line = json.dumps(asdict(sample), ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _lock(fd)  # released by close
            with open(fd, "rb", closefd=False) as f:
                if key in _keys(f.read().decode("utf-8", "replace")):
                    return False
            os.write(fd, line.encode("utf-8"))
            return True
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return len(self.samples)

    @staticmethod
    def read(path: str | Path) -> list[BadSample]:
        """Load a report file written by any number of processes."""
        p = Path(path)
        if not p.exists():
            return []
        return [
            BadSample(**json.loads(line))
            for line in p.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def __getstate__(self) -> dict:
        # Workers get the path only; their in-memory lists are private copies anyway.
        return {"path": self.path, "samples": [], "counts": Counter(), "_seen": set()}

    @staticmethod
    def summary(path: str | Path) -> str | None:
        """One line for the console: how many manifest lines a report lists, by reason, and where it
        is; None when it lists none."""
        rows = BadSampleReport.read(path)
        if not rows:
            return None
        lines = {(b.manifest, b.line): b.reason for b in rows}
        reasons = Counter(lines.values())
        by_reason = ", ".join(f"{r}={n}" for r, n in sorted(reasons.items()))
        plural = "s" if len(lines) != 1 else ""
        return f"skipped {len(lines)} manifest line{plural} ({by_reason}); each is listed in {path}"


def _keys(text: str) -> set[tuple[str, int]]:
    keys = set()
    for line in text.splitlines():
        try:
            row = json.loads(line)
            keys.add((row["manifest"], int(row["line"])))
        except (ValueError, KeyError, TypeError):  # a line cut by a kill: not a record
            continue
    return keys


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the in-process check still holds
        return
    fcntl.flock(fd, fcntl.LOCK_EX)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
