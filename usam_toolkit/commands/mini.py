"""``usam mini build``: build the offline four-task mini world (see :mod:`usam_toolkit.mini`).

``usam mini pretrain`` pretrains its music encoder and small LM; ``usam mini demo`` is the main job.

``usam mini smoke`` writes the synthetic smoke world of :mod:`usam_toolkit.mini.smoke` (no Debian
package needed) that ``recipes/mini/smoke.yaml`` trains on. Each sub-verb is one ``verbs.add_parser``
block here with its ``run_<verb>`` function.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mini", help="the offline mini world: build its corpus (or the smoke world), pretrain, run the demo"
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
        choices=("tiny", "small", "speech"),
        help="tiny: a few clips per task and split (tests); small: the demo world (default); speech: the "
        "small world plus 4,000 synthetic clips of distinct sentences (make speech)",
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

    pretrain = verbs.add_parser(
        "pretrain",
        help="pretrain the mini world's music encoder and small LM (cached, fingerprinted)",
        description=(
            "Train a conv_transformer music tagger (instrument, tempo, tonic, mode, drums) on the world's "
            "train music clips and a small Llama LM on its train text; write music_encoder.safetensors and "
            "lm/ (+ their .json with fingerprint and dev scores) into --out. Reused when the inputs are "
            "unchanged."
        ),
    )
    pretrain.add_argument(
        "--world", default="data/mini-small", help="the mini world (default: ./data/mini-small)"
    )
    pretrain.add_argument("--out", default=None, help="output folder (default: <world>/pretrained)")
    pretrain.add_argument(
        "--music-steps", type=int, default=None, help="tagger steps (default: MusicSettings)"
    )
    pretrain.add_argument("--lm-steps", type=int, default=None, help="LM steps (default: LMSettings)")
    pretrain.set_defaults(run=run_pretrain)

    demo = verbs.add_parser(
        "demo",
        help="the main job: build, pretrain, train recipes/mini/usam.yaml, score it against three baselines",
        description=(
            "Build the small world if missing, pretrain if missing, score the untrained model, train the "
            "recipe, score it and the text-only baselines (most frequent and consensus training target) on "
            "the test split; write <out>/metrics.json and <out>/report.md."
        ),
    )
    demo.add_argument("--out", default="runs/demo", help="run folder (default: ./runs/demo)")
    demo.add_argument(
        "--world", default="data/mini-small", help="the mini world (default: ./data/mini-small)"
    )
    demo.add_argument(
        "--scale", default="small", choices=("tiny", "small", "speech"), help="scale when building"
    )
    demo.add_argument("--recipe", default=None, help="recipe to train (default: recipes/mini/usam.yaml)")
    demo.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    demo.add_argument(
        "--retrain", action="store_true", help="train again even if <out>/model has a checkpoint"
    )
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.add_argument("overrides", nargs="*", help="recipe overrides key=value")
    demo.set_defaults(run=run_demo)


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


def run_pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..mini.pretrain import LMSettings, MusicSettings, default_pretrained_dir, pretrain

    world = Path(args.world)
    music, lm = MusicSettings(), LMSettings()
    if args.music_steps is not None:
        music.steps = args.music_steps
    if args.lm_steps is not None:
        lm.steps = args.lm_steps
    out = Path(args.out) if args.out else default_pretrained_dir(world)
    metas = pretrain(world, out, music, lm)
    enc, llm = metas["music_encoder"], metas["lm"]
    print(f"music encoder: dev accuracy {enc['dev_accuracy']} -> {out / 'music_encoder.safetensors'}")
    by_task = llm.get("dev_perplexity_by_task")  # absent from artefacts cached by older versions
    per_task = f"; per task {by_task}" if by_task else ""
    print(
        f"LM: dev perplexity {llm['dev_perplexity']}{per_task} ({llm['parameters']} parameters) "
        f"-> {out / 'lm'}"
    )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..mini.demo import DEMO_RECIPE
    from ..mini.demo import run_demo as demo

    demo(
        out=Path(args.out),
        world=Path(args.world),
        recipe=Path(args.recipe) if args.recipe else DEMO_RECIPE,
        overrides=args.overrides,
        scale=args.scale,
        device=args.device,
        retrain=args.retrain,
        progress=not args.no_progress,
    )
    return 0
