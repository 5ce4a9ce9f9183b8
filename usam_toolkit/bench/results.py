"""What every ``usam bench`` profile does with its measurements: the machine's description, the matmul
peaks (float32 and bfloat16, measured in the same run) and MFU against them, the baseline and
bf16 / fp32 ratios, and the files (``bench.json``, ``report.md``, plots).

Shared by :mod:`usam_toolkit.bench.runner` (tiny, small) and :mod:`usam_toolkit.bench.paper`, so
neither imports the other (``runner`` hands ``--config paper`` to ``paper``, one way).
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import torch

from .timing import matmul_peak

#: The dtypes whose matmul peak every run measures; the machine's peak is the best of them.
PEAK_DTYPES = (torch.float32, torch.bfloat16)
#: Suffix of the training-variant keys that run under bf16 autocast (``ours_cached_bf16``).
BF16_SUFFIX = "_bf16"
#: The bf16 / fp32 training-step speed-up the bench is asked to show (issue: at least 1.8x).
BF16_TARGET_SPEEDUP = 1.8


def machine_info(device: str) -> dict[str, Any]:
    """CPU model, core count, native bf16, torch version and threads (and the GPU when on CUDA)."""
    from ..precision import cpu_bf16_support

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    native, evidence = cpu_bf16_support()
    info: dict[str, Any] = {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": native,
        "cpu_bf16": f"this CPU {evidence}",
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


def peak_bursts(device: str, seconds: float, size: int | None = None) -> list[dict[str, Any]]:
    """One burst per dtype of :data:`PEAK_DTYPES`, ``seconds`` shared between them."""
    return [matmul_peak(device, seconds / len(PEAK_DTYPES), size, dtype) for dtype in PEAK_DTYPES]


def summarise_peaks(bursts: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the bursts per dtype; the machine's peak is the best dtype's median.

    Returns:
        ``{"flops_per_s", "dtype", "size", "min", "max", "bursts"}`` of the best dtype, plus ``by_dtype``:
        the same keys (without ``dtype``) for every dtype measured.
    """
    by_dtype: dict[str, dict[str, Any]] = {}
    for dtype in dict.fromkeys(b["dtype"] for b in bursts):
        mine = [b for b in bursts if b["dtype"] == dtype]
        rates = sorted(b["flops_per_s"] for b in mine)
        by_dtype[dtype] = {
            "flops_per_s": rates[len(rates) // 2],
            "size": mine[0]["size"],
            "min": rates[0],
            "max": rates[-1],
            "bursts": mine,
        }
    best = max(by_dtype, key=lambda d: by_dtype[d]["flops_per_s"])
    return {**by_dtype[best], "dtype": best, "by_dtype": by_dtype}


def run_dtype(key: str, run: dict[str, Any]) -> str:
    """The matmul dtype a training variant computes in: ``bfloat16`` for bf16 rows, else ``float32``."""
    precision = run.get("precision") or ("bf16" if key.endswith(BF16_SUFFIX) else "fp32")
    return "bfloat16" if precision == "bf16" else "float32"


def attach_utilisation(
    runs: dict[str, dict[str, Any]], flops: dict[str, dict[str, float]], bursts: list[dict[str, Any]]
) -> dict[str, Any]:
    """Add FLOPs executed, FLOP/s and MFU to each training variant (in place); return the matmul peaks.

    Each dtype's peak is the median of its bursts timed between the training rounds; the machine's
    peak is the best of them. ``mfu`` and ``model_flops_utilisation`` are against the machine's peak,
    ``mfu_by_dtype`` against each dtype's, ``mfu_own_dtype`` against the peak of the dtype the variant
    computes in (bf16 rows: the bf16 peak). The cached variant executes our FLOPs minus the encoders',
    the reference its own (padding included); "model FLOPs utilisation" charges every variant with our
    step's useful FLOPs only. A ``_bf16`` variant executes the same FLOPs as its fp32 twin.
    """
    peaks = summarise_peaks(bursts)
    peak = peaks["flops_per_s"]
    rest = flops["ours"]["total"] - flops["ours"].get("encoders", 0.0)
    executed = {
        "ours_cached": rest,
        "ours_no_cache": flops["ours"]["total"],
        "reference": flops["reference"]["total"],
    }
    for key, run in runs.items():
        base = key.removesuffix(BF16_SUFFIX)
        run["flops_per_step"] = executed[base]
        run["achieved_flops_per_s"] = executed[base] / run["step_seconds"]
        run["mfu"] = run["achieved_flops_per_s"] / peak
        run["model_flops_utilisation"] = flops["ours"]["total"] / run["step_seconds"] / peak
        run["mfu_by_dtype"] = {
            d: run["achieved_flops_per_s"] / p["flops_per_s"] for d, p in peaks["by_dtype"].items()
        }
        own = run_dtype(key, run)
        run["mfu_own_dtype"] = run["mfu_by_dtype"].get(own)
    return peaks


def baseline_ratios(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Reference / ours step-time ratios, measured and pooled (the fp32 variants only).

    ``pooled_*``: every section but ``encoders`` does the same work in all variants (same model, same
    batches), so their mean over the variants replaces each variant's own, and only the encoder time
    differs; on a loaded machine this removes most of the noise of one-step measurements.
    """
    ref, cached, plain = runs["reference"], runs["ours_cached"], runs["ours_no_cache"]
    same = [ref, cached, plain]
    shared = [k for k in ref["sections"] if k != "encoders"]
    rest = sum(sum(r["sections"][k] for k in shared) for r in same) / len(same)

    def pooled(r: dict[str, Any]) -> float:
        return rest + r["sections"]["encoders"]

    return {
        "reference_over_ours_cached": ref["step_seconds"] / cached["step_seconds"],
        "reference_over_ours_no_cache": ref["step_seconds"] / plain["step_seconds"],
        "encoders_reference_over_ours_no_cache": ref["sections"]["encoders"]
        / max(1e-12, plain["sections"]["encoders"]),
        "pooled_step_seconds_shared_sections": rest,
        "pooled_reference_over_ours_cached": pooled(ref) / pooled(cached),
        "pooled_reference_over_ours_no_cache": pooled(ref) / pooled(plain),
    }


def precision_ratios(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """fp32 / bf16 step-time ratios (above 1: bf16 is faster) of every variant measured both ways.

    Per variant: the step ratio, the ratio per section, ``holds_back`` (the section with the most bf16
    seconds among those bf16 sped up by less than the target) and whether the target is met.
    """
    out: dict[str, Any] = {"target_speedup": BF16_TARGET_SPEEDUP}
    for key, run in runs.items():
        twin = runs.get(key + BF16_SUFFIX)
        if twin is None:
            continue
        sections = {
            k: run["sections"][k] / twin["sections"][k] if twin["sections"].get(k, 0) > 0 else None
            for k in run["sections"]
        }
        slow = {
            k: twin["sections"][k]
            for k, r in sections.items()
            if k != "data" and (r is None or r < BF16_TARGET_SPEEDUP)
        }
        out[key] = {
            "fp32_step_seconds": run["step_seconds"],
            "bf16_step_seconds": twin["step_seconds"],
            "speedup": run["step_seconds"] / twin["step_seconds"],
            "sections": sections,
            "target_met": run["step_seconds"] / twin["step_seconds"] >= BF16_TARGET_SPEEDUP,
            "holds_back": max(slow, key=lambda k: slow[k]) if slow else None,
        }
    return out


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
