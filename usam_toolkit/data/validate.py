"""Up-front check of manifests and their audio (``usam validate-data``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..audio.decode import AudioLimits, AudioProblem, decode_audio
from ..errors import DataError
from .manifest import read_manifest
from .report import BadSample, BadSampleReport


@dataclass
class ManifestSummary:
    """Counts for one manifest."""

    path: str
    lines_ok: int = 0
    audio_ok: int = 0
    bad: int = 0
    seconds: float = 0.0
    tasks: Counter = field(default_factory=Counter)


def validate_manifests(
    paths: Sequence[str | Path],
    *,
    strict: bool = True,
    known_tasks: Collection[str] | None = None,
    report: BadSampleReport | None = None,
    limits: AudioLimits | None = None,
    check_audio: bool = True,
    progress: bool = True,
    audio_root: str | Path | None = None,
) -> list[ManifestSummary]:
    """Validate every line and (optionally) decode every audio span.

    Args:
        paths: manifests.
        strict: raise :class:`DataError` at the first problem (``path:line (id, audio): ...``).
        known_tasks: accepted task names (None = any).
        report: records each bad sample in lenient mode.
        limits: audio bounds.
        check_audio: decode each span (finds corrupt, silent, NaN audio); False checks lines only.
        progress: show a tqdm bar.
        audio_root: refuse audio outside this folder (see :func:`~usam_toolkit.data.manifest.read_manifest`).

    Returns:
        One summary per manifest.
    """
    from tqdm import tqdm

    report = report if report is not None else BadSampleReport()
    limits = limits or AudioLimits()
    summaries = []
    for path in paths:
        # Lines are read leniently first and their problems interleaved with the audio checks below,
        # so both modes meet problems in line order: strict stops at the first bad line, not at the
        # first bad JSON after which an earlier line's missing audio would come.
        line_problems = BadSampleReport()
        examples = read_manifest(
            path, strict=False, known_tasks=known_tasks, report=line_problems, audio_root=audio_root
        )
        pending = sorted(line_problems.samples, key=lambda b: b.line)
        summary = ManifestSummary(str(path), lines_ok=len(examples))
        bar = tqdm(examples, desc=Path(path).name, unit="file", disable=not progress or not check_audio)
        for ex in bar:
            _flush(pending, ex.line, strict, report, summary)
            if check_audio:
                try:
                    decoded = decode_audio(ex.audio, ex.offset, ex.duration, limits=limits)
                except AudioProblem as p:
                    bad = BadSample(
                        ex.id, str(ex.manifest), ex.line, ex.audio, p.reason, p.detail, "validate"
                    )
                    if strict:
                        raise DataError(bad.message()) from None
                    report.add(bad)
                    summary.bad += 1
                    continue
                summary.seconds += decoded.seconds
            else:
                summary.seconds += ex.duration or 0.0
            summary.audio_ok += 1
            summary.tasks[ex.task] += 1
        _flush(pending, float("inf"), strict, report, summary)
        summaries.append(summary)
    return summaries


def _flush(
    pending: list[BadSample],
    before_line: float,
    strict: bool,
    report: BadSampleReport,
    summary: ManifestSummary,
) -> None:
    """Raise (strict) or record the manifest problems of lines before ``before_line``."""
    while pending and pending[0].line < before_line:
        bad = pending.pop(0)
        if strict:
            raise DataError(bad.message())
        report.add(bad)
        summary.bad += 1


def format_summary(summaries: Sequence[ManifestSummary], report: BadSampleReport) -> str:
    """A plain-text table: one row per manifest, then the bad-sample reasons."""
    header = ("manifest", "ok", "bad", "hours", "tasks")
    rows = [
        (
            Path(s.path).name,
            str(s.audio_ok),
            str(s.bad),
            f"{s.seconds / 3600:.3f}",
            ", ".join(f"{t}:{n}" for t, n in sorted(s.tasks.items())) or "-",
        )
        for s in summaries
    ]
    total = (
        "TOTAL",
        str(sum(s.audio_ok for s in summaries)),
        str(sum(s.bad for s in summaries)),
        f"{sum(s.seconds for s in summaries) / 3600:.3f}",
        "",
    )
    table = [header, *rows, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.counts:
        lines.append("")
        lines.append(
            "bad samples by reason: " + ", ".join(f"{r}={n}" for r, n in sorted(report.counts.items()))
        )
    return "\n".join(lines)
