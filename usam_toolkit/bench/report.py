"""``report.md`` and the PNG plots of a benchmark run (from the ``bench.json`` dict)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Section headings of report.md, in order (the tests check they are all there).
REPORT_SECTIONS = (
    "## Machine",
    "## Model",
    "## Training throughput",
    "## Baseline: the reference implementation's choices",
    "## MFU",
    "## Feature cache",
    "## Scaling",
    "## Inference",
    "## Memory",
)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.{digits}e}"
        return f"{x:.{digits}f}"
    return str(x)


def _gflops(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 1e9:,.3f}" if x < 1e9 else f"{x / 1e9:,.1f}"


def write_plots(results: dict[str, Any], out: Path) -> list[str]:
    """Length and batch sweeps, and the per-section training breakdown, as PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[str] = []
    sc = results.get("scaling")
    if sc:
        for key, xkey, xlabel, name in (
            ("by_length", "seconds", "clip length (s), batch 1", "scaling_length.png"),
            ("by_batch", "batch_size", "batch size", "scaling_batch.png"),
        ):
            rows = sc[key]
            if not rows:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            xs = [r[xkey] for r in rows]
            for enc in sc["encoder_names"]:
                ax.plot(xs, [r["encoders"][enc] for r in rows], marker="o", label=f"encoder {enc}")
            for enc in rows[0].get("reference_padded", {}):
                ax.plot(
                    xs,
                    [r["reference_padded"][enc] for r in rows],
                    marker="x",
                    linestyle="--",
                    label=f"encoder {enc}, padded to 30 s (reference)",
                )
            ax.plot(
                xs,
                [r["end_to_end_forward"] for r in rows],
                marker="s",
                color="black",
                label="end-to-end forward",
            )
            ax.set_xlabel(xlabel)
            ax.set_ylabel("seconds")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(out / name, dpi=110)
            plt.close(fig)
            files.append(name)
    tr = results.get("training")
    if tr:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        labels = list(tr)
        left = [0.0] * len(labels)
        sections = list(next(iter(tr.values()))["sections"])
        for sec in sections:
            vals = [tr[k]["sections"][sec] for k in labels]
            ax.barh(labels, vals, left=left, label=sec)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_xlabel("seconds per training step")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "training_breakdown.png", dpi=110)
        plt.close(fig)
        files.append("training_breakdown.png")
    return files


def render_report(r: dict[str, Any]) -> str:
    """The markdown report of one run."""
    m = r["machine"]
    lines = [f"# usam bench --config {r['config']}{' --quick' if r.get('quick') else ''}", ""]
    lines += [REPORT_SECTIONS[0], ""]
    lines += [
        f"- CPU: {m.get('cpu_model')} ({m.get('cpu_count')} logical cores), torch {m.get('torch')} "
        f"with {m.get('torch_threads')} threads, Python {m.get('python')}, device `{m.get('device')}`"
        + (f" ({m['gpu']})" if m.get("gpu") else "")
    ]
    if m.get("cpu_bf16"):
        lines += [f"- bf16: {m['cpu_bf16']} (the bf16 rows run under bf16 autocast all the same)"]
    if m.get("load_average"):
        loads = ", ".join(f"{x:.1f}" for x in m["load_average"])
        lines += [
            (
                f"- load average at the start: {loads} (other processes share the cores: absolute numbers "
                "move, ratios within one run are the signal)"
            )
        ]
    lines += [
        (
            f"- total bench time: {_fmt(r.get('total_seconds'), 1)} s "
            f"(model build {_fmt(r.get('build_seconds'), 1)} s)"
        ),
        "",
    ]

    lines += [
        REPORT_SECTIONS[1],
        "",
        r.get("profile", ""),
        "",
        "| component | plugin | parameters | trainable |",
        "|---|---|---:|---:|",
    ]
    for row in r.get("parameters", []):
        lines.append(f"| {row['component']} | {row['name']} | {row['total']:,} | {row['trainable']:,} |")
    lines.append("")

    tr = r.get("training", {})
    lines += [
        REPORT_SECTIONS[2],
        "",
        (
            "Seconds per optimizer step (mean over the timed steps, after a warm-up step); `data` = "
            "loading + collate, `llm+losses` includes the whole backward pass."
        ),
        "",
        (
            "| variant | batch | step s | data | encoders | fusion+projectors | llm+losses | optimizer | "
            "samples/s | audio s/s |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in tr.values():
        s = run["sections"]
        lines.append(
            f"| {run['label']} | {run['batch_size']} | {_fmt(run['step_seconds'])} | {_fmt(s['data'])} | "
            f"{_fmt(s['encoders'])} | {_fmt(s['fusion+projectors'])} | {_fmt(s['llm+losses'])} | "
            f"{_fmt(s['optimizer'])} | {_fmt(run['samples_per_s'])} | {_fmt(run['audio_seconds_per_s'])} |"
        )
    lines += ["", "![training breakdown](training_breakdown.png)", ""]
    sp = {k: v for k, v in r.get("bf16_speedup", {}).items() if isinstance(v, dict)}
    if sp:
        target = r["bf16_speedup"].get("target_speedup")
        lines += [
            (
                f"bf16 autocast vs fp32, same run (fp32 step / bf16 step; above 1 = bf16 faster; target "
                f"{_fmt(target, 1)}x):"
            ),
            "",
        ]
        for key, v in sp.items():
            secs = ", ".join(f"{k} {_fmt(x, 2)}x" for k, x in v["sections"].items() if k != "data")
            verdict = (
                "target met"
                if v["target_met"]
                else (
                    f"short of the target; the section holding it back: **{v['holds_back']}**"
                    if v["holds_back"]
                    else "short of the target"
                )
            )
            lines.append(
                f"- {tr[key]['label']}: **{_fmt(v['speedup'], 2)}x** "
                f"({_fmt(v['fp32_step_seconds'])} s fp32, {_fmt(v['bf16_step_seconds'])} s bf16; "
                f"by section: {secs}); {verdict}"
            )
        lines.append("")
    prof = r.get("bf16_profile")
    if prof:
        lines += [
            "Top operators of one bf16 step, cache warm (`torch.profiler`, self time):",
            "",
            "| operator | self s | share | calls |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| `{p['op']}` | {_fmt(p['self_seconds'])} | {100 * p['share']:.1f}% | {p['calls']} |"
            for p in prof
        ]
        lines.append("")

    br = r.get("baseline_ratio", {})
    lines += [
        REPORT_SECTIONS[3],
        "",
        (
            "Same model, same batches. The reference fed Whisper 30 s of audio (clip + zeros), ran the "
            "encoders one sample at a time and had no feature cache; fusion trims the padded Whisper frames "
            "to the other streams' length, so only the encoders cost more."
        ),
        "",
        f"- **step time, reference / ours (cache warm): {_fmt(br.get('reference_over_ours_cached'), 2)}x**",
        f"- step time, reference / ours (no cache): {_fmt(br.get('reference_over_ours_no_cache'), 2)}x",
        (
            "- encoder time, reference / ours (no cache): "
            f"{_fmt(br.get('encoders_reference_over_ours_no_cache'), 2)}x"
        ),
        (
            "- pooled (the sections after the encoders do identical work in all variants, so their mean "
            f"over the variants, {_fmt(br.get('pooled_step_seconds_shared_sections'))} s, stands for each; "
            "removes load noise): **reference / ours (cache warm) "
            f"{_fmt(br.get('pooled_reference_over_ours_cached'), 2)}x**, "
            f"reference / ours (no cache) {_fmt(br.get('pooled_reference_over_ours_no_cache'), 2)}x"
        ),
    ]
    if tr and all(tr[k].get("flops_per_step") for k in ("reference", "ours_cached", "ours_no_cache")):
        ref_f = tr["reference"]["flops_per_step"]
        lines.append(
            f"- FLOPs per step (counted, independent of the load), reference / ours: "
            f"{ref_f / tr['ours_no_cache']['flops_per_step']:.2f}x (no cache), "
            f"{ref_f / tr['ours_cached']['flops_per_step']:.2f}x (cache warm)"
        )
    for enc, v in r.get("scaling", {}).get("padded_encoder_3s_vs_30s", {}).items():
        lines.append(
            f"- encoder {enc}: a 3 s clip costs {_fmt(v['3s'])} s, a 30 s clip {_fmt(v['30s'])} s "
            f"(**30 s / 3 s = {_fmt(v['ratio_30s_over_3s'], 2)}x**; "
            "the reference paid the 30 s cost for every clip)"
        )
    if not r.get("cache_wired", True):
        lines.append(
            "- note: `AudioLLM.encode` passes content hashes only to encoders with `accepts_hashes`, which "
            "`CachedEncoder` lacks, so today's trainer does not read the cache; this bench passes the "
            "hashes itself to measure the cache as designed."
        )
    lines.append("")

    fl = r.get("flops", {})
    pk = r.get("matmul_peak", {})
    lines += [
        REPORT_SECTIONS[4],
        "",
        (
            f"FLOPs per step ({fl.get('method', '')}), batch {fl.get('batch_size')}, "
            f"{_fmt(fl.get('audio_seconds'), 1)} s of audio:"
        ),
        "",
        "| section | ours GFLOP | reference GFLOP |",
        "|---|---:|---:|",
    ]
    ours, ref = fl.get("ours", {}), fl.get("reference", {})
    for key in list(ours):
        lines.append(f"| {key} | {_gflops(ours.get(key))} | {_gflops(ref.get(key))} |")
    if pk:
        by_dtype = pk.get("by_dtype") or {pk["dtype"]: pk}
        lines += [
            "",
            (
                "Matmul peaks measured in this run (best call of each burst, bursts taken between the "
                "training rounds; the median counts):"
            ),
            "",
            "| dtype | size | bursts | median GFLOP/s | range |",
            "|---|---:|---:|---:|---|",
        ]
        for dtype, p in by_dtype.items():
            best = " (**the machine's peak**)" if dtype == pk["dtype"] and len(by_dtype) > 1 else ""
            lines.append(
                f"| {dtype}{best} | {p['size']}x{p['size']} | {len(p['bursts'])} | "
                f"{_gflops(p['flops_per_s'])} | {_gflops(p['min'])} to {_gflops(p['max'])} |"
            )
        others = [d for d in by_dtype if d != pk["dtype"]]
        lines += [
            "",
            (
                f"MFU is against the machine's peak ({pk['dtype']}, {_gflops(pk['flops_per_s'])} "
                "GFLOP/s) unless a column names a dtype."
            ),
            "",
            "| variant | FLOPs executed / step (G) | achieved GFLOP/s | MFU (executed) | "
            "MFU (model FLOPs only) | "
            + " | ".join(f"MFU vs {d} peak" for d in others)
            + (" |" if others else ""),
            "|---|---:|---:|---:|---:|" + "---:|" * len(others),
        ]
        for run in tr.values():
            vs = run.get("mfu_by_dtype") or {}
            extra = " | ".join(f"{100 * vs[d]:.1f}%" if vs.get(d) is not None else "n/a" for d in others)
            lines.append(
                f"| {run['label']} | {_gflops(run['flops_per_step'])} | "
                f"{_gflops(run['achieved_flops_per_s'])} | **{100 * run['mfu']:.1f}%** | "
                f"{100 * run['model_flops_utilisation']:.1f}% |" + (f" {extra} |" if others else "")
            )
        lines += [
            "",
            (
                "MFU (executed) counts the FLOPs each variant really runs (the cached variant skips the "
                "encoders, the reference adds the padded frames); MFU (model FLOPs only) divides our step's "
                "model FLOPs by each variant's time, so it compares useful work. On CPU the peak is what "
                "PyTorch's matmul reaches on this machine now, not a datasheet number: small and "
                "elementwise-heavy layers, the Python dispatch of a 135M-parameter model and other processes "
                "on the cores keep MFU well below 100%."
            ),
        ]
    lines.append("")

    fc = r.get("feature_cache", {})
    lines += [
        REPORT_SECTIONS[5],
        "",
        (
            f"{fc.get('clips')} clips ({_fmt(fc.get('audio_seconds'), 1)} s of audio), "
            f"batch {fc.get('batch_size')}, {fc.get('cached_encoders')} of {fc.get('encoders')} encoders "
            "frozen and cached; an epoch = load + collate + encoders + fusion."
        ),
        "",
        "| epoch | seconds |",
        "|---|---:|",
        f"| no cache | {_fmt(fc.get('epoch_seconds_no_cache'))} |",
        f"| cache cold (epoch 1: encode + write) | {_fmt(fc.get('epoch_seconds_cache_cold'))} |",
        f"| cache warm (epoch 2: read) | {_fmt(fc.get('epoch_seconds_cache_warm'))} |",
        "",
        (
            f"Warm cache speed-up: **{_fmt(fc.get('speedup_warm_vs_no_cache'), 2)}x** "
            f"({fc.get('cache_hits')} cache hits)."
        ),
        "",
    ]

    sc = r.get("scaling", {})
    lines += [REPORT_SECTIONS[6], ""]
    for key, title, xkey in (
        ("by_length", "Batch 1, clip length (s)", "seconds"),
        ("by_batch", "Batch size", "batch_size"),
    ):
        rows = sc.get(key, [])
        if not rows:
            continue
        encs = sc["encoder_names"]
        lines += [
            f"{title}:",
            "",
            "| "
            + xkey
            + " | "
            + " | ".join(f"enc {e}" for e in encs)
            + " | encoders | end-to-end forward | "
            + " | ".join(f"{e} padded 30 s" for e in rows[0]["reference_padded"])
            + " |",
            "|" + "---:|" * (3 + len(encs) + len(rows[0]["reference_padded"])),
        ]
        for row in rows:
            lines.append(
                f"| {row[xkey]} | "
                + " | ".join(_fmt(row["encoders"][e]) for e in encs)
                + f" | {_fmt(row['encoders_total'])} | {_fmt(row['end_to_end_forward'])} | "
                + " | ".join(_fmt(v) for v in row["reference_padded"].values())
                + " |"
            )
        lines.append("")
    lines += ["![length scaling](scaling_length.png) ![batch scaling](scaling_batch.png)", ""]

    lines += [
        REPORT_SECTIONS[7],
        "",
        (
            "`AudioLLM.generate` (encoders + projectors + LLM decode with KV cache); RTF = wall time / "
            "audio seconds; tokens = tokens of the decoded texts (EOS and stripped specials not counted)."
        ),
        "",
        "| batch | strategy | precision | beams | seconds | RTF | tokens | tokens/s |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in r.get("inference", []):
        lines.append(
            f"| {row['batch_size']} | {row['strategy']} | {row.get('precision', 'fp32')} | "
            f"{row['num_beams']} | {_fmt(row['seconds'])} | "
            f"{_fmt(row['real_time_factor'])} | {row['generated_tokens']} | {_fmt(row['tokens_per_s'], 1)} |"
        )
    lines.append("")

    mem = r.get("memory", {})
    lines += [
        REPORT_SECTIONS[8],
        "",
        f"- peak RSS of the bench process: {_fmt(mem.get('peak_rss_mb'), 0)} MiB (`resource.getrusage`)",
        f"- RSS at the end: {_fmt(mem.get('rss_mb'), 0)} MiB (psutil)",
        f"- CUDA peak allocated: {_fmt(mem.get('cuda_peak_mb'), 0)} MiB",
        "",
    ]
    for run in tr.values():
        lines.append(
            f"- after '{run['label']}': peak RSS {_fmt(run['memory']['peak_rss_mb'], 0)} MiB, "
            f"CUDA peak {_fmt(run['memory']['cuda_peak_mb'], 0)} MiB"
        )
    lines.append("")
    return "\n".join(lines)
