"""A run stopped at step 5 and resumed reproduces the uninterrupted run exactly (losses, weights)."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from safetensors.torch import load_file
from train_fakes import run_tiny_trainer

from usam_toolkit.train.checkpoint import find_latest


def _losses(out_dir):
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["type"] == "train"}


def _run(out_dir, cfg, stop_at=None, resume=False, signal_at=None):
    return run_tiny_trainer(out_dir, cfg, stop_at=stop_at, resume=resume, signal_at=signal_at)[1]


@pytest.mark.parametrize("how", ["request_stop", "sigterm"])
def test_resume_is_exact(tmp_path, fast_cfg, how):
    cfg = fast_cfg(max_steps=12, grad_accum=2, save_every=4)
    full = _run(tmp_path / "full", cfg)
    assert full.step == 12 and full.reason == "max_steps"

    if how == "request_stop":
        first = _run(tmp_path / "split", cfg, stop_at=5)
        assert first.reason == "stop requested"
    else:
        first = _run(tmp_path / "split", cfg, signal_at=5)
        assert first.reason == "signal SIGTERM"
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    assert first.step == 5
    assert find_latest(tmp_path / "split").name == "checkpoint-5"
    second = _run(tmp_path / "split", cfg, resume=True)
    assert second.step == 12

    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "split")
    assert sorted(a) == sorted(b) == list(range(1, 13))
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-6), step
    wa = load_file(str(tmp_path / "full" / "checkpoint-12" / "model.safetensors"))
    wb = load_file(str(tmp_path / "split" / "checkpoint-12" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_resume_drops_log_lines_of_the_killed_run(tmp_path, fast_cfg):
    cfg = fast_cfg(max_steps=6, save_every=3)
    _run(tmp_path, cfg, stop_at=4)  # checkpoints at 3 and 4
    # pretend the process died after logging step 5 but before any checkpoint
    with open(tmp_path / "train_log.jsonl", "a") as f:
        f.write(json.dumps({"type": "train", "step": 5, "loss": 123.0}) + "\n")
    _run(tmp_path, cfg, resume=True)
    losses = _losses(tmp_path)
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    assert losses[5] != 123.0


def test_resume_without_checkpoint_starts_fresh(tmp_path, fast_cfg):
    result = _run(tmp_path, fast_cfg(max_steps=2), resume=True)
    assert result.step == 2
