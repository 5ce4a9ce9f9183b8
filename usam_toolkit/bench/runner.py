"""``usam bench``: build the profile's model and clips, run every section, write ``bench.json``,
``report.md`` and the PNG plots."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from .profiles import BenchProfile, get_profile
from .sections import feature_cache_epochs, inference, make_batch, scaling, step_flops, train_throughput
from .steps import encode_ours, encode_ours_nocache, encode_reference
from .timing import matmul_peak, memory_snapshot
from .world import write_clips


def machine_info(device: str) -> dict[str, Any]:
    """CPU model, core count, torch version and threads (and the GPU when on CUDA)."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


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


def run_bench(config: str = "small", device: str = "cpu", out: str | Path = "runs/bench", quick: bool = False,
              log: Callable[[str], None] = print, profile: BenchProfile | None = None) -> dict[str, Any]:
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
    results: dict[str, Any] = {"config": config, "quick": quick, "profile": prof.description,
                               "machine": machine_info(device)}

    from ..config.loader import load_recipe
    from ..data.cache import CachedEncoder
    from ..pipeline import build_data, build_model
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
            encode_ours(model, make_batch(dataset, collate, list(range(s, min(len(dataset), s + prof.train_batch))), device))
    bursts = [matmul_peak(device, prof.peak_seconds / 2, prof.peak_size)]
    variants = {
        "ours_cached": ("ours: variable length, batched, cache warm", encode_ours),
        "ours_no_cache": ("ours: variable length, batched, no cache", encode_ours_nocache),
        "reference": ((f"reference: batch of 1 through the encoders, encoders {list(padded)} padded to "
                      f"{prof.pad_seconds:g} s, no cache"), reference),
    }
    runs = train_throughput(
        model, dataset, collate, make_opt, variants, batch_size=prof.train_batch, steps=prof.train_steps,
        device=device,
        between=lambda: bursts.append(matmul_peak(device, prof.peak_seconds / max(1, prof.train_steps), prof.peak_size)),
    )
    results["matmul_peak"] = attach_utilisation(runs, flops, bursts)
    results["training"] = runs
    results["baseline_ratio"] = baseline_ratios(runs)

    log("[bench] feature cache epochs")
    results["feature_cache"] = feature_cache_epochs(model, cache_loader.dataset, cache_loader.collate_fn,
                                                    batch_size=prof.train_batch, device=device)
    log("[bench] scaling with clip length and batch size")
    results["scaling"] = scaling(model, dataset, collate, lengths=prof.scale_lengths, batches=prof.scale_batches,
                                 batch_seconds=prof.scale_batch_seconds, repeats=prof.scale_repeats,
                                 device=device, padded=padded, pad_seconds=prof.pad_seconds)
    log("[bench] inference")
    results["inference"] = inference(model, dataset, collate, batches=prof.infer_batches,
                                     seconds=prof.infer_clip_seconds, max_new_tokens=prof.max_new_tokens,
                                     num_beams=prof.num_beams, device=device)
    results["memory"] = memory_snapshot(device)
    results["total_seconds"] = time.perf_counter() - t_start
    return write_results(results, out)


def attach_utilisation(runs: dict[str, dict[str, Any]], flops: dict[str, dict[str, float]],
                       bursts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add FLOPs executed, FLOP/s and MFU to each training variant (in place); return the matmul peak.

    The peak is the median of the matmul bursts timed between the training rounds. The cached variant
    executes our FLOPs minus the encoders', the reference its own (padding included); "model FLOPs
    utilisation" charges every variant with our step's useful FLOPs only.
    """
    rates = sorted(b["flops_per_s"] for b in bursts)
    peak = rates[len(rates) // 2]
    rest = flops["ours"]["total"] - flops["ours"].get("encoders", 0.0)
    executed = {"ours_cached": rest, "ours_no_cache": flops["ours"]["total"], "reference": flops["reference"]["total"]}
    for key, run in runs.items():
        run["flops_per_step"] = executed[key]
        run["achieved_flops_per_s"] = executed[key] / run["step_seconds"]
        run["mfu"] = run["achieved_flops_per_s"] / peak
        run["model_flops_utilisation"] = flops["ours"]["total"] / run["step_seconds"] / peak
    return {"bursts": bursts, "flops_per_s": peak, "size": bursts[0]["size"], "dtype": bursts[0]["dtype"],
            "min": rates[0], "max": rates[-1]}


def baseline_ratios(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Reference / ours step-time ratios, measured and pooled.

    ``pooled_*``: every section but ``encoders`` does the same work in all variants (same model, same
    batches), so their mean over the variants replaces each variant's own, and only the encoder time
    differs; on a loaded machine this removes most of the noise of one-step measurements.
    """
    ref, cached, plain = runs["reference"], runs["ours_cached"], runs["ours_no_cache"]
    shared = [k for k in ref["sections"] if k != "encoders"]
    rest = sum(sum(r["sections"][k] for k in shared) for r in runs.values()) / len(runs)

    def pooled(r: dict[str, Any]) -> float:
        return rest + r["sections"]["encoders"]

    return {
        "reference_over_ours_cached": ref["step_seconds"] / cached["step_seconds"],
        "reference_over_ours_no_cache": ref["step_seconds"] / plain["step_seconds"],
        "encoders_reference_over_ours_no_cache": ref["sections"]["encoders"] / max(1e-12, plain["sections"]["encoders"]),
        "pooled_step_seconds_shared_sections": rest,
        "pooled_reference_over_ours_cached": pooled(ref) / pooled(cached),
        "pooled_reference_over_ours_no_cache": pooled(ref) / pooled(plain),
    }


def write_results(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """``bench.json``, the plots and ``report.md`` (which links the plots)."""
    from .report import render_report, write_plots

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    results = clean(results)
    results["plots"] = write_plots(results, out)
    (out / "bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "report.md").write_text(render_report(results), encoding="utf-8")
    return results
