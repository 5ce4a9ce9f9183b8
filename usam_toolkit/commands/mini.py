"""``usam mini build``: build the offline four-task mini world (see :mod:`usam_toolkit.mini`).

``usam mini smoke`` writes the synthetic smoke world of :mod:`usam_toolkit.mini.smoke` (no Debian
package needed) that ``recipes/mini/smoke.yaml`` trains on. Each sub-verb is one ``verbs.add_parser``
block here with its ``run_<verb>`` function.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mini", help="the offline mini world: build its corpus (or the smoke world)"
    )
    verbs = parser.add_subparsers(dest="mini_command", metavar="SUBCOMMAND")
    verbs.required = True

    build = verbs.add_parser(
        "build",
        help="build the mini-world corpus (asr, s2tt, aac, mc) from Debian packages and a seed",
        description=(
            "Build train/dev/test manifests (all tasks mixed, and one file per task: <split>_<task>.jsonl), "
            "the audio they point to and world.json. Same seed -> identical manifests; files that exist are "
            "reused. Needs the Debian packages listed in world.json's 'sources'."
        ),
    )
    build.add_argument(
        "--scale",
        default="small",
        choices=("tiny", "small"),
        help="tiny: a few clips per task and split (tests); small: the demo world (default)",
    )
    build.add_argument("--out", default=None, help="output folder (default: ./data/mini-<scale>)")
    build.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    build.add_argument(
        "--workers",
        type=int,
        default=None,
        help="rendering threads (default: twice the CPU count, at least 4)",
    )
    build.add_argument(
        "--install-missing",
        action="store_true",
        default=None,
        help="apt-get install missing Debian packages (as root; or set USAM_MINI_INSTALL=1)",
    )
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.set_defaults(run=run_build)

    smoke = verbs.add_parser("smoke", help="write the synthetic smoke world (seconds; no Debian packages)")
    smoke.add_argument("--out", default="data/smoke", help="output folder (default: ./data/smoke)")
    smoke.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    smoke.set_defaults(run=run_smoke)


def run_smoke(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..mini.smoke import write_smoke_world

    out = write_smoke_world(Path(args.out), seed=args.seed)
    print(f"smoke world written to {out}")
    return 0


def run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..mini.build import default_out_dir, timed_build

    out = Path(args.out) if args.out else default_out_dir(args.scale)
    summary, seconds = timed_build(
        out=out,
        scale=args.scale,
        seed=args.seed,
        install_missing=args.install_missing,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(f"mini world ({args.scale}, seed {args.seed}) in {out} - built in {seconds:.1f} s")
    print(f"{'task':6} {'train':>7} {'dev':>7} {'test':>7} {'hours':>8}")
    for task, counts in summary["counts"].items():
        hours = sum(summary["hours"][task].values())
        print(f"{task:6} {counts['train']:7d} {counts['dev']:7d} {counts['test']:7d} {hours:8.3f}")
    print(f"total  {summary['total_clips']} clips, {summary['total_hours']:.3f} h")
    return 0
