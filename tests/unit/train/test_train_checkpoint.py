"""Checkpoint folders: contents, weights_only loading, atomicity, rotation, strict loading, recipe hook."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

from usam_toolkit.train import checkpoint as ck
from usam_toolkit.train.trainer import Trainer


def _train(out_dir, cfg, **kw):
    return Trainer(
        TinyModel(), FakeDataset(16), FakeSampler(16, 4), cfg, out_dir, collate_fn=collate, **kw
    ).fit()


def test_checkpoint_contents(tmp_path, fast_cfg):
    recipe = "experiment: tiny\ntrain:\n  lr: 0.01\n"
    prov = {"encoders.whisper": {"distribution": "usam-toolkit", "version": "0.1.0"}}
    res = _train(tmp_path, fast_cfg(max_steps=4, save_every=2), recipe=recipe, provenance=prov)
    ckpt = res.last_checkpoint
    assert ckpt.name == "checkpoint-4" and ck.find_latest(tmp_path) == ckpt
    assert (tmp_path / "latest").read_text().strip() == "checkpoint-4"
    names = set(load_file(str(ckpt / ck.MODEL_FILE)))
    trainable = {n for n, p in TinyModel().named_parameters() if p.requires_grad}
    assert names == trainable and not any(n.startswith("frozen.") for n in names)
    optim = torch.load(ckpt / ck.OPTIMIZER_FILE, weights_only=True)
    assert set(optim["state"]) == trainable
    assert set(optim["state"]["body.0.weight"]) == {"step", "exp_avg", "exp_avg_sq"}
    sched = torch.load(ckpt / ck.SCHEDULER_FILE, weights_only=True)
    assert sched["last_epoch"] == 4
    state = json.loads((ckpt / ck.STATE_FILE).read_text())
    assert state["step"] == 4 and state["consumed_samples"] == 16
    # all 4 batches of epoch 0 consumed; the epoch rolls over when the next batch is asked for
    assert state["epoch"] == 0 and state["batch_in_epoch"] == 4
    rng = state["rng"][0]
    assert isinstance(rng["torch"], list) and len(rng["python"][1]) == 625 and rng["numpy"][0] == "MT19937"
    assert (ckpt / ck.RECIPE_FILE).read_text() == recipe
    assert json.loads((ckpt / ck.PROVENANCE_FILE).read_text()) == prov


def test_keep_last_rotates(tmp_path, fast_cfg):
    _train(tmp_path, fast_cfg(max_steps=6, save_every=1, keep_last=2))
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["checkpoint-5", "checkpoint-6"]


def test_kill_mid_write_keeps_previous_checkpoint(tmp_path, fast_cfg, monkeypatch):
    _train(tmp_path, fast_cfg(max_steps=2))
    good = ck.find_latest(tmp_path)
    assert good.name == "checkpoint-2"

    def die(*a, **k):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(ck.torch, "save", die)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(
            tmp_path,
            3,
            model_state={"w": torch.ones(2)},
            optimizer_state={},
            scheduler_state={},
            trainer_state={"step": 3},
        )
    monkeypatch.undo()
    stale = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert stale, "the half-written folder is where a kill leaves it"
    assert ck.find_latest(tmp_path) == good
    model = TinyModel()
    assert ck.load_trainable(model, tmp_path) == good
    # the next run cleans the stale folder and resumes from the intact checkpoint
    res = _train(tmp_path, fast_cfg(max_steps=3), resume=True)
    assert res.step == 3
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_find_latest_without_pointer(tmp_path):
    for step in (2, 10):
        ck.save_checkpoint(
            tmp_path,
            step,
            model_state={"w": torch.ones(1)},
            optimizer_state={},
            scheduler_state={},
            trainer_state={"step": step},
        )
    (tmp_path / "latest").unlink()
    (tmp_path / "checkpoint-99").mkdir()  # incomplete: no trainer_state.json
    assert ck.find_latest(tmp_path).name == "checkpoint-10"
    assert ck.find_latest(tmp_path / "nothing") is None


def test_load_trainable_roundtrip_and_refusals(tmp_path):
    model = TinyModel(seed=1)
    ck.save_checkpoint(
        tmp_path,
        1,
        model_state=ck.trainable_state_dict(model),
        optimizer_state={},
        scheduler_state={},
        trainer_state={"step": 1},
    )
    other = TinyModel(seed=2)
    ck.load_trainable(other, tmp_path)
    for (n, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        if a.requires_grad:
            assert torch.equal(a, b), n
        else:
            assert not torch.equal(a, b), "frozen weights are not in the checkpoint"

    wider = TinyModel(hidden=5)
    wider.extra = nn.Linear(2, 2)
    with pytest.raises(ck.CheckpointError) as e:
        ck.load_trainable(wider, tmp_path)
    msg = str(e.value)
    assert "missing: extra.bias, extra.weight" in msg
    assert "shape mismatch: body.0.bias: checkpoint (8,) vs model (5,)" in msg

    smaller = TinyModel()
    smaller.router.requires_grad_(False)
    smaller.router = nn.Identity()
    with pytest.raises(ck.CheckpointError, match="unexpected: router.bias, router.weight"):
        ck.load_trainable(smaller, tmp_path)


def test_declared_buffers_are_saved(tmp_path):
    model = TinyModel()
    model.register_buffer("running", torch.arange(3.0))
    model.trainable_buffer_names = ("running",)
    state = ck.trainable_state_dict(model)
    assert torch.equal(state["running"], torch.arange(3.0))


def test_recipe_check_refuses_with_reason(tmp_path, fast_cfg):
    _train(tmp_path, fast_cfg(max_steps=1), recipe={"llm": {"name": "smollm2"}})

    def same_llm(saved, current):
        if saved.get("llm") != current.get("llm"):
            return [f"llm: checkpoint {saved.get('llm')} vs recipe {current.get('llm')}"]
        return []

    with pytest.raises(ck.CheckpointError, match="(?s)incompatible recipe.*llm: checkpoint"):
        _train(
            tmp_path,
            fast_cfg(max_steps=2),
            recipe={"llm": {"name": "qwen"}},
            recipe_check=same_llm,
            resume=True,
        )
    res = _train(
        tmp_path,
        fast_cfg(max_steps=2),
        recipe={"llm": {"name": "smollm2"}},
        recipe_check=same_llm,
        resume=True,
    )
    assert res.step == 2


def test_resume_from_explicit_missing_path_is_an_error(tmp_path, fast_cfg):
    with pytest.raises(ck.CheckpointError, match="not a checkpoint folder"):
        _train(tmp_path, fast_cfg(max_steps=1), resume=tmp_path / "nope")


def test_atomic_pointer_write_leaves_no_temp(tmp_path):
    ck.save_checkpoint(
        tmp_path,
        1,
        model_state={"w": torch.ones(1)},
        optimizer_state={},
        scheduler_state={},
        trainer_state={"step": 1},
    )
    ck.save_checkpoint(
        tmp_path,
        1,
        model_state={"w": torch.zeros(1)},
        optimizer_state={},
        scheduler_state={},
        trainer_state={"step": 1},
    )  # re-saving a step replaces it
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-1", "latest"]
    assert torch.equal(load_file(str(tmp_path / "checkpoint-1" / ck.MODEL_FILE))["w"], torch.zeros(1))
