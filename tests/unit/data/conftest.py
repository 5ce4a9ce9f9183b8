"""Fixtures for the data-layer tests: tiny generated audio files and manifests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tone(seconds: float, sr: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (0.3 * np.sin(2 * math.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.fixture
def write_audio():
    """``write_audio(path, seconds, sr=16000, **kw)`` writes a sine tone in the format of the suffix."""

    def _write(
        path: Path, seconds: float = 0.5, sr: int = 16000, freq: float = 440.0, channels: int = 1
    ) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(seconds, sr, freq, channels), sr)
        return path

    return _write


@pytest.fixture
def write_jsonl():
    """``write_jsonl(path, records)``; a record that is a str is written verbatim (malformed lines)."""

    def _write(path: Path, records) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for r in records:
                f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
        return path

    return _write


@pytest.fixture(scope="session")
def tasks():
    """The four built-in task objects, built through the registry."""
    from usam_toolkit.interfaces import BuildContext
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)
    ctx = BuildContext()
    return {n: reg.build("tasks", {"name": n}, ctx, f"tasks.{n}") for n in ("asr", "s2tt", "aac", "mc")}
