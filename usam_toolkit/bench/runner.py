"""``usam bench``: build the profile's model and clips, run every section, write ``bench.json``,
``report.md`` and the PNG plots.

Training and inference are measured in fp32 and, in the same run, under bf16 autocast (the trainer's
``precision: bf16``: frozen encoders and losses stay fp32), and MFU is given against the float32 and
bfloat16 matmul peaks and the best of them (:mod:`usam_toolkit.bench.results`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from .profiles import BenchProfile, get_profile
from .results import (
    attach_utilisation,
    baseline_ratios,
    machine_info,
    peak_bursts,
    precision_ratios,
    write_results,
)
from .sections import (
    feature_cache_epochs,
    inference,
    make_batch,
    profile_step,
    scaling,
    step_flops,
    train_throughput,
)
from .steps import encode_ours, encode_ours_nocache, encode_reference
from .timing import memory_snapshot
from .world import write_clips


def _write_recipe(prof: BenchProfile, out: Path, world: Path, train_manifest: Path) -> Path:
    import yaml

    recipe = {
        "experiment": f"bench-{prof.name}",
        "description": f"usam bench --config {prof.name}: {prof.description}",
        "seed": 0,
        **prof.recipe(world),
        "fusion": {"frame_rate": None, "mode": "average"},
        "tasks": [{"name": "asr"}],
        "data": {
            "train": [str(train_manifest)],
            "max_seconds": 30.0,
            "batch_seconds": 10000.0,
            "max_batch_size": 64,
            "feature_cache": str(out / "feature_cache"),
        },
        "train": {"lr": prof.lr, "warmup_ratio": 0.0, "max_steps": 100000, "grad_clip": 0.0},
        "evaluate": {"batch_size": max(prof.infer_batches)},
    }
    path = out / "bench_recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def _prepare_world(prof: BenchProfile, out: Path) -> tuple[Path, Path, Path]:
    world = out / "world"
    world.mkdir(parents=True, exist_ok=True)
    if prof.name == "tiny" and not (world / "tiny-lm" / "config.json").is_file():
        from usam_plugins.llms.tiny import write_tiny_causal_lm

        # the smoke world's tiny random LM (hidden 32); the clips are the bench's own
        write_tiny_causal_lm(world / "tiny-lm", hidden=32)
    n_train = prof.train_batch * 2
    train_secs = [prof.train_clip_seconds[i % len(prof.train_clip_seconds)] for i in range(n_train)]
    train = write_clips(world, "train", train_secs, seed=0)
    cache = write_clips(world, "cache", prof.cache_clip_seconds, seed=1)
    return world, train, cache


def run_bench(
    config: str = "small",
    device: str = "cpu",
    out: str | Path = "runs/bench",
    quick: bool = False,
    log: Callable[[str], None] = print,
    profile: BenchProfile | None = None,
) -> dict[str, Any]:
    """Run the benchmark and write ``bench.json``, ``report.md`` and plots into ``out``.

    Args:
        config: ``tiny`` (smoke-world model), ``small`` (real Whisper-base + SmolLM2-135M) or ``paper``
            (paper-scale random model; CUDA only).
        device: ``cpu`` or ``cuda``.
        out: output folder (created).
        quick: fewer repeats, steps and sweep points.
        log: progress lines.
        profile: use this profile instead of ``config``'s (tests shrink the tiny one further).

    Returns:
        The results written to ``bench.json``.
    """
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    if config == "paper":
        from .paper import run_paper_bench

        return run_paper_bench(device=device, out=out, quick=quick, log=log)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("bench --device cuda: no CUDA device is available here")
    prof = profile or get_profile(config, quick)
    t_start = time.perf_counter()
    outer_log = log

    def log(msg: str) -> None:
        outer_log(f"{msg} (t={time.perf_counter() - t_start:.1f} s)")

    torch.manual_seed(0)
    results: dict[str, Any] = {
        "config": config,
        "quick": quick,
        "profile": prof.description,
        "machine": machine_info(device),
    }

    from ..config.loader import load_recipe
    from ..data.cache import CachedEncoder
    from ..pipeline import build_data, build_model
    from ..precision import resolve_precision
    from ..train.config import TrainConfig
    from ..train.optim import build_optimizer, build_scheduler

    world, train_manifest, cache_manifest = _prepare_world(prof, out)
    shutil.rmtree(out / "feature_cache", ignore_errors=True)
    recipe = _write_recipe(prof, out, world, train_manifest)
    cfg = load_recipe(recipe)
    log(f"[bench] building the {config} model")
    t0 = time.perf_counter()
    model = build_model(cfg, device)
    results["build_seconds"] = time.perf_counter() - t0
    results["parameters"] = model.parameter_summary()
    results["cache_wired"] = all(
        getattr(e, "accepts_hashes", False) for e in model.encoders if isinstance(e, CachedEncoder)
    )
    loader, _ = build_data(cfg, model, "train", train=True)
    dataset, collate = loader.dataset, loader.collate_fn
    cache_loader, _ = build_data(cfg, model, "train", train=False, manifests=[str(cache_manifest)])
    train_cfg = TrainConfig(lr=prof.lr, warmup_ratio=0.0, max_steps=100000)

    def make_opt() -> tuple[Any, Any]:
        opt = build_optimizer(model, train_cfg)
        return opt, build_scheduler(opt, train_cfg)

    padded = tuple(prof.padded_encoders)

    def reference(m: Any, b: Any) -> Any:
        return encode_reference(m, b, padded, prof.pad_seconds)

    log("[bench] FLOPs of one step (FlopCounterMode)")
    one = make_batch(dataset, collate, list(range(prof.train_batch)), device)
    model.train()
    flops = {
        "ours": step_flops(model, one, encode_ours_nocache, make_opt),
        "reference": step_flops(model, one, reference, make_opt),
        "batch_size": len(one),
        "audio_seconds": one.audio_seconds,
        "method": "torch.utils.flop_counter.FlopCounterMode on one forward + backward of the real model "
        "(matmul/conv/attention FLOPs; elementwise ops, norms and the mel FFT count 0)",
    }
    results["flops"] = flops

    log("[bench] training throughput: ours (cache warm), ours (no cache), reference baseline, interleaved")
    with torch.no_grad():  # fill the cache with every training clip: the steady state from epoch 2 on
        for s in range(0, len(dataset), prof.train_batch):
            encode_ours(
                model,
                make_batch(dataset, collate, list(range(s, min(len(dataset), s + prof.train_batch))), device),
            )
    bursts = peak_bursts(device, prof.peak_seconds / 2, prof.peak_size)
    # bf16 rows: the trainer's precision: bf16 (autocast; frozen encoders and losses in fp32), asked for
    # explicitly so that a CPU without native bf16 shows what it would cost.
    bf16 = resolve_precision("bf16", device, what="bench")
    bf16_autocast = bf16.autocast(model)
    variants = {
        "ours_cached": ("ours: variable length, batched, cache warm", encode_ours),
        "ours_no_cache": ("ours: variable length, batched, no cache", encode_ours_nocache),
        "reference": (
            (
                f"reference: batch of 1 through the encoders, encoders {list(padded)} padded to "
                f"{prof.pad_seconds:g} s, no cache"
            ),
            reference,
        ),
        "ours_cached_bf16": ("ours: cache warm, bf16 autocast", encode_ours, bf16_autocast),
        "ours_no_cache_bf16": ("ours: no cache, bf16 autocast", encode_ours_nocache, bf16_autocast),
    }
    runs = train_throughput(
        model,
        dataset,
        collate,
        make_opt,
        variants,
        batch_size=prof.train_batch,
        steps=prof.train_steps,
        device=device,
        between=lambda: bursts.extend(
            peak_bursts(device, prof.peak_seconds / max(1, prof.train_steps), prof.peak_size)
        ),
    )
    for key, run in runs.items():
        run["precision"] = "bf16" if key.endswith("_bf16") else "fp32"
    results["matmul_peak"] = attach_utilisation(runs, flops, bursts)
    results["training"] = runs
    results["baseline_ratio"] = baseline_ratios(runs)
    results["bf16_speedup"] = precision_ratios(runs)
    if not results["bf16_speedup"]["ours_cached"]["target_met"]:
        log("[bench] bf16 short of the target: torch.profiler on one bf16 step (cache warm)")
        results["bf16_profile"] = profile_step(model, one, make_opt, encode_ours, bf16_autocast, device)

    log("[bench] feature cache epochs")
    results["feature_cache"] = feature_cache_epochs(
        model, cache_loader.dataset, cache_loader.collate_fn, batch_size=prof.train_batch, device=device
    )
    log("[bench] scaling with clip length and batch size")
    results["scaling"] = scaling(
        model,
        dataset,
        collate,
        lengths=prof.scale_lengths,
        batches=prof.scale_batches,
        batch_seconds=prof.scale_batch_seconds,
        repeats=prof.scale_repeats,
        device=device,
        padded=padded,
        pad_seconds=prof.pad_seconds,
    )
    log("[bench] inference")
    results["inference"] = inference(
        model,
        dataset,
        collate,
        batches=prof.infer_batches,
        seconds=prof.infer_clip_seconds,
        max_new_tokens=prof.max_new_tokens,
        num_beams=prof.num_beams,
        device=device,
        precisions=(("fp32", None), ("bf16", bf16_autocast)),
    )
    results["memory"] = memory_snapshot(device)
    results["total_seconds"] = time.perf_counter() - t_start
    return write_results(results, out)
