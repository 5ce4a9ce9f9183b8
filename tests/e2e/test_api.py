"""The Python API (``usam_toolkit.load``) on paths, arrays, tensors, stereo and other rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import usam_toolkit
from usam_toolkit import AudioLLM, ConfigError


@pytest.fixture(scope="module")
def m(infer_checkpoint: Path):
    return usam_toolkit.load(infer_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def clip(smoke_world: Path) -> tuple[Path, np.ndarray, int]:
    import soundfile as sf

    path = smoke_world / "audio" / "test-asr-0.wav"
    samples, sr = sf.read(path, dtype="float32")
    return path, samples, sr


def test_loaded_from_the_checkpoints_recipe(m, infer_checkpoint):
    assert m.tasks == ["asr", "s2tt", "aac", "mc"]
    assert m.checkpoint == infer_checkpoint
    assert isinstance(m.model, AudioLLM)


def test_paths_and_arrays_give_the_same_answer(m, clip):
    path, samples, sr = clip
    one = m.transcribe(str(path))
    assert isinstance(one, str)
    import torch

    several = m.transcribe([path, samples, torch.from_numpy(samples)], sample_rate=sr)
    assert several == [one, one, one]


def test_stereo_tensor_is_the_mean_of_its_channels(m, clip):
    import torch

    _, samples, sr = clip
    stereo = np.stack([samples * 1.5, samples * 0.5])  # mean = samples
    assert m.caption(torch.from_numpy(stereo), sample_rate=sr) == m.caption(samples, sample_rate=sr)


def test_other_sample_rates_are_resampled_to_each_encoder_rate(m, clip):
    from usam_toolkit.infer.audio_input import from_array
    from usam_toolkit.infer.engine import Request
    from usam_toolkit.infer.windows import Window

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(44100)).astype(np.float32)
    sample = m.engine._sample(
        from_array(x, 44100, "a"), Window(0, 0, 44100), Request("asr"), m.model.tasks["asr"]
    )
    assert {sr: int(w.shape[-1]) for sr, w in sample["audio"].items()} == {16000: 16000, 24000: 24000}
    assert (
        sample["prompt_left"] == "<Audio>"
        and sample["prompt_right"] == "</Audio> Transcribe the speech into text."
    )
    assert isinstance(m.transcribe(x, sample_rate=44100), str)
    assert isinstance(m.translate(x[:8000], target="fr", sample_rate=8000), str)


def test_prompts_are_the_task_templates(m, clip):
    path = clip[0]
    res = m.run(path, "s2tt", target_lang="de")[0]
    assert res.ok and res.task == "s2tt"
    # A free-form prompt and generation settings.
    out = m.generate(path, "How many tones are there?", max_new_tokens=2)
    assert isinstance(out, str) and len(m.model.llm.token_ids([out])[0]) <= 4
    with pytest.raises(ConfigError, match="unknown generation setting"):
        m.generate(path, "Hi", beams=3)


def test_long_array_is_windowed(m, monkeypatch):
    assert m.engine.window_seconds == 30.0  # the default; 3 s windows below keep the test fast
    monkeypatch.setattr(m.engine, "window_seconds", 3.0)
    x = np.tile(np.sin(np.linspace(0, 200 * np.pi, 1600)).astype(np.float32) * 0.2, 75)  # 7.5 s
    (res,) = m.run(x, "asr", sample_rate=16000)
    assert [(w.start, w.end) for w in res.windows] == [(0.0, 3.0), (3.0, 6.0), (6.0, 7.5)]
    assert res.text == " ".join(" ".join(w.text for w in res.windows).split())
    assert len(res.routing_weights) == 3 and abs(sum(res.routing_weights) - 1) < 1e-3


def test_clear_errors(m, clip, monkeypatch):
    path, samples, sr = clip
    with pytest.raises(ConfigError, match="sample_rate"):
        m.transcribe(samples)
    bad = samples.copy()
    bad[10] = np.nan
    with pytest.raises(ConfigError, match="array-0.*non_finite"):
        m.transcribe(bad, sample_rate=sr)
    with pytest.raises(ConfigError, match="missing"):
        m.transcribe(str(path) + ".nope")
    with pytest.raises(ConfigError, match="kind 'speech'.*audio, music"):
        m.caption(path, kind="speech")
    # A model whose recipe has no s2tt: the error lists what it has.
    monkeypatch.setattr(m.model, "tasks", {k: v for k, v in m.model.tasks.items() if k != "s2tt"})
    monkeypatch.setattr(m.model, "task_names", ["asr", "aac", "mc"])
    with pytest.raises(ConfigError, match=r"task 's2tt'.*asr, aac, mc"):
        m.translate(path, target="fr")
