"""Clocks, FLOP counting, the matmul peak and memory probes shared by every benchmark section.

Every timing uses ``time.perf_counter`` around work that is synchronised first on CUDA
(``torch.cuda.synchronize``), so a section's time is the device time it really took, not the time to
enqueue kernels.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


def sync(device: str | torch.device) -> None:
    """Wait for queued kernels on ``device`` (no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class SectionTimer:
    """Accumulates wall time per named section; ``with timer("llm"): ...`` adds to ``timer.totals["llm"]``.

    Args:
        device: synchronised before and after each section.
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = device
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        sync(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            sync(self.device)
            self.totals[name] += time.perf_counter() - start

    def total(self) -> float:
        return float(sum(self.totals.values()))


def timed(
    fn: Callable[[], Any], device: str | torch.device = "cpu", repeats: int = 1, warmup: int = 0
) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def matmul_peak(
    device: str | torch.device = "cpu",
    seconds: float = 2.0,
    size: int | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Achievable matrix-multiply FLOP/s measured now on ``device``: the MFU denominator.

    A square ``size x size`` matmul (fp32 on CPU, bf16 on CUDA unless ``dtype``) is repeated for about
    ``seconds`` after one warm-up call; the best of the timed calls counts ``2 * size**3`` FLOPs.

    Returns:
        ``{"flops_per_s", "size", "dtype", "calls", "seconds"}``.
    """
    dev = torch.device(device)
    dtype = dtype or (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    size = size or (8192 if dev.type == "cuda" else 1024)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dev, dtype)
    b = torch.randn(size, size, generator=gen).to(dev, dtype)
    torch.matmul(a, b)  # warm-up: first-call allocation and kernel selection
    sync(dev)
    best, calls, start = float("inf"), 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync(dev)
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return {
        "flops_per_s": 2.0 * size**3 / best,
        "size": size,
        "dtype": str(dtype).replace("torch.", ""),
        "calls": calls,
        "seconds": time.perf_counter() - start,
    }


def count_flops(fn: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    """FLOPs of everything ``fn`` runs (forward and backward if it calls ``backward``), counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions, attention; elementwise ops,
    FFTs and norms count 0), total and per top-level module."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    per_module: dict[str, float] = {}
    for name, ops in counter.get_flop_counts().items():
        if name.count(".") == 1 or name == "Global":
            per_module[name] = float(sum(ops.values()))
    return float(counter.get_total_flops()), per_module


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float | None:
    """Resident memory now, MiB (psutil when installed, else None)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / (1024 * 1024)


def reset_cuda_peak(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_mb(device: str | torch.device) -> float | None:
    """``torch.cuda.max_memory_allocated`` since the last reset, MiB; None off CUDA."""
    if torch.device(device).type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / (1024 * 1024)


def memory_snapshot(device: str | torch.device) -> dict[str, float | None]:
    """Peak RSS, current RSS and the CUDA peak (MiB)."""
    return {"peak_rss_mb": peak_rss_mb(), "rss_mb": current_rss_mb(), "cuda_peak_mb": cuda_peak_mb(device)}
