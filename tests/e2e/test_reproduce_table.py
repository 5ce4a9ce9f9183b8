"""`usam reproduce-table` end to end on a miniature table with the smoke recipe."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from usam_toolkit.cli import main
from usam_toolkit.mini.smoke import SMOKE_RECIPE


def test_reproduce_table_on_the_smoke_recipe(smoke_run: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    table = tmp_path / "mini_table.yaml"
    table.write_text(
        "title: smoke table\n"
        "columns:\n"
        "  - {key: wer, label: ASR WER, task: asr, score: wer.wer, lower_is_better: true}\n"
        "  - {key: bleu, label: ST BLEU, task: s2tt, score: bleu.bleu}\n"
        "rows:\n"
        f"  - {{name: smoke, recipe: {SMOKE_RECIPE}, checkpoint: {smoke_run}, "
        "paper: {wer: 2.0, bleu: 38.3}}\n"
        "  - {name: quoted, paper: {wer: 5.0}}\n"
    )
    out = tmp_path / "out"
    assert main(["reproduce-table", str(table), "--out", str(out), "--device", "cpu"]) == 0
    ours = json.loads((out / "ours.json").read_text())
    assert set(ours) == {"smoke", "quoted"} and ours["quoted"] == {}
    wer = ours["smoke"]["wer"]
    assert isinstance(wer, float) and wer >= 0.0
    rows = list(csv.DictReader(open(out / "table.csv")))
    smoke_wer = next(r for r in rows if r["system"] == "smoke" and r["column"] == "ASR WER")
    assert abs(float(smoke_wer["difference"]) - (wer - 2.0)) < 1e-3
    md = (out / "table.md").read_text()
    assert "| smoke | " in md and "/ 2.00" in md and "| quoted | – / 5.00 |" in md
    assert "smoke table" in capsys.readouterr().out
