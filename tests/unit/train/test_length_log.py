"""The dataset's length-policy report lands in train_log.jsonl once per run, not again on resume."""

from __future__ import annotations

import json

from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

from usam_toolkit.train.trainer import Trainer

REPORT = {"asr": {"policy": "skip", "kept": 20, "cropped": 0, "skipped": 2, "split": 0}}


def _run(out_dir, cfg, resume=False):
    dataset = FakeDataset(16)
    dataset.length_report = REPORT
    Trainer(TinyModel(), dataset, FakeSampler(16, 4), cfg, out_dir, collate_fn=collate, resume=resume).fit()


def _data_rows(out_dir):
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return [r for r in rows if r["type"] == "data"]


def test_length_report_written_once_per_run(tmp_path, fast_cfg, capsys):
    _run(tmp_path, fast_cfg(max_steps=2, save_every=2))
    assert "length policy asr: skip (20 kept, 0 cropped, 2 skipped, 0 split)" in capsys.readouterr().err
    _run(tmp_path, fast_cfg(max_steps=4, save_every=2), resume=True)
    rows = _data_rows(tmp_path)
    assert len(rows) == 1 and rows[0]["step"] == 0 and rows[0]["length_policy"] == REPORT
