"""Decoding spans with soundfile, mono downmix, bad-audio detection and resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from usam_toolkit.audio.decode import AudioLimits, AudioProblem, audio_info, decode_audio
from usam_toolkit.audio.resample import _resampler, resample, resample_many


def ramp(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) / n) * 0.5 + 0.1


def test_offset_and_duration_read_only_that_span(tmp_path):
    sr = 16000
    x = ramp(sr)  # 1 s, sample k = 0.1 + 0.5 k / sr
    path = tmp_path / "a.wav"
    sf.write(path, x, sr, subtype="FLOAT")
    out = decode_audio(path, offset=0.25, duration=0.5)
    assert out.sample_rate == sr
    assert len(out.samples) == 8000
    np.testing.assert_allclose(out.samples, x[4000:12000])
    tail = decode_audio(path, offset=0.75)  # to the end
    np.testing.assert_allclose(tail.samples, x[12000:])


def test_offset_reads_only_the_span_from_disk(tmp_path, monkeypatch):
    sr = 8000
    path = tmp_path / "long.wav"
    sf.write(path, ramp(sr * 10), sr, subtype="FLOAT")
    calls = []
    real = sf.read

    def spy(*args, **kw):
        calls.append((kw.get("start"), kw.get("stop")))
        return real(*args, **kw)

    monkeypatch.setattr(sf, "read", spy)
    decode_audio(path, offset=2.0, duration=1.0)
    assert calls == [(16000, 24000)]


def test_stereo_is_downmixed_to_mono(tmp_path):
    sr = 16000
    left = np.full(sr // 2, 0.5, dtype=np.float32)
    right = np.full(sr // 2, -0.1, dtype=np.float32)
    path = tmp_path / "st.flac"
    sf.write(path, np.stack([left, right], axis=1), sr)
    out = decode_audio(path)
    assert out.samples.ndim == 1
    np.testing.assert_allclose(out.samples, 0.2, atol=1e-3)  # (0.5 - 0.1) / 2


@pytest.mark.parametrize("ext,fmt", [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG"), (".mp3", "MP3")])
def test_formats(tmp_path, ext, fmt):
    if fmt not in sf.available_formats():
        pytest.skip(
            f"libsndfile {sf.__libsndfile_version__} cannot handle {fmt} (mp3 needs libsndfile >= 1.1)"
        )
    sr = 16000
    t = np.arange(sr // 2) / sr
    x = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"x{ext}"
    sf.write(path, x, sr, format=fmt)
    out = decode_audio(path)
    assert out.sample_rate == sr
    assert abs(len(out.samples) - len(x)) <= 1152  # ogg/mp3 may pad to their frame size
    assert audio_info(path)[0] == sr


def _expect(reason: str, fn, *args, **kw):
    with pytest.raises(AudioProblem) as err:
        fn(*args, **kw)
    assert err.value.reason == reason, err.value
    assert "valid" in err.value.detail
    return err.value


def test_bad_audio_reasons(tmp_path):
    sr = 16000
    _expect("missing", decode_audio, tmp_path / "nope.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00junk" + bytes(range(200)))
    e = _expect("unreadable", decode_audio, corrupt)
    assert str(corrupt) in e.detail
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), sr)
    _expect("empty", decode_audio, empty)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(sr, dtype=np.float32), sr)
    _expect("silent", decode_audio, silent)
    nan = tmp_path / "nan.wav"
    x = ramp(sr)
    x[100] = np.nan
    x[200] = np.inf
    sf.write(nan, x, sr, subtype="FLOAT")
    e = _expect("non_finite", decode_audio, nan)
    assert "2 NaN/inf" in e.detail
    ok = tmp_path / "ok.wav"
    sf.write(ok, ramp(sr), sr)
    _expect("too_long", decode_audio, ok, limits=AudioLimits(max_seconds=0.5))
    _expect("too_short", decode_audio, ok, duration=0.01)
    _expect("bad_span", decode_audio, ok, offset=5.0)
    odd = tmp_path / "odd.wav"
    sf.write(odd, ramp(1000), 1000)
    e = _expect("odd_sample_rate", decode_audio, odd)
    assert "1000 Hz" in e.detail and "4000..192000" in e.detail


def test_resample_two_rates_from_one_decode_matches_torchaudio():
    import torchaudio.functional as F

    sr = 44100
    t = torch.arange(sr) / sr
    wave = 0.5 * torch.sin(2 * math.pi * 1000 * t)
    out = resample_many(wave, sr, [16000, 24000, 16000])
    assert sorted(out) == [16000, 24000]
    assert out[16000].shape[-1] == 16000 and out[24000].shape[-1] == 24000
    torch.testing.assert_close(out[16000], F.resample(wave, sr, 16000), atol=1e-5, rtol=0)
    assert resample(wave, sr, sr) is wave


def test_resampling_kernels_are_cached():
    assert _resampler(44100, 16000) is _resampler(44100, 16000)
    assert _resampler(44100, 16000) is not _resampler(44100, 24000)
