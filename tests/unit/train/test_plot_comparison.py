"""Several runs' dev scores on one plot: points from each train_log; runs without the metric drop out."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")

from usam_toolkit.train.plots import plot_eval_comparison


def _log(path, evals):
    rows = [{"type": "train", "step": 1, "loss": 3.0}]
    rows += [{"type": "eval", "step": s, "metrics": m} for s, m in evals]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_comparison_plots_each_run_in_step_order(tmp_path):
    a = _log(tmp_path / "a.jsonl", [(200, {"valid/wer": 135.1}), (100, {"valid/wer": 146.1})])
    b = _log(tmp_path / "b.jsonl", [(100, {"valid/bleu": 3.0})])
    png = tmp_path / "cmp.png"
    series = plot_eval_comparison({"a": a, "b": b}, "valid/wer", png, {"most frequent": 100.0})
    assert series == {"a": [(100, 146.1), (200, 135.1)]}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
