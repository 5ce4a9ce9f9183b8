"""The manifest schema (JSONL, one example per line) and its validating reader.

Schema of one line (fixed for the whole project)::

    {"id": str, "audio": str, "offset": float?, "duration": float?, "task": str,
     "target": str | [str, ...], "source_text": str?, "source_lang": str?, "target_lang": str?,
     "speaker": str?, "group": str?, "prompt": str?}

``audio`` is relative to the manifest's folder or absolute. ``target`` may list several references
(captioning); the first is the training target. ``prompt`` is an optional free-form instruction that
replaces the task's template. Keys outside the schema are kept in :attr:`Example.extra`.

Every problem is reported as ``path:line (id=...): what is wrong (valid: ...)``; in strict mode the first
one raises :class:`~usam_toolkit.errors.DataError`, in lenient mode each bad line is skipped and
recorded in a :class:`~usam_toolkit.data.report.BadSampleReport`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..errors import DataError, did_you_mean
from .report import BadSample, BadSampleReport, format_location

REQUIRED = ("id", "audio", "task", "target")
OPTIONAL_STR = ("source_text", "source_lang", "target_lang", "speaker", "group", "prompt")
OPTIONAL_FLOAT = ("offset", "duration")
SCHEMA_KEYS = REQUIRED + OPTIONAL_FLOAT + OPTIONAL_STR


def references_of(target: str | Sequence[str]) -> list[str]:
    """A manifest ``target`` as a list: one reference (ASR/S2TT) or several (captioning)."""
    return [target] if isinstance(target, str) else list(target)


@dataclass
class Example:
    """One manifest line, validated.

    Attributes:
        id: unique id within its manifest.
        audio: absolute path of the audio file (resolved against the manifest's folder).
        task: task name.
        target: training target or references (a list for captioning).
        offset: start of the span in seconds, or None.
        duration: span length in seconds, or None (to the end of the file).
        source_text, source_lang, target_lang, speaker, group, prompt: optional schema fields.
        manifest: the manifest file this came from.
        line: 1-based line number in it.
        extra: keys outside the schema, kept as written.
    """

    id: str
    audio: str
    task: str
    target: str | list[str]
    offset: float | None = None
    duration: float | None = None
    source_text: str | None = None
    source_lang: str | None = None
    target_lang: str | None = None
    speaker: str | None = None
    group: str | None = None
    prompt: str | None = None
    manifest: Path = Path("")
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def references(self) -> list[str]:
        """All references (one for ASR/S2TT, several for captioning)."""
        return references_of(self.target)

    @property
    def first_target(self) -> str:
        """The training target: the first reference."""
        return self.references[0]

    @property
    def location(self) -> str:
        """``manifest:line (id=..., audio=...)``."""
        return format_location(self.manifest, self.line, self.id, self.audio)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access (tasks accept examples as mappings or as :class:`Example`)."""
        if key in self.extra:
            return self.extra[key]
        value = getattr(self, key, default)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key in SCHEMA_KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def to_record(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The manifest line as a dict (``audio`` relative to ``relative_to`` when possible)."""
        audio = self.audio
        if relative_to is not None:
            try:
                audio = str(Path(self.audio).relative_to(relative_to))
            except ValueError:
                pass
        rec: dict[str, Any] = {"id": self.id, "audio": audio, "task": self.task, "target": self.target}
        for key in OPTIONAL_FLOAT + OPTIONAL_STR:
            if getattr(self, key) is not None:
                rec[key] = getattr(self, key)
        rec.update(self.extra)
        return rec


class _LineError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _check_str(rec: dict, key: str, required: bool) -> None:
    if key not in rec or rec[key] is None:
        if required:
            raise _LineError("schema", f"missing key '{key}' (valid: a non-empty string)")
        return
    if not isinstance(rec[key], str) or (required and not rec[key].strip()):
        raise _LineError("schema", f"'{key}' is {rec[key]!r} (valid: a non-empty string)")


def parse_record(rec: Any, known_tasks: Collection[str] | None) -> None:
    """Check one decoded JSON line against the schema; raises ``_LineError``."""
    if not isinstance(rec, dict):
        raise _LineError("schema", f"line is a JSON {type(rec).__name__} (valid: a JSON object)")
    for key in ("id", "audio", "task"):
        _check_str(rec, key, required=True)
    for key in OPTIONAL_STR:
        _check_str(rec, key, required=False)
    target = rec.get("target")
    if isinstance(target, list):
        if not target or not all(isinstance(t, str) for t in target):
            raise _LineError(
                "schema", f"'target' is {target!r} (valid: a string or a non-empty list of strings)"
            )
    elif not isinstance(target, str):
        what = "missing key 'target'" if "target" not in rec else f"'target' is {target!r}"
        raise _LineError("schema", f"{what} (valid: a string or a non-empty list of strings)")
    for key in OPTIONAL_FLOAT:
        v = rec.get(key)
        if v is None:
            continue
        try:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        except OverflowError:  # an int too large for a float, e.g. 1 followed by 400 zeros
            ok = False
        ok = ok and (v >= 0 if key == "offset" else v > 0)
        if not ok:
            valid = "a number of seconds >= 0" if key == "offset" else "a number of seconds > 0"
            raise _LineError("schema", f"'{key}' is {v!r} (valid: {valid})")
    if known_tasks is not None and rec["task"] not in known_tasks:
        raise _LineError(
            "unknown_task",
            f"unknown task '{rec['task']}'.{did_you_mean(rec['task'], known_tasks)} "
            f"(valid: {', '.join(sorted(known_tasks))})",
        )


def _resolve_audio(audio: str, folder: Path) -> str:
    p = Path(audio).expanduser()
    return str(p if p.is_absolute() else (folder / p))


def _check_inside_root(audio: str, root: Path) -> None:
    """Refuse audio whose real path (``..`` collapsed, symlinks followed) is not under ``root``."""
    try:
        real = Path(os.path.realpath(audio))
    except (OSError, ValueError) as exc:  # e.g. a NUL byte in the path
        raise _LineError("schema", f"audio path {audio!r} is not a usable path ({exc})") from None
    if real != root and root not in real.parents:
        raise _LineError(
            "outside_root",
            f"audio resolves to {real}, outside the data root {root} (valid: a file under data.audio_root; "
            "'..' and symlinks are followed before the check)",
        )


def read_manifest(
    path: str | Path,
    *,
    strict: bool = True,
    known_tasks: Collection[str] | None = None,
    report: BadSampleReport | None = None,
    audio_root: str | Path | None = None,
) -> list[Example]:
    """Read and validate one JSONL manifest.

    Args:
        path: manifest file.
        strict: raise on the first bad line (True) or skip and record each bad line (False).
        known_tasks: task names accepted in ``task``; None accepts any.
        report: where skipped lines are recorded in lenient mode (a private one if None).
        audio_root: when given, every audio path must resolve (``..`` collapsed, symlinks followed)
            to a file under this folder, else the line is bad (reason ``outside_root``). None: no limit
            (``usam prepare`` writes ``../`` paths to corpora kept where they were extracted).

    Returns:
        The valid examples, in file order, with ``audio`` resolved to an absolute path.

    Raises:
        DataError: ``path:line (id=...): reason: what is wrong (valid: ...)`` in strict mode, or when
            the file itself cannot be read.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"manifest {path} does not exist (expected a JSONL file, one example per line)")
    folder = path.parent
    root = Path(os.path.realpath(Path(audio_root).expanduser())) if audio_root is not None else None
    report = report if report is not None else BadSampleReport()
    examples: list[Example] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as f:
        for lineno, raw_bytes in enumerate(f, start=1):
            if not raw_bytes.strip():
                continue
            rec: Any = None
            try:
                try:
                    raw = raw_bytes.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _LineError(
                        "malformed_json",
                        f"not UTF-8 (byte {exc.start + 1}) (valid: one UTF-8 JSON object per line)",
                    ) from None
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise _LineError(
                        "malformed_json",
                        # json's own messages may end in "at" ("Unterminated string starting at").
                        f"malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}) "
                        "(valid: one JSON object per line)",
                    ) from None
                except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit integer, [[[[...]]]] nesting
                    raise _LineError(
                        "malformed_json",
                        f"JSON the parser refuses ({type(exc).__name__}: {str(exc)[:120]}) "
                        "(valid: one JSON object per line)",
                    ) from None
                parse_record(rec, known_tasks)
                if root is not None:
                    _check_inside_root(_resolve_audio(rec["audio"], folder), root)
                if rec["id"] in seen:
                    raise _LineError(
                        "duplicate_id",
                        f"id '{rec['id']}' already used on line {seen[rec['id']]} (valid: unique ids)",
                    )
            except _LineError as err:
                rid = rec.get("id", "") if isinstance(rec, dict) and isinstance(rec.get("id"), str) else ""
                raudio = (
                    rec.get("audio", "")
                    if isinstance(rec, dict) and isinstance(rec.get("audio"), str)
                    else ""
                )
                bad = BadSample(
                    rid,
                    str(path),
                    lineno,
                    raudio and _resolve_audio(raudio, folder),
                    err.reason,
                    err.detail,
                    stage="manifest",
                )
                if strict:
                    raise DataError(bad.message()) from None
                report.add(bad)
                continue
            seen[rec["id"]] = lineno
            kwargs = {k: rec.get(k) for k in SCHEMA_KEYS}
            kwargs["offset"] = None if rec.get("offset") is None else float(rec["offset"])
            kwargs["duration"] = None if rec.get("duration") is None else float(rec["duration"])
            kwargs["audio"] = _resolve_audio(rec["audio"], folder)
            extra = {k: v for k, v in rec.items() if k not in SCHEMA_KEYS}
            examples.append(Example(**kwargs, manifest=path, line=lineno, extra=extra))
    return examples


def read_manifests(
    paths: Iterable[str | Path],
    *,
    strict: bool = True,
    known_tasks: Collection[str] | None = None,
    report: BadSampleReport | None = None,
    audio_root: str | Path | None = None,
) -> list[Example]:
    """:func:`read_manifest` over several files, concatenated in order."""
    out: list[Example] = []
    for p in paths:
        out.extend(
            read_manifest(p, strict=strict, known_tasks=known_tasks, report=report, audio_root=audio_root)
        )
    return out


def write_manifest(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write ``records`` as JSONL (UTF-8, one object per line); returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records)
    return path
