"""Plot one evaluation score of several training runs on one axis.

    python scripts/compare_runs.py --metric valid/asr/wer.wer --out docs/img/speech-dev-curve.png \
        "speech.yaml=runs/speech/model" "probe layout=runs/speech-listen/model" --ref "most frequent=100"

Each run is LABEL=FOLDER (the folder holding train_log.jsonl); --ref LABEL=VALUE adds a horizontal line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from usam_toolkit.train.plots import plot_eval_comparison


def _pair(text: str) -> tuple[str, str]:
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise argparse.ArgumentTypeError(f"'{text}': expected LABEL=VALUE")
    return label, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=_pair, help="LABEL=FOLDER with a train_log.jsonl")
    ap.add_argument("--metric", required=True, help="an eval metric key, e.g. valid/asr/wer.wer")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--ref", action="append", type=_pair, default=[], help="LABEL=VALUE horizontal line")
    args = ap.parse_args()
    logs = {}
    for label, folder in args.runs:
        log = Path(folder) / "train_log.jsonl"
        if not log.is_file():
            raise SystemExit(f"{label}: {log} does not exist")
        logs[label] = log
    series = plot_eval_comparison(logs, args.metric, args.out, {k: float(v) for k, v in args.ref})
    for label, pts in series.items():
        print(f"{label}: " + ", ".join(f"{s}: {v:.1f}" for s, v in pts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
