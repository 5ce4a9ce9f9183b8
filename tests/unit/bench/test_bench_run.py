"""The bench runs end to end on the tiny model and writes bench.json, report.md and the plots.

No timed assertions: timings only have to be positive and finite, and ratios consistent with the
times they are made of.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from usam_toolkit.bench.report import REPORT_SECTIONS


def test_writes_json_report_and_plots(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    out, _ = tiny_bench
    on_disk = json.loads((out / "bench.json").read_text())
    assert on_disk["config"] == "tiny"
    assert set(on_disk["plots"]) == {"scaling_length.png", "scaling_batch.png", "training_breakdown.png"}
    for name in on_disk["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    positions = [report.index(h) for h in REPORT_SECTIONS]
    assert positions == sorted(positions)


def test_report_has_the_ratio_and_mfu(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    out, results = tiny_bench
    report = (out / "report.md").read_text()
    ratio = results["baseline_ratio"]["reference_over_ours_cached"]
    assert f"{ratio:.2f}x" in report
    assert "30 s / 3 s" in report
    mfu = results["training"]["ours_no_cache"]["mfu"]
    assert f"{100 * mfu:.1f}%" in report


def test_training_sections_sum_to_the_step(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = tiny_bench
    assert set(results["training"]) == {
        "ours_cached",
        "ours_no_cache",
        "reference",
        "ours_cached_bf16",
        "ours_no_cache_bf16",
    }
    for run in results["training"].values():
        secs = run["sections"]
        assert set(secs) == {"data", "encoders", "fusion+projectors", "llm+losses", "optimizer"}
        assert all(v >= 0 and math.isfinite(v) for v in secs.values())
        assert math.isclose(sum(secs.values()), run["step_seconds"], rel_tol=1e-9)
        assert math.isclose(run["samples_per_s"], run["batch_size"] / run["step_seconds"], rel_tol=1e-9)
        assert math.isclose(
            run["mfu"], run["achieved_flops_per_s"] / results["matmul_peak"]["flops_per_s"], rel_tol=1e-9
        )
    ratio = results["baseline_ratio"]["reference_over_ours_cached"]
    runs = results["training"]
    assert math.isclose(
        ratio, runs["reference"]["step_seconds"] / runs["ours_cached"]["step_seconds"], rel_tol=1e-9
    )


def test_flops_reference_pays_for_padding(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    # FLOPs are counted, not timed: the reference's 30 s Whisper input is strictly more encoder work,
    # everything after the encoders is the same model on the same batch.
    _, results = tiny_bench
    ours, ref = results["flops"]["ours"], results["flops"]["reference"]
    assert ref["encoders"] > ours["encoders"] > 0
    assert math.isclose(ref["llm+losses"], ours["llm+losses"], rel_tol=1e-6)
    assert ours["total"] == sum(v for k, v in ours.items() if k != "total")


def test_cache_and_scaling_and_inference_sections(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = tiny_bench
    fc = results["feature_cache"]
    # epochs: cold writes every clip (misses), warm reads every clip for every cached encoder
    assert fc["cached_encoders"] == 2 and fc["cache_hits"] == fc["clips"] * fc["cached_encoders"]
    sc = results["scaling"]
    assert [r["seconds"] for r in sc["by_length"]] == [1.0, 3.0, 30.0]
    assert [r["batch_size"] for r in sc["by_batch"]] == [1, 2]
    assert "0:ConvTransformerEncoder" in sc["padded_encoder_3s_vs_30s"]
    inf = results["inference"]
    assert {(r["batch_size"], r["strategy"]) for r in inf} == {
        (1, "greedy"),
        (1, "beam"),
        (2, "greedy"),
        (2, "beam"),
    }
    for r in inf:
        assert math.isclose(
            r["real_time_factor"], r["seconds"] / (r["batch_size"] * r["clip_seconds"]), rel_tol=1e-9
        )
    assert results["memory"]["peak_rss_mb"] > 0


def test_fp32_and_bf16_peaks_mfu_against_each_and_bf16_rows(tiny_bench: tuple[Path, dict[str, Any]]) -> None:
    out, results = tiny_bench
    peak = results["matmul_peak"]
    by_dtype = peak["by_dtype"]
    assert set(by_dtype) == {"float32", "bfloat16"}
    assert peak["flops_per_s"] == max(p["flops_per_s"] for p in by_dtype.values())  # the machine's peak
    assert by_dtype[peak["dtype"]]["flops_per_s"] == peak["flops_per_s"]
    assert len(by_dtype["float32"]["bursts"]) == len(by_dtype["bfloat16"]["bursts"]) >= 2
    for key, run in results["training"].items():
        assert run["precision"] == ("bf16" if key.endswith("_bf16") else "fp32")
        for dtype, p in by_dtype.items():
            expected = run["achieved_flops_per_s"] / p["flops_per_s"]
            assert math.isclose(run["mfu_by_dtype"][dtype], expected, rel_tol=1e-9)
        own = "bfloat16" if run["precision"] == "bf16" else "float32"
        assert run["mfu_own_dtype"] == run["mfu_by_dtype"][own]
    twin = results["training"]["ours_cached_bf16"]
    assert twin["flops_per_step"] == results["training"]["ours_cached"]["flops_per_step"]
    speed = results["bf16_speedup"]["ours_cached"]
    fp32_step = results["training"]["ours_cached"]["step_seconds"]
    assert math.isclose(speed["speedup"], fp32_step / twin["step_seconds"], rel_tol=1e-9)
    assert speed["target_met"] == (speed["speedup"] >= results["bf16_speedup"]["target_speedup"])
    assert {(r["batch_size"], r["strategy"], r["precision"]) for r in results["inference"]} == {
        (b, s, p) for b in (1, 2) for s in ("greedy", "beam") for p in ("fp32", "bf16")
    }
    report = (out / "report.md").read_text()
    assert "| bfloat16" in report and "| float32" in report and "MFU vs" in report
    assert f"**{speed['speedup']:.2f}x**" in report
    assert results["machine"]["cpu_bf16"].startswith("this CPU ")
    if not speed["target_met"]:  # short of the target: the top operators of a bf16 step are named
        prof = results["bf16_profile"]
        assert prof and all(p["self_seconds"] >= 0 and 0 <= p["share"] <= 1 for p in prof)
        assert "`torch.profiler`" in report and f"`{prof[0]['op']}`" in report
