"""The loop itself: schedule, loss averaging over accumulation, NaN handling, evaluation and keep-best,
precision, what a person sees (log, TensorBoard, plots)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file
from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

from usam_toolkit.errors import ConfigError
from usam_toolkit.train import checkpoint as ck
from usam_toolkit.train.optim import resolve_precision, warmup_cosine, warmup_linear
from usam_toolkit.train.trainer import Trainer, TrainingStopped, metric_direction


def _rows(out_dir, kind="train"):
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return [r for r in rows if r["type"] == kind]


def _run(out_dir, cfg, batches=None, n=16, bs=4, poison=None, dropout=0.0, **kw):
    sampler = FakeSampler(n, bs, batches=batches)
    return Trainer(
        TinyModel(dropout=dropout),
        FakeDataset(n, poison=poison),
        sampler,
        cfg,
        out_dir,
        collate_fn=collate,
        **kw,
    ).fit()


def _weights(ckpt):
    return load_file(str(ckpt / ck.MODEL_FILE))


def test_warmup_then_linear_decay_by_hand():
    f = warmup_linear(10, 0.13)  # W = ceil(1.3) = 2
    assert [f(s) for s in range(10)] == pytest.approx(
        [0.5, 1.0, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]
    )
    assert warmup_linear(4, 0.0)(0) == 1.0


def test_warmup_then_cosine_to_a_floor_by_hand():
    f = warmup_cosine(8, 2)  # warm-up factor (s+1)/2 until 1; cosine over all 8 steps
    # s=0: 1/2 * 1; s=2: cos(pi/4) -> (1 + 0.7071)/2; s=4: halfway, 1/2; s=8: 0
    assert [f(0), f(2), f(4), f(8)] == pytest.approx([0.5, (1 + 2**-0.5) / 2, 0.5, 0.0])
    g = warmup_cosine(8, 2, floor=0.1)  # the cosine falls to 0.1 instead of 0
    assert [g(4), g(8), g(12)] == pytest.approx([0.1 + 0.9 * 0.5, 0.1, 0.1])


def test_logged_lr_follows_schedule(tmp_path, fast_cfg):
    _run(tmp_path, fast_cfg(max_steps=10, lr=0.1, warmup_ratio=0.13))
    f = warmup_linear(10, 0.13)
    assert [r["lr"] for r in _rows(tmp_path)] == pytest.approx([0.1 * f(s) for s in range(10)])


@pytest.mark.parametrize("split", [[[0, 1, 2, 3], [4, 5]], [[0], [1, 2, 3, 4, 5]]])
def test_accumulation_is_the_sample_weighted_mean(tmp_path, fast_cfg, split):
    """Two uneven micro-batches give the update of one batch holding all six samples."""
    whole = _run(tmp_path / "whole", fast_cfg(max_steps=1, warmup_ratio=0.0), batches=[[0, 1, 2, 3, 4, 5]])
    acc = _run(tmp_path / "acc", fast_cfg(max_steps=1, warmup_ratio=0.0, grad_accum=2), batches=split)
    assert _rows(tmp_path / "acc")[0]["loss"] == pytest.approx(_rows(tmp_path / "whole")[0]["loss"], rel=1e-6)
    wa, wb = _weights(whole.last_checkpoint), _weights(acc.last_checkpoint)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-7, rtol=1e-6)


def test_nan_step_is_skipped_and_counted(tmp_path, fast_cfg):
    cfg = fast_cfg(max_steps=3, warmup_ratio=0.0)
    bad = _run(tmp_path / "bad", cfg, batches=[[0, 1], [2, 3], [4, 5], [6, 7]], poison={2})
    clean = _run(tmp_path / "clean", cfg, batches=[[0, 1], [4, 5], [6, 7]])
    assert bad.bad_steps == 1 and bad.step == 3
    assert [r["loss"] for r in _rows(tmp_path / "bad")] == pytest.approx(
        [r["loss"] for r in _rows(tmp_path / "clean")]
    )
    wa, wb = _weights(bad.last_checkpoint), _weights(clean.last_checkpoint)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_too_many_bad_steps_stop_with_a_usable_checkpoint(tmp_path, fast_cfg):
    cfg = fast_cfg(max_steps=10, max_bad_steps=3, warmup_ratio=0.0)
    with pytest.raises(TrainingStopped, match="3 consecutive steps with a non-finite loss") as e:
        _run(tmp_path, cfg, batches=[[0, 1], [2, 3]], poison={0, 1, 2, 3})
    assert "checkpoint-0" in str(e.value)
    fresh = TinyModel()
    ck.load_trainable(fresh, tmp_path)
    for (n, a), (_, b) in zip(fresh.named_parameters(), TinyModel().named_parameters()):
        assert torch.equal(a, b), f"{n} changed although every step was skipped"
    assert ck.read_trainer_state(ck.find_latest(tmp_path))["bad_steps"] == 3


def test_evaluation_keeps_best_and_leaves_training_rng_alone(tmp_path, fast_cfg):
    values = {2: 3.0, 4: 1.0, 6: 2.0}
    seen = []

    def evaluate(model, step):
        seen.append((step, model.training))
        model.eval()
        torch.rand(5)  # randomness in evaluation must not change the training run
        return {"valid/loss": values[step], "asr/bleu": 10.0}

    cfg = fast_cfg(max_steps=6, eval_every=2, keep_last=1, best_metric="valid/loss")
    res = _run(tmp_path / "eval", cfg, dropout=0.3, evaluate_fn=evaluate)
    _run(tmp_path / "ref", fast_cfg(max_steps=6), dropout=0.3)  # compared through its train_log below
    assert [s for s, _ in seen] == [2, 4, 6]
    assert res.best_checkpoint.name == "checkpoint-4" and res.best_value == 1.0
    assert (tmp_path / "eval" / "best").read_text().strip() == "checkpoint-4"
    assert [p.name for p in ck.list_checkpoints(tmp_path / "eval")] == ["checkpoint-4", "checkpoint-6"]
    assert [r["metrics"]["valid/loss"] for r in _rows(tmp_path / "eval", "eval")] == [3.0, 1.0, 2.0]
    assert [r["loss"] for r in _rows(tmp_path / "eval")] == [r["loss"] for r in _rows(tmp_path / "ref")]


def test_unknown_best_metric_names_the_valid_ones(tmp_path, fast_cfg):
    cfg = fast_cfg(max_steps=1, best_metric="valid/wer")
    with pytest.raises(ConfigError, match=r"'valid/wer' is not among .*valid/loss"):
        _run(tmp_path, cfg, evaluate_fn=lambda m, s: {"valid/loss": 1.0})


def test_metric_direction():
    assert metric_direction("valid/loss") == ("valid/loss", True)
    assert metric_direction("asr/wer") == ("asr/wer", True)
    assert metric_direction("s2tt/bleu") == ("s2tt/bleu", False)
    assert metric_direction("-aac/spider") == ("aac/spider", True)
    assert metric_direction("+valid/loss") == ("valid/loss", False)


def test_precision_resolution(monkeypatch):
    import usam_toolkit.precision as prec

    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: (False, "has no avx512_bf16/amx_bf16"))
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).dtype is None  # test_precision.py covers a CPU with native bf16
    assert resolve_precision("bf16", cpu).dtype is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="not one of auto, fp32, bf16, fp16"):
        resolve_precision("fp8", cpu)


def test_bf16_autocast_on_cpu_trains(tmp_path, fast_cfg):
    res = _run(tmp_path, fast_cfg(max_steps=2, precision="bf16"))
    assert res.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in _rows(tmp_path))


def test_what_a_person_sees(tmp_path, fast_cfg):
    pytest.importorskip("matplotlib", reason="plots need matplotlib")
    cfg = fast_cfg(max_steps=4, log_every=2, plots=True, tensorboard=True, progress=True)
    _run(tmp_path, cfg, task_names=["asr", "aac"])
    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == [2, 4]
    for key in ("epoch", "loss", "lr", "grad_norm", "samples_per_s", "audio_s_per_s", "time"):
        assert key in rows[0]
    assert set(rows[0]["logs"]) == {"loss/mse", "loss/aux"}
    assert (tmp_path / "plots" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "routing_weights.png").stat().st_size > 1000
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_tensorboard_missing_is_a_notice(tmp_path, fast_cfg, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    _run(tmp_path, fast_cfg(max_steps=1, tensorboard=True))
    assert "tensorboard is not installed" in capsys.readouterr().err
    assert not (tmp_path / "tensorboard").exists()


def test_routing_weights_mean_per_task(tmp_path, fast_cfg, monkeypatch):
    """The figure gets the mean of the routing weights over each task's training samples."""
    import usam_toolkit.train.plots as plots

    got = {}
    monkeypatch.setattr(plots, "plot_routing_weights", lambda w, names, out: got.update(w=w, names=names))
    monkeypatch.setattr(plots, "plot_loss_curve", lambda *a: None)
    _run(tmp_path, fast_cfg(max_steps=2, plots=True), task_names=["asr", "aac"])
    assert got["names"] == ["asr", "aac"]
    assert got["w"].shape == (2, 3)
    assert got["w"].sum(axis=1) == pytest.approx([1.0, 1.0])  # softmax weights: each mean sums to 1


def test_no_trainable_parameters_is_a_config_error(tmp_path, fast_cfg):
    model = TinyModel()
    model.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        Trainer(
            model, FakeDataset(4), FakeSampler(4, 2), fast_cfg(max_steps=1), tmp_path, collate_fn=collate
        ).fit()


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_gpu(tmp_path, fast_cfg, precision):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    res = _run(tmp_path, fast_cfg(max_steps=4, precision=precision, save_every=2), dropout=0.1)
    assert res.step == 4
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in _rows(tmp_path))
    res2 = _run(tmp_path, fast_cfg(max_steps=6, precision=precision), resume=True)
    assert res2.step == 6
