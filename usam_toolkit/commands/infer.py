"""``usam infer --checkpoint DIR [--task T | --prompt P] FILES_OR_FOLDERS...``: answer about audio files.

Folders are walked for audio files by extension; any length is decoded in windows and stitched
(:mod:`usam_toolkit.infer`). Bad files are reported on stderr (``error: <file>: <reason>: <detail>``)
and the others are still processed; the exit status is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("infer", help="transcribe, translate or caption audio files with a checkpoint")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help="audio files, or folders to walk")
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint folder, or a run folder (its latest checkpoint)"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--task", help="asr, s2tt, aac, mc ... (default: the model's first task)")
    what.add_argument("--prompt", help="free-form instruction instead of a task's template")
    p.add_argument(
        "--prompt-task", help="with --prompt: the task id the projectors see (default: the first task)"
    )
    p.add_argument("--target-lang", help="translation target language code, e.g. fr (default: the recipe's)")
    p.add_argument(
        "--format",
        default="text",
        choices=("text", "jsonl", "srt"),
        help="text: '<file>\\t<answer>' per file; jsonl: an object per file; srt: time-stamped segments",
    )
    p.add_argument(
        "--per-window", action="store_true", help="jsonl: one object per window instead of per file"
    )
    p.add_argument(
        "--batch-size", type=int, help="windows per forward pass (default: the recipe's evaluate.batch_size)"
    )
    p.add_argument(
        "--window-seconds",
        type=float,
        default=30.0,
        help="long audio is decoded in windows of this length (default 30; 0 = whole files)",
    )
    p.add_argument(
        "--overlap-seconds",
        type=float,
        default=0.0,
        help="overlap of consecutive windows (default 0); repeated words at junctions are dropped",
    )
    p.add_argument(
        "--max-new-tokens", type=int, help="limit per window (default: the recipe's evaluate settings)"
    )
    p.add_argument("--output", "-o", help="write the results here instead of stdout")
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto (default): bf16 where the device computes it natively (a GPU with bf16, a CPU "
                        "with avx512_bf16/amx_bf16), else fp32; fp16 needs CUDA")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe override, repeatable, e.g. --set evaluate.strategy=beam",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import load
    from ..errors import ConfigError
    from ..infer.audio_input import InputProblem, find_audio_files, load_path
    from ..infer.engine import Request
    from ..infer.formats import format_results

    if args.window_seconds < 0 or args.overlap_seconds < 0:
        raise ConfigError("--window-seconds and --overlap-seconds must be >= 0")
    if args.window_seconds and args.overlap_seconds >= args.window_seconds:
        raise ConfigError(
            f"--overlap-seconds ({args.overlap_seconds}) must be below "
            f"--window-seconds ({args.window_seconds})"
        )
    files = find_audio_files(args.inputs)
    if not files:
        raise ConfigError(f"no audio files found in {', '.join(args.inputs)}")
    m = load(
        args.checkpoint,
        device=args.device,
        overrides=args.overrides,
        window_seconds=args.window_seconds or None,
        overlap_seconds=args.overlap_seconds,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    print(f"[infer] {m.engine.precision.describe()}", file=sys.stderr)
    task = args.task or args.prompt_task or m.tasks[0]
    m.engine.check_task(task)
    if args.format == "srt" and not m.engine.timestamped(task):
        raise ConfigError(
            f"--format srt needs a task with time stamps (asr, s2tt); '{task}' has none: use text or jsonl"
        )

    clips: list[Any] = []
    for f in files:
        try:
            clips.append(load_path(f))
        except InputProblem as p:
            clips.append(p)
    generation = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else None
    results = m.engine.run(
        clips, Request(task, args.prompt, args.target_lang), generation, progress=not args.no_progress
    )

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.output, "w", encoding="utf-8")) if args.output else sys.stdout
        for line in format_results(results, args.format, per_window=args.per_window):
            print(line, file=out)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"error: {r.name}: {r.error.reason}: {r.error.detail}", file=sys.stderr)  # type: ignore[union-attr]
    if failed:
        print(f"{len(failed)} of {len(results)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0
