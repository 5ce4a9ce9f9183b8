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


def test_a_small_flac_claiming_too_much_audio_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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


def test_decoded_size_from_the_header_by_hand() -> None:
    from usam_toolkit.infer.audio_input import BytesInfo

    # 12 s, 8 channels, 192 kHz: 2,304,000 frames; room for 1/8 more (288,000 > one second of 192,000);
    # 4 MiB blocks of 8 float32 channels are 131,072 frames.
    info = BytesInfo(frames=2_304_000, channels=8, sample_rate=192_000)
    assert info.capacity == 2_592_000 and info.block_frames == 131_072
    assert info.decoded_bytes == 5 * 2_592_000 + 4 * 8 * 131_072 == 17_154_304
    # A short mono clip: one second of room, and the block is no longer than the clip.
    short = BytesInfo(frames=8000, channels=1, sample_rate=16000)
    assert short.capacity == 24_000 and short.decoded_bytes == 5 * 24_000 + 4 * 24_000


def test_blockwise_downmix_equals_the_whole_file_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    import usam_toolkit.infer.audio_input as ai

    x = (0.2 * np.random.default_rng(0).standard_normal((10_000, 3))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 8000, format="WAV", subtype="FLOAT")
    monkeypatch.setattr(ai, "DECODE_BLOCK_BYTES", 1024 * 3 * 4)  # 1024-frame blocks: 10 of them
    clip = ai.load_bytes(buf.getvalue(), "three.wav")
    np.testing.assert_array_equal(clip.samples, x.mean(axis=1))


def test_a_many_channel_upload_never_lives_in_memory_whole() -> None:
    import tracemalloc

    from usam_toolkit.infer.audio_input import probe_bytes

    x = (0.1 * np.random.default_rng(1).standard_normal((48_000 * 20, 8))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 48_000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    del x, buf
    info = probe_bytes(data, "eight.wav")
    whole = info.frames * info.channels * 4  # what reading every channel at once would take: 30.7 MB
    tracemalloc.start()
    clip = load_bytes(data, "eight.wav", info=info)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert clip.seconds == pytest.approx(20.0)
    assert peak <= info.decoded_bytes + 256 * 1024 and peak < whole / 3


def test_content_longer_than_its_header_is_refused() -> None:
    from usam_toolkit.infer.audio_input import BytesInfo

    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.ones(24_000, dtype=np.float32), 8000, format="WAV")
    # Room for 8000 + 8000 frames; the file holds 24,000 (as an mp3 whose length was estimated might).
    with pytest.raises(InputProblem, match="x.wav: header_mismatch: decodes to more than the 8000 frames"):
        load_bytes(buf.getvalue(), "x.wav", info=BytesInfo(8000, 1, 8000))


def test_unsupported_type_names_the_upload_not_a_python_object() -> None:
    with pytest.raises(InputProblem) as err:
        load_bytes(b"<html>not audio</html>" * 20, "page.wav")
    assert "Error opening 'page.wav': Format not recognised" in str(err.value)
    assert "BytesIO" not in str(err.value) and "0x" not in str(err.value)
