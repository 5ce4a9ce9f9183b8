"""``usam validate-data MANIFEST... [--lenient] [--report FILE]``: check manifests and audio up front."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate-data",
        help="check manifests and decode their audio before a long run",
        description="Validate JSONL manifests line by line and decode every audio span. Strict (default): "
        "stop at the first problem with its manifest:line, id and audio path. Lenient: check everything, "
        "write each bad sample to the report and print a summary table.",
    )
    p.add_argument("manifests", nargs="+", metavar="MANIFEST", help="JSONL manifest files")
    p.add_argument("--lenient", action="store_true", help="skip and record bad samples instead of stopping")
    p.add_argument("--report", metavar="FILE", help="JSONL file for bad samples (lenient mode)")
    p.add_argument(
        "--tasks", metavar="NAMES", help="comma-separated accepted task names (default: registered tasks)"
    )
    p.add_argument("--no-audio", action="store_true", help="check manifest lines only, do not decode audio")
    p.add_argument("--min-seconds", type=float, default=0.05, help="shorter spans are bad (default 0.05)")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="longer spans are bad (default 3600)")
    p.add_argument(
        "--audio-root",
        metavar="DIR",
        help="refuse audio that does not resolve ('..' and symlinks followed) to a file under DIR",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..audio.decode import AudioLimits
    from ..data.report import BadSampleReport
    from ..data.validate import format_summary, validate_manifests

    if args.tasks:
        known = {t.strip() for t in args.tasks.split(",") if t.strip()}
    else:
        from ..plugins import get_registry

        known = {e.name for e in get_registry().entries("tasks")} or None
    report = BadSampleReport(args.report, truncate=True)
    summaries = validate_manifests(
        args.manifests,
        strict=not args.lenient,
        known_tasks=known,
        report=report,
        limits=AudioLimits(min_seconds=args.min_seconds, max_seconds=args.max_seconds),
        check_audio=not args.no_audio,
        progress=not args.quiet,
        audio_root=args.audio_root,
    )
    print(format_summary(summaries, report))
    if len(report):
        where = f"; written to {args.report}" if args.report else " (use --report FILE to keep the list)"
        print(f"{len(report)} bad sample(s) skipped{where}")
    return 0
