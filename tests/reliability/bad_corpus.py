"""A corpus of broken inputs, written by the tests themselves (no file is shipped).

:func:`write_bad_corpus` writes, under ``folder``, one audio file per fault and a manifest that mixes
them with the good smoke-world test clips. ``EXPECTED`` maps each bad id to the reason code the data
layer must give; ``PROCESSED`` lists the odd-but-valid inputs that must still be used.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

SR = 16000
HUGE_LINE_BYTES = 10 * 1024 * 1024
TWO_HOURS = 2 * 3600

#: bad id -> reason code (validate-data and the dataset must report exactly this).
EXPECTED = {
    "trunc-wav": "unreadable",
    "trunc-flac": "unreadable",
    "zero-length": "unreadable",
    "garbage-wav": "unreadable",
    "nan-samples": "non_finite",
    "rate-1hz": "odd_sample_rate",
    "rate-384k": "odd_sample_rate",
    "two-hours": "too_long",
    "missing-file": "missing",
}
#: lines that are bad before any audio is touched, by reason: a cut line, a 10 MB unterminated line,
#: and a repeated id.
MANIFEST_ONLY = {"malformed_json": 2, "duplicate_id": 1}
#: odd but valid: must be processed (the last two are outside the corpus folder, see outside_ids()).
PROCESSED = ("eight-channel", "dotdot", "symlink-out")


def _tone(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x * (c + 1) / channels for c in range(channels)], axis=1)


def write_sparse_wav(path: Path, seconds: float, sr: int = SR) -> Path:
    """A 16-bit mono wav whose header and size say ``seconds``; the data is a hole (no disk, silence)."""
    n_bytes = int(seconds * sr) * 2
    header = b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", n_bytes)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + n_bytes)
    return path


def write_bad_corpus(folder: Path, world: Path) -> Path:
    """Write the broken files and ``bad.jsonl`` (good smoke test lines first); returns the manifest."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    a = folder / "audio"
    a.mkdir(exist_ok=True)
    sf.write(a / "full.wav", _tone(1.0), SR)
    (a / "trunc-wav.wav").write_bytes((a / "full.wav").read_bytes()[:30])
    sf.write(a / "full.flac", _tone(1.0), SR)
    (a / "trunc-flac.flac").write_bytes((a / "full.flac").read_bytes()[:30])
    (a / "zero-length.wav").write_bytes(b"")
    (a / "garbage-wav.wav").write_bytes(
        np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    )
    nan = _tone(1.0)
    nan[100:200] = np.nan
    sf.write(a / "nan-samples.wav", nan, SR, subtype="FLOAT")
    sf.write(a / "eight-channel.wav", _tone(1.0, channels=8), SR)
    sf.write(a / "rate-1hz.wav", _tone(10.0, sr=1000)[:10], 1)
    sf.write(a / "rate-384k.wav", _tone(0.5, sr=384000), 384000)
    write_sparse_wav(a / "two-hours.wav", TWO_HOURS)
    # Audio outside the corpus folder, reached by '..' and by a symlink inside it.
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir(exist_ok=True)
    sf.write(outside / "elsewhere.wav", _tone(1.0), SR)
    link = a / "symlink-out.wav"
    if not link.exists():
        os.symlink(outside / "elsewhere.wav", link)

    lines = [json.loads(x) for x in (world / "test.jsonl").read_text().splitlines() if x.strip()]
    for rec in lines:
        rec["audio"] = str((world / rec["audio"]).resolve())
    text = [json.dumps(r) for r in lines]

    def rec(rid: str, audio: str) -> str:
        return json.dumps({"id": rid, "audio": audio, "task": "asr", "target": "one two"})

    for rid in EXPECTED:
        ext = ".flac" if rid == "trunc-flac" else ".wav"
        text.append(rec(rid, f"audio/{rid}{ext}"))
    text.append(rec("eight-channel", "audio/eight-channel.wav"))
    text.append(rec("dotdot", f"../{outside.name}/elsewhere.wav"))
    text.append(rec("symlink-out", "audio/symlink-out.wav"))
    text.append('{"id": "malformed", "audio": "audio/full.wav", "task": ')
    text.append('{"id": "huge-line", "target": "' + "a" * HUGE_LINE_BYTES)  # 10 MB, never closed
    text.append(rec(lines[0]["id"], "audio/full.wav"))  # duplicate id of the first good line
    (a / "missing-file.wav").unlink(missing_ok=True)
    manifest = folder / "bad.jsonl"
    manifest.write_text("\n".join(text) + "\n", encoding="utf-8")
    return manifest


def good_ids(world: Path) -> list[str]:
    return [json.loads(x)["id"] for x in (world / "test.jsonl").read_text().splitlines() if x.strip()]


def outside_ids() -> tuple[str, ...]:
    return ("dotdot", "symlink-out")
