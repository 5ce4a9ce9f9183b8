"""The smoke world: a few procedurally generated clips per task and a tiny random LLM, in seconds.

``recipes/mini/smoke.yaml`` trains on it; the tests use it to run every stage end to end without any
Debian package. Audio is synthetic on purpose (tone "words", beeps, chords): it proves the code paths,
not the model's quality — the mini world (``usam mini build``) is where real audio lives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
#: The recipe that trains on the smoke world (shipped with the source tree).
SMOKE_RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "mini" / "smoke.yaml"

# Each English word is a tone of its own frequency; translation maps the words to French.
WORDS = {"one": 300.0, "two": 420.0, "three": 560.0, "four": 700.0, "five": 860.0}
FRENCH = {"one": "un", "two": "deux", "three": "trois", "four": "quatre", "five": "cinq"}
EVENTS = {"beep": 1500.0, "buzz": 180.0}
CHORDS = {"major": (1.0, 1.26, 1.5), "minor": (1.0, 1.19, 1.5)}


def _tone(freq: float, seconds: float, rng: np.random.Generator, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    env = np.minimum(1.0, np.minimum(t, t[::-1]) * 40)  # 25 ms fades, no clicks
    return (amp * env * np.sin(2 * np.pi * freq * t + rng.uniform(0, np.pi))).astype(np.float32)


def _speech_like(words: list[str], rng: np.random.Generator) -> np.ndarray:
    parts = []
    for w in words:
        parts += [
            _tone(WORDS[w], rng.uniform(0.18, 0.25), rng),
            np.zeros(int(0.05 * SAMPLE_RATE), np.float32),
        ]
    return np.concatenate(parts)


def _events(kind: str, count: int, rng: np.random.Generator) -> np.ndarray:
    parts = []
    for _ in range(count):
        parts += [_tone(EVENTS[kind], 0.15, rng, amp=0.4), np.zeros(int(0.15 * SAMPLE_RATE), np.float32)]
    return np.concatenate(parts) + 0.005 * rng.standard_normal(sum(len(p) for p in parts)).astype(np.float32)


def _chord(mode: str, tempo: str, rng: np.random.Generator) -> np.ndarray:
    root = rng.uniform(200, 260)
    beat = 0.4 if tempo == "fast" else 0.8
    notes = [sum(_tone(root * r, beat, rng, amp=0.15) for r in CHORDS[mode]) for _ in range(2)]
    return np.concatenate(notes).astype(np.float32)


def write_smoke_world(
    out: Path, per_task: tuple[int, int, int] = (8, 2, 2), seed: int = 0, llm_hidden: int = 32
) -> Path:
    """Write ``train.jsonl``, ``dev.jsonl``, ``test.jsonl``, the wav files and ``tiny-lm/`` under ``out``.

    Args:
        out: folder (created).
        per_task: examples per task in train, dev and test.
        seed: everything is a function of it.
        llm_hidden: width of the tiny random LLM.

    Returns:
        ``out``.
    """
    import soundfile as sf
    from usam_plugins.llms.tiny import write_tiny_causal_lm

    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = list(WORDS)
    splits = dict(zip(("train", "dev", "test"), per_task))
    texts: list[str] = []
    for split, n in splits.items():
        records = []
        for i in range(n):
            k = int(rng.integers(2, 4))
            said = [words[j] for j in rng.choice(len(words), size=k, replace=False)]
            kind, count = ("beep", "buzz")[i % 2], 1 + i % 3
            mode, tempo = ("major", "minor")[i % 2], ("slow", "fast")[(i // 2) % 2]
            items = [
                ("asr", _speech_like(said, rng), " ".join(said), {}),
                (
                    "s2tt",
                    _speech_like(said, rng),
                    " ".join(FRENCH[w] for w in said),
                    {"source_text": " ".join(said), "source_lang": "en", "target_lang": "fr"},
                ),
                (
                    "aac",
                    _events(kind, count, rng),
                    [
                        f"a {kind} sounds {('once', 'twice', 'three times')[count - 1]}",
                        f"{('one', 'two', 'three')[count - 1]} {kind} sounds",
                    ],
                    {},
                ),
                (
                    "mc",
                    _chord(mode, tempo, rng),
                    [f"a {tempo} {mode} chord", f"{tempo} chords in a {mode} key"],
                    {},
                ),
            ]
            for task, audio, target, extra in items:
                rid = f"{split}-{task}-{i}"
                path = out / "audio" / f"{rid}.wav"
                sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
                rec = {
                    "id": rid,
                    "audio": f"audio/{rid}.wav",
                    "duration": round(len(audio) / SAMPLE_RATE, 4),
                    "task": task,
                    "target": target,
                    **extra,
                }
                records.append(rec)
                texts += target if isinstance(target, list) else [target]
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
    write_tiny_causal_lm(out / "tiny-lm", vocab_texts=sorted(set(texts)) * 4, hidden=llm_hidden, seed=seed)
    return out
