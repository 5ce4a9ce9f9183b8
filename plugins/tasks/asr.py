"""Automatic speech recognition (English): WER on Whisper-normalised text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.interfaces import BuildContext

from .base import PromptTask
from .configs import AsrConfig

ASR_PROMPTS = (
    "Transcribe the speech into text.",
    "Write down what is said in the audio.",
    "Recognize the speech and give the transcript.",
    "What does the speaker say? Transcribe it.",
)


class AsrTask(PromptTask):
    name = "asr"
    timestamps = True
    # The target is every word of the clip: a crop would train on words it no longer contains.
    default_length_policy = "skip"
    safe_length_policies = ("skip",)
    metrics: tuple[str, ...] = ("wer",)
    DEFAULT_PROMPTS = ASR_PROMPTS

    def normalize(self, text: str) -> str:
        from usam_toolkit.text.normalize import normalize_english

        return normalize_english(text)


def build_asr(cfg: AsrConfig, ctx: BuildContext) -> AsrTask:
    """Speech recognition: "Transcribe the speech into text."; scored by WER."""
    return AsrTask(cfg, cfg.metrics)


def asr_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it."""
    return {}
