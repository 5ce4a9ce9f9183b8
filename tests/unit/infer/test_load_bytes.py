"""Uploads are checked from their header before they are decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from usam_toolkit.audio.decode import AudioLimits
from usam_toolkit.infer.audio_input import InputProblem, load_bytes


def _encoded(seconds: float, fmt: str, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * sr), dtype=np.float32), sr, format=fmt)
    return buf.getvalue()


def test_a_small_flac_claiming_too_much_audio_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encoded(70.0, "FLAC")
    assert len(data) < 10_000  # silence compresses ~1000:1: the size limit alone cannot catch it
    monkeypatch.setattr(sf, "read", lambda *a, **k: pytest.fail("decoded before the length check"))
    with pytest.raises(InputProblem, match="x.flac: too_long: 70 s of audio; at most 60 s are accepted"):
        load_bytes(data, "x.flac", AudioLimits(max_seconds=60))


def test_garbage_is_an_unsupported_type() -> None:
    with pytest.raises(InputProblem, match="g.wav: unsupported_type: not audio libsndfile can decode"):
        load_bytes(b"\x00garbage" * 50, "g.wav")


def test_a_short_clip_decodes() -> None:
    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.sin(np.arange(8000) / 5).astype(np.float32), 8000, format="WAV")
    clip = load_bytes(buf.getvalue(), "ok.wav")
    assert clip.sample_rate == 8000 and abs(clip.seconds - 1.0) < 1e-6
