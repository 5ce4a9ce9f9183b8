"""The benchmark's clips: synthetic "speech" (one tone per word, as in the smoke world) of exact lengths.

Timing does not depend on what the audio says, only on its length; the targets are real words so the
LLM sees a realistic number of target tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
_WORDS = {"one": 300.0, "two": 420.0, "three": 560.0, "four": 700.0, "five": 860.0}
#: Words said per second of clip (about a speaking rate of 2.5 words/s).
WORDS_PER_SECOND = 2.5


def _clip(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    n = round(seconds * SAMPLE_RATE)
    words = [str(w) for w in rng.choice(list(_WORDS), size=max(1, int(seconds * WORDS_PER_SECOND)))]
    t = np.arange(n) / SAMPLE_RATE
    slot = max(1, n // len(words))
    wave = 0.005 * rng.standard_normal(n)
    for i, w in enumerate(words):
        part = slice(i * slot, min(n, (i + 1) * slot))
        wave[part] += 0.3 * np.sin(2 * np.pi * _WORDS[w] * t[part])
    return wave.astype(np.float32), " ".join(words)


def write_clips(out: Path, name: str, seconds: Sequence[float], seed: int = 0) -> Path:
    """Write one wav per duration and an ``asr`` manifest ``<out>/<name>.jsonl`` listing them.

    Args:
        out: folder (created); wavs go to ``<out>/audio/<name>_<i>.wav``.
        name: manifest stem.
        seconds: the clip lengths.
        seed: audio and words are a function of it.

    Returns:
        The manifest path.
    """
    import soundfile as sf

    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines: list[dict[str, Any]] = []
    for i, s in enumerate(seconds):
        wave, text = _clip(float(s), rng)
        rel = f"audio/{name}_{i}.wav"
        sf.write(str(out / rel), wave, SAMPLE_RATE, subtype="FLOAT")
        lines.append(
            {"id": f"{name}-{i}", "audio": rel, "task": "asr", "target": text, "group": f"{name}-{i}"}
        )
    manifest = out / f"{name}.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return manifest


def random_clip(seconds: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """One synthetic clip (16 kHz float32) and its words, in memory."""
    return _clip(seconds, np.random.default_rng(seed))
