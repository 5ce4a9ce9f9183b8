"""Helpers shared by the corpus preparers (``usam prepare``): finding audio, probing, writing manifests.

Every preparer writes manifests whose ``audio`` paths are relative to the manifest's folder (so a
corpus and its manifests can move together) and records each example it had to leave out (audio
missing or unreadable) in ``<out>/<corpus>_skipped.jsonl`` with the reason, never silently.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .manifest import write_manifest
from .report import BadSample, BadSampleReport

log = logging.getLogger("usam_toolkit.data.prepare")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".m4a", ".webm")


def index_audio(root: Path, suffixes: Iterable[str] = AUDIO_SUFFIXES) -> dict[str, Path]:
    """``{file stem: path}`` of every audio file under ``root`` (first one found wins on a clash)."""
    wanted = {s.lower() for s in suffixes}
    index: dict[str, Path] = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in sorted(files):
            p = Path(dirpath) / f
            if p.suffix.lower() in wanted:
                index.setdefault(p.stem, p)
    return index


def probe_duration(path: Path) -> float:
    """Seconds of audio from the header (raises on an unreadable file)."""
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / float(info.samplerate)


def read_csv(path: Path, delimiter: str = ",") -> Iterator[dict[str, str]]:
    """Rows of a CSV/TSV with a header; TSVs are read without quote handling (CoVoST/Common Voice style)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        yield from csv.DictReader(f, delimiter=delimiter, quoting=quoting)


class ManifestWriter:
    """Collects records for one manifest, checking each audio file; writes the JSONL at :meth:`close`.

    Args:
        path: manifest file to write.
        report: where examples left out are recorded.
        probe: read each file's header for ``duration`` (and to prove it is readable).
    """

    def __init__(self, path: Path, report: BadSampleReport, *, probe: bool = True):
        self.path = Path(path)
        self.report = report
        self.probe = probe
        self.records: list[dict[str, Any]] = []
        self.skipped = 0

    def add(
        self, record: dict[str, Any], audio: Path | None, *, source: str, line: int = 0, expected: str = ""
    ) -> bool:
        """Add ``record`` (without ``audio``) for file ``audio``; False (and recorded) if unusable.

        Args:
            record: manifest fields except ``audio``.
            audio: the audio file, or None when no file matched.
            source: metadata file the record comes from (for the report).
            line: row number in ``source``.
            expected: the file name(s) looked for, for the report when ``audio`` is None.
        """
        rid = str(record.get("id", ""))
        if audio is None or not Path(audio).is_file():
            self._skip(
                rid,
                source,
                line,
                str(audio or ""),
                "missing",
                f"no audio file found (looked for {expected or audio})",
            )
            return False
        if self.probe and "duration" not in record:
            try:
                dur = probe_duration(Path(audio)) - float(record.get("offset") or 0.0)
            except Exception as exc:
                hint = " (mp3 needs libsndfile >= 1.1)" if Path(audio).suffix.lower() == ".mp3" else ""
                self._skip(
                    rid, source, line, str(audio), "unreadable", f"libsndfile cannot read it: {exc}{hint}"
                )
                return False
            if dur <= 0:
                self._skip(rid, source, line, str(audio), "empty", "no audio after the offset")
                return False
            record["duration"] = round(dur, 4)
        rel = os.path.relpath(Path(audio).resolve(), self.path.parent.resolve())
        self.records.append(
            {"id": record["id"], "audio": rel, **{k: v for k, v in record.items() if k != "id"}}
        )
        return True

    def _skip(self, rid: str, source: str, line: int, audio: str, reason: str, detail: str) -> None:
        self.skipped += 1
        self.report.add(BadSample(rid, source, line, audio, reason, detail, stage="prepare"))

    def close(self) -> Path | None:
        """Write the manifest (None and a warning when no record survived)."""
        if self.skipped:
            log.warning("%s: %d example(s) left out, see %s", self.path.name, self.skipped, self.report.path)
        if not self.records:
            log.warning("%s: no usable examples; manifest not written", self.path.name)
            return None
        write_manifest(self.path, self.records)
        log.info("wrote %s (%d examples)", self.path, len(self.records))
        return self.path


def prepare_report(out: Path, corpus: str) -> BadSampleReport:
    """The report of left-out examples of one corpus (``<out>/<corpus>_skipped.jsonl``, rewritten each
    run)."""
    out.mkdir(parents=True, exist_ok=True)
    return BadSampleReport(out / f"{corpus}_skipped.jsonl", truncate=True)
