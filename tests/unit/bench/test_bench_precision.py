"""MFU against the fp32 and bf16 peaks and the machine's (the best), bf16 / fp32 ratios, and the bench
modules importing one way (no paper <-> runner cycle). Synthetic numbers: nothing is timed."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from usam_toolkit.bench.results import attach_utilisation, precision_ratios, summarise_peaks

BENCH = Path(__file__).resolve().parents[3] / "usam_toolkit" / "bench"


def _burst(dtype: str, gflops: float) -> dict:
    return {"flops_per_s": gflops * 1e9, "size": 64, "dtype": dtype, "calls": 2, "seconds": 0.0}


def _run(step: float, sections: dict[str, float]) -> dict:
    return {"label": "x", "step_seconds": step, "sections": sections}


def test_the_machine_peak_is_the_best_dtype_median() -> None:
    bursts = [_burst("float32", g) for g in (170, 180, 100)] + [
        _burst("bfloat16", g) for g in (900, 960, 950)
    ]
    peaks = summarise_peaks(bursts)
    assert peaks["dtype"] == "bfloat16" and peaks["flops_per_s"] == 950e9
    assert peaks["by_dtype"]["float32"]["flops_per_s"] == 170e9
    assert (peaks["min"], peaks["max"]) == (900e9, 960e9) and len(peaks["bursts"]) == 3
    # a CPU without native bf16: fp32 is the machine's peak
    assert summarise_peaks([_burst("float32", 180), _burst("bfloat16", 60)])["dtype"] == "float32"


def test_mfu_against_each_peak_and_the_best() -> None:
    secs = {"data": 0.0, "encoders": 0.5, "fusion+projectors": 0.5, "llm+losses": 1.0, "optimizer": 0.0}
    runs = {
        "ours_cached": _run(2.0, secs),
        "ours_no_cache": _run(2.0, secs),
        "reference": _run(4.0, secs),
        "ours_cached_bf16": {**_run(1.0, secs), "precision": "bf16"},
    }
    flops = {"ours": {"encoders": 100e9, "total": 300e9}, "reference": {"total": 500e9}}
    peaks = attach_utilisation(runs, flops, [_burst("float32", 200), _burst("bfloat16", 800)])
    assert peaks["flops_per_s"] == 800e9
    fp32, bf16 = runs["ours_cached"], runs["ours_cached_bf16"]
    assert fp32["flops_per_step"] == bf16["flops_per_step"] == 200e9  # encoders cached: 300 - 100
    assert math.isclose(fp32["mfu"], 100e9 / 800e9) and math.isclose(bf16["mfu"], 200e9 / 800e9)
    assert (
        math.isclose(fp32["mfu_by_dtype"]["float32"], 0.5)
        and fp32["mfu_own_dtype"] == fp32["mfu_by_dtype"]["float32"]
    )
    assert math.isclose(bf16["mfu_own_dtype"], 200e9 / 800e9) and math.isclose(
        bf16["mfu_by_dtype"]["float32"], 1.0
    )
    assert math.isclose(runs["reference"]["model_flops_utilisation"], 300e9 / 4.0 / 800e9)


def test_bf16_ratio_names_the_section_that_holds_it_back() -> None:
    fp32 = _run(
        2.0, {"data": 0.1, "encoders": 0.4, "fusion+projectors": 0.5, "llm+losses": 0.8, "optimizer": 0.2}
    )
    bf16 = _run(
        1.0, {"data": 0.1, "encoders": 0.1, "fusion+projectors": 0.15, "llm+losses": 0.45, "optimizer": 0.2}
    )
    out = precision_ratios({"ours_cached": fp32, "ours_cached_bf16": bf16, "reference": fp32})
    r = out["ours_cached"]
    assert set(out) == {"target_speedup", "ours_cached"}
    assert r["speedup"] == pytest.approx(2.0) and r["target_met"]
    assert r["sections"]["encoders"] == pytest.approx(4.0)
    # sped up by less than the target: llm+losses (0.8 / 0.45 = 1.78x) and optimizer (1x); the first
    # holds the most bf16 seconds
    assert r["holds_back"] == "llm+losses"
    slow = precision_ratios(
        {"a": fp32, "a_bf16": _run(3.0, {k: 3 * v for k, v in fp32["sections"].items()})}
    )["a"]
    assert (
        not slow["target_met"]
        and slow["holds_back"] == "llm+losses"
        and slow["speedup"] == pytest.approx(2 / 3)
    )


def _imports(path: Path) -> set[str]:
    """Modules a file imports anywhere (module level or inside functions), relative ones resolved."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module or "")
    return found


def test_bench_modules_import_one_way() -> None:
    """runner hands --config paper to paper; paper (and results) never import runner."""
    assert "runner" not in _imports(BENCH / "paper.py")
    assert "runner" not in _imports(BENCH / "results.py") and "paper" not in _imports(BENCH / "results.py")
    assert "paper" in _imports(BENCH / "runner.py")
