"""``usam bench``: throughput, MFU, baseline, feature cache, scaling and inference benchmarks.

Writes ``bench.json``, ``report.md`` and PNG plots into ``--out`` (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark training/inference speed, MFU and the reference baseline",
        description=(
            "Measure training throughput by stage, MFU against a matmul peak timed in the same run, the "
            "reference implementation's choices (Whisper padded to 30 s, per-sample encoders, no cache) on "
            "the same model, the feature cache, scaling with clip length and batch size, and inference."
        ),
    )
    parser.add_argument("--config", default="small", choices=("tiny", "small", "paper"),
                        help="tiny: smoke-world model (seconds); small: Whisper-base + SmolLM2-135M "
                             "(default, minutes on CPU); paper: paper-scale random weights "
                             "(CUDA, ~80 GB)")  # fmt: skip
    parser.add_argument("--device", default=None, choices=("cpu", "cuda"),
                        help="default: cuda for --config paper, else cpu")  # fmt: skip
    parser.add_argument("--out", default="runs/bench", help="output folder (default: runs/bench)")
    parser.add_argument("--quick", action="store_true", help="fewer steps, repeats and sweep points")
    parser.add_argument("--params", action="store_true",
                        help="with --config paper: only build the model on the meta device (no GPU, no "
                             "memory, ~20 s) and print total and trainable parameters per "
                             "component")  # fmt: skip
    parser.add_argument("--recipe", default=None,
                        help="with --params: the recipe whose trainable parts are counted (default: "
                             "recipes/usam/paper.yaml; an ablation of it works too)")  # fmt: skip
    parser.set_defaults(run=run)


PAPER_TRAINABLE = 41e6  # the paper: "about 41 M trainable parameters"


def print_params(recipe: str | None) -> int:
    """The paper-shaped model of ``recipe`` on the meta device: its parameters against the paper's 41 M."""
    import tempfile

    import torch

    from ..bench.paper import build_paper_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_paper_model("meta", torch.bfloat16, work_dir=tmp, recipe=recipe)
    print(model.format_parameter_summary())
    trainable = model.parameter_summary()[-1]["trainable"]
    print(
        f"trainable: {trainable / 1e6:.2f} M; the paper reports about {PAPER_TRAINABLE / 1e6:.0f} M "
        f"({100 * (trainable / PAPER_TRAINABLE - 1):+.1f} %)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from ..bench.runner import run_bench
    from ..errors import ConfigError

    if args.params or args.recipe:
        if args.config != "paper" or not args.params:
            raise ConfigError(
                "bench: --params (and --recipe) go with --config paper, e.g. "
                "usam bench --config paper --params"
            )
        return print_params(args.recipe)
    device = args.device or ("cuda" if args.config == "paper" else "cpu")
    results = run_bench(args.config, device, args.out, quick=args.quick)
    ratio = results.get("baseline_ratio", {}).get("reference_over_ours_cached")
    mfu = results.get("training", {}).get("ours_no_cache", {}).get("mfu")
    msg = f"bench written to {args.out}/report.md"
    if ratio is not None and mfu is not None:
        msg += f" (reference/ours step time {ratio:.2f}x, MFU without cache {100 * mfu:.1f}%)"
    print(msg)
    peaks = results.get("matmul_peak", {}).get("by_dtype", {})
    if peaks:
        listed = ", ".join(f"{d} {p['flops_per_s'] / 1e9:,.1f} GFLOP/s" for d, p in peaks.items())
        print(f"matmul peaks: {listed}; the machine's peak: {results['matmul_peak']['dtype']}")
    speed = results.get("bf16_speedup", {}).get("ours_cached")
    if speed:
        print(
            f"training step (cache warm), fp32 / bf16: {speed['speedup']:.2f}x (above 1: bf16 is faster; "
            f"{speed['fp32_step_seconds']:.3f} s fp32, {speed['bf16_step_seconds']:.3f} s bf16)"
        )
    return 0
