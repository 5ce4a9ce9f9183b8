"""A run that starts from step 0 starts its ``train_log.jsonl`` afresh: the steps of an attempt killed
before its first checkpoint are not left in the log beside the new ones."""

from __future__ import annotations

import json

from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

from usam_toolkit.train.trainer import Trainer


def _train_steps(out_dir) -> list[int]:
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r["type"] == "train"]


def _run(out_dir, cfg, resume):
    return Trainer(
        TinyModel(),
        FakeDataset(12),
        FakeSampler(12, 4, seed=3),
        cfg,
        out_dir,
        collate_fn=collate,
        seed=7,
        resume=resume,
    ).fit()


def test_resume_after_a_kill_before_the_first_checkpoint(tmp_path, fast_cfg):
    # What a SIGKILL at step 3 leaves when save_every is larger: log lines, no checkpoint.
    with open(tmp_path / "train_log.jsonl", "w") as f:
        f.writelines(json.dumps({"type": "train", "step": step, "loss": 9.0}) + "\n" for step in (1, 2, 3))
    result = _run(tmp_path, fast_cfg(max_steps=4, save_every=100), resume=True)
    assert result.step == 4
    assert _train_steps(tmp_path) == [1, 2, 3, 4]
    rows = (tmp_path / "train_log.jsonl").read_text().splitlines()
    assert 9.0 not in [json.loads(x).get("loss") for x in rows]


def test_a_fresh_run_in_a_used_folder_starts_its_log_afresh(tmp_path, fast_cfg):
    _run(tmp_path, fast_cfg(max_steps=3), resume=False)
    _run(tmp_path, fast_cfg(max_steps=2), resume=False)
    assert _train_steps(tmp_path) == [1, 2]
