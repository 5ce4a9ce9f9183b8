"""The measurements of ``usam bench``: training throughput and its baseline, feature cache, scaling,
inference. Each function takes a built model and returns plain JSON-able dicts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from ..interfaces import GenerationConfig
from .steps import (
    FlopSections,
    encode_ours,
    encode_ours_nocache,
    raw_encoder,
    train_step,
    uncached,
)
from .timing import SectionTimer, memory_snapshot, reset_cuda_peak, sync, timed

SECTIONS = ("data", "encoders", "fusion+projectors", "llm+losses", "optimizer")


def make_batch(dataset: Any, collate: Any, indices: Sequence[int], device: str) -> Any:
    """Load, collate and move ``indices`` of ``dataset`` (what a DataLoader worker + the trainer do)."""
    return collate([dataset[i] for i in indices]).to(device)


def synthetic_batch(
    model: Any, dataset: Any, collate: Any, seconds: float, batch_size: int, device: str, seed: int = 0
) -> Any:
    """A batch of ``batch_size`` fresh clips of exactly ``seconds`` (texts from the dataset's first item)."""
    from ..audio.resample import resample_many
    from .world import SAMPLE_RATE, random_clip

    template = dataset[0]
    items = []
    for b in range(batch_size):
        wave, _ = random_clip(seconds, seed=seed * 1000 + b)
        item = dict(template)
        item["audio"] = resample_many(torch.from_numpy(wave), SAMPLE_RATE, model.sample_rates)
        item["hash"] = f"synthetic-{seconds}-{seed}-{b}"
        item["duration"] = len(wave) / SAMPLE_RATE
        items.append(item)
    return collate(items).to(device)


def _batches(n_items: int, batch_size: int) -> list[list[int]]:
    order = list(range(n_items))
    return [
        [order[(s * batch_size + j) % n_items] for j in range(batch_size)]
        for s in range(max(1, n_items // batch_size))
    ]


def train_throughput(
    model: Any,
    dataset: Any,
    collate: Any,
    make_opt: Any,
    variants: dict[str, tuple[Any, ...]],
    *,
    batch_size: int,
    steps: int,
    device: str,
    autocast: Any = None,
    accumulation: int = 1,
    between: Any = None,
) -> dict[str, dict[str, Any]]:
    """Mean per-step seconds by section for each variant ``{key: (label, encode_fn[, autocast])}``.

    A variant's own ``autocast`` (a reusable context such as
    :meth:`usam_toolkit.precision.Precision.autocast`) replaces the shared ``autocast`` for it. The
    variants take turns step by step (after one untimed warm-up step each), so a change in the
    machine's load during the run hits all of them alike; ``between()`` runs after each round (the
    matmul-peak bursts).
    """
    index_sets = _batches(len(dataset), batch_size)
    casts = {k: (spec[2] if len(spec) > 2 else autocast) for k, spec in variants.items()}
    model.train()
    opts = {k: make_opt() for k in variants}
    timers = {k: SectionTimer(device) for k in variants}
    counts = {k: [0, 0.0] for k in variants}
    # warm-up: first-call allocations, lazy inits
    warm = make_batch(dataset, collate, index_sets[0], device)
    for key, (_, encode, *_rest) in variants.items():
        train_step(model, warm, *opts[key], encode, SectionTimer(device), casts[key], accumulation)
    reset_cuda_peak(device)
    memory: dict[str, Any] = {}
    for s in range(steps):
        for key, (_, encode, *_rest) in variants.items():
            timer = timers[key]
            with timer("data"):
                batch = make_batch(dataset, collate, index_sets[s % len(index_sets)], device)
            train_step(model, batch, *opts[key], encode, timer, casts[key], accumulation)
            counts[key][0] += len(batch) * max(1, accumulation)
            counts[key][1] += batch.audio_seconds * max(1, accumulation)
            memory[key] = memory_snapshot(device)
        if between is not None:
            between()
    results = {}
    for key, (label, *_rest) in variants.items():
        per_step = {k: timers[key].totals.get(k, 0.0) / steps for k in SECTIONS}
        step_s = sum(per_step.values())
        samples, audio_s = counts[key]
        results[key] = {
            "label": label,
            "batch_size": batch_size,
            "accumulation": accumulation,
            "steps": steps,
            "step_seconds": step_s,
            "sections": per_step,
            "samples_per_s": samples / steps / step_s,
            "audio_seconds_per_s": audio_s / steps / step_s,
            "audio_seconds_per_step": audio_s / steps,
            "memory": memory[key],
        }
    return results


def profile_step(
    model: Any, batch: Any, make_opt: Any, encode: Any, autocast: Any, device: str, top: int = 8
) -> list[dict[str, Any]]:
    """The ``top`` operators by self time of one training step under ``torch.profiler`` (CPU, and CUDA
    kernels on a GPU): what holds a precision back when it is slower than expected."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    optimizer, scheduler = make_opt()
    model.train()
    with profile(activities=activities) as prof:
        train_step(model, batch, optimizer, scheduler, encode, SectionTimer(device), autocast)
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = list(prof.key_averages())
    total = sum(float(getattr(e, attr, 0.0)) for e in events) or 1.0
    events.sort(key=lambda e: float(getattr(e, attr, 0.0)), reverse=True)
    return [
        {
            "op": e.key,
            "self_seconds": float(getattr(e, attr, 0.0)) / 1e6,
            "share": float(getattr(e, attr, 0.0)) / total,
            "calls": int(e.count),
        }
        for e in events[:top]
    ]


def step_flops(model: Any, batch: Any, encode: Any, make_opt: Any) -> dict[str, float]:
    """FLOPs of one forward + backward (+ optimizer, which counts 0) by section, with ``encode``."""
    optimizer, scheduler = make_opt()
    counter = FlopSections()
    train_step(model, batch, optimizer, scheduler, encode, counter)
    return {**counter.totals, "total": counter.total()}


def feature_cache_epochs(
    model: Any, dataset: Any, collate: Any, *, batch_size: int, device: str
) -> dict[str, Any]:
    """Seconds per epoch of data + encoders + fusion over ``dataset``: without the cache, with it cold
    (epoch 1: encodes and writes) and warm (epoch 2: reads)."""
    from ..data.cache import CachedEncoder

    cached = [enc for enc in model.encoders if isinstance(enc, CachedEncoder)]
    caches = list({id(enc.cache): enc.cache for enc in cached}.values())  # encoders may share one cache
    index_sets = [
        list(range(i, min(len(dataset), i + batch_size))) for i in range(0, len(dataset), batch_size)
    ]

    def epoch(encode: Any) -> float:
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            for idx in index_sets:
                batch = make_batch(dataset, collate, idx, device)
                model.fusion(encode(model, batch))
        sync(device)
        return time.perf_counter() - start

    model.eval()
    epoch(encode_ours_nocache)  # warm-up of kernels and file caches, not of the feature cache
    no_cache = epoch(encode_ours_nocache)
    hits0 = sum(c.hits for c in caches)
    cold = epoch(encode_ours)
    warm = epoch(encode_ours)
    hits = sum(c.hits for c in caches) - hits0
    return {
        "clips": len(dataset),
        "audio_seconds": float(sum(dataset.durations)),
        "batch_size": batch_size,
        "cached_encoders": len(cached),
        "encoders": len(model.encoders),
        "epoch_seconds_no_cache": no_cache,
        "epoch_seconds_cache_cold": cold,
        "epoch_seconds_cache_warm": warm,
        "speedup_warm_vs_no_cache": no_cache / warm if warm > 0 else None,
        "cache_hits": hits,
    }


def scaling(
    model: Any,
    dataset: Any,
    collate: Any,
    *,
    lengths: Sequence[float],
    batches: Sequence[int],
    batch_seconds: float,
    repeats: int,
    device: str,
    padded: Sequence[int],
    pad_seconds: float,
) -> dict[str, Any]:
    """Encoder and end-to-end forward seconds vs clip length (batch 1) and vs batch size.

    ``encoders`` is per encoder (its class name and index); ``reference_padded`` is the cost of the
    encoders in ``padded`` fed ``pad_seconds`` of padded audio (the reference's way) at each length.
    """
    model.eval()
    names = [f"{i}:{type(raw_encoder(e)).__name__}" for i, e in enumerate(model.encoders)]

    def point(seconds: float, bsz: int) -> dict[str, Any]:
        batch = synthetic_batch(model, dataset, collate, seconds, bsz, device)
        row: dict[str, Any] = {"seconds": seconds, "batch_size": bsz, "encoders": {}}
        with torch.no_grad(), uncached(model):
            for name, enc in zip(names, model.encoders):
                sr = int(enc.sample_rate)
                audio, lens = batch.audio[sr], batch.audio_lengths[sr]
                row["encoders"][name] = timed(lambda e=enc, a=audio, n=lens: e(a, n), device, repeats, 1)
            row["encoders_total"] = sum(row["encoders"].values())
            row["end_to_end_forward"] = timed(lambda: model(batch), device, repeats, 1)
            row["reference_padded"] = {
                names[i]: timed(
                    lambda i=i: encode_reference_one(model, batch, i, pad_seconds), device, repeats, 0
                )
                for i in padded
                if i < len(names)
            }
        return row

    by_length = [point(s, 1) for s in lengths]
    by_batch = [point(batch_seconds, b) for b in batches]
    ratios = {}
    for i in padded:
        if i >= len(names):
            continue
        at = {r["seconds"]: r["encoders"][names[i]] for r in by_length}
        if 3.0 in at and 30.0 in at:
            ratios[names[i]] = {"3s": at[3.0], "30s": at[30.0], "ratio_30s_over_3s": at[30.0] / at[3.0]}
    return {
        "encoder_names": names,
        "by_length": by_length,
        "by_batch": by_batch,
        "padded_encoder_3s_vs_30s": ratios,
    }


def encode_reference_one(model: Any, batch: Any, index: int, pad_seconds: float) -> Any:
    """Encoder ``index`` the reference's way (batch of 1, padded to ``pad_seconds``)."""
    import torch.nn.functional as F

    raw = raw_encoder(model.encoders[index])
    sr = int(raw.sample_rate)
    outs = []
    for b in range(batch.audio[sr].shape[0]):
        n = int(batch.audio_lengths[sr][b])
        x = F.pad(batch.audio[sr][b : b + 1, :n], (0, max(n, round(pad_seconds * sr)) - n))
        outs.append(raw(x, torch.tensor([x.shape[1]], device=x.device)))
    return outs


def inference(
    model: Any,
    dataset: Any,
    collate: Any,
    *,
    batches: Sequence[int],
    seconds: float,
    max_new_tokens: int,
    num_beams: int,
    device: str,
    precisions: Sequence[tuple[str, Any]] = (("fp32", None),),
) -> list[dict[str, Any]]:
    """Real-time factor and tokens/s of :meth:`AudioLLM.generate` (greedy and beam) per batch size, in
    each of ``precisions`` (``(name, autocast context or None)``, e.g. the engine's bf16 autocast)."""
    model.eval()
    rows = []
    strategies = [("greedy", 1), ("beam", num_beams)]
    for bsz in batches:
        batch = synthetic_batch(model, dataset, collate, seconds, bsz, device, seed=7)
        for (strategy, beams), (precision, cast) in ((s, p) for s in strategies for p in precisions):
            cfg = GenerationConfig(strategy=strategy, max_new_tokens=max_new_tokens, num_beams=max(1, beams))
            reset_cuda_peak(device)
            with uncached(model), cast or nullcontext():
                model.generate(batch, cfg)  # warm-up
                sync(device)
                start = time.perf_counter()
                texts = model.generate(batch, cfg)
                sync(device)
                took = time.perf_counter() - start
            token_ids = getattr(model.llm, "token_ids", None)
            tokens = (
                sum(len(t) for t in token_ids(texts)) if token_ids else sum(len(t.split()) for t in texts)
            )
            rows.append(
                {
                    "batch_size": bsz,
                    "strategy": strategy,
                    "precision": precision,
                    "num_beams": beams,
                    "clip_seconds": seconds,
                    "seconds": took,
                    "real_time_factor": took / (bsz * seconds),
                    "generated_tokens": tokens,
                    "tokens_per_s": tokens / took if took > 0 else 0.0,
                    "memory": memory_snapshot(device),
                }
            )
    return rows
