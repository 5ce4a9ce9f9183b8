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
    assert set(results["training"]) == {"ours_cached", "ours_no_cache", "reference"}
    for run in results["training"].values():
        secs = run["sections"]
        assert set(secs) == {"data", "encoders", "fusion+projectors", "llm+losses", "optimizer"}
        assert all(v >= 0 and math.isfinite(v) for v in secs.values())
        assert math.isclose(sum(secs.values()), run["step_seconds"], rel_tol=1e-9)
        assert math.isclose(run["samples_per_s"], run["batch_size"] / run["step_seconds"], rel_tol=1e-9)
        assert math.isclose(run["mfu"], run["achieved_flops_per_s"] / results["matmul_peak"]["flops_per_s"], rel_tol=1e-9)
    ratio = results["baseline_ratio"]["reference_over_ours_cached"]
    runs = results["training"]
    assert math.isclose(ratio, runs["reference"]["step_seconds"] / runs["ours_cached"]["step_seconds"], rel_tol=1e-9)


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
    assert {(r["batch_size"], r["strategy"]) for r in inf} == {(1, "greedy"), (1, "beam"), (2, "greedy"), (2, "beam")}
    for r in inf:
        assert math.isclose(r["real_time_factor"], r["seconds"] / (r["batch_size"] * r["clip_seconds"]), rel_tol=1e-9)
    assert results["memory"]["peak_rss_mb"] > 0
