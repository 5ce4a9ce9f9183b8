"""The Python API for people: load a checkpoint, ask about audio.

Example::

    import usam_toolkit

    m = usam_toolkit.load("runs/smoke")                   # a checkpoint, or a run folder (its latest one)
    m.transcribe("talk.wav")                              # -> str
    m.translate(["a.wav", "b.flac"], target="fr")         # -> list[str]
    m.caption(samples, sample_rate=44100, kind="music")   # numpy / torch, [N] or [channels, N]
    m.generate("dog.wav", "How many barks are there?", max_new_tokens=16)

Audio of any length is decoded in windows (``window_seconds``, default 30 s, no overlap) and the
answers are stitched (see :mod:`usam_toolkit.infer.windows`). Arrays go through the same downmix
and resampling as files, and prompts are the task plugins' own templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .infer.audio_input import InputProblem, is_single, to_inputs
from .infer.engine import Engine, Request, Result, drop_feature_cache

#: ``caption(kind=...)`` -> task name.
CAPTION_TASKS = {"audio": "aac", "music": "mc"}


class UsamInference:
    """A checkpoint loaded for inference; create it with :func:`load` (``usam_toolkit.load``).

    Attributes:
        model: the :class:`~usam_toolkit.model.audio_llm.AudioLLM`.
        cfg: the checkpoint's recipe.
        engine: windowing/batching/decoding (:class:`~usam_toolkit.infer.engine.Engine`).
        checkpoint: the resolved checkpoint folder.
    """

    def __init__(
        self,
        model: Any,
        cfg: Any,
        device: str = "cpu",
        checkpoint: Path | None = None,
        window_seconds: float | None = 30.0,
        overlap_seconds: float = 0.0,
        batch_size: int | None = None,
        precision: str = "auto",
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.device = device
        self.checkpoint = checkpoint
        self.engine = Engine(model, cfg, device, batch_size, window_seconds, overlap_seconds, precision)

    @property
    def precision(self) -> str:
        """What inference runs in (``fp32``, ``bf16``, ``fp16``); ``engine.precision.reason`` says why."""
        return self.engine.precision.name

    @property
    def tasks(self) -> list[str]:
        """The tasks this model was trained for (from its recipe)."""
        return self.engine.task_names

    def __repr__(self) -> str:
        return f"UsamInference(checkpoint={self.checkpoint}, tasks={self.tasks}, device={self.device})"

    # ------------------------------------------------------------------ the general call
    def run(
        self,
        audio: Any,
        task: str,
        *,
        prompt: str | None = None,
        target_lang: str | None = None,
        sample_rate: int | None = None,
        **generation: Any,
    ) -> list[Result]:
        """Full results (windows, times, routing weights) for every clip of ``audio``.

        Raises:
            ConfigError: ``task`` is not one of the model's tasks (the message lists them).
            UsamError: a clip cannot be used (missing, unreadable, empty, NaN ...), naming it.
        """
        self.engine.check_task(task)
        try:
            clips = to_inputs(audio, sample_rate)
        except InputProblem as p:
            raise ConfigError(f"cannot use audio {p.name}: {p.reason}: {p.detail}") from None
        return self.engine.run(clips, Request(task, prompt, target_lang), generation)

    def _answer(self, audio: Any, task: str, **kwargs: Any) -> str | list[str]:
        texts = [r.text for r in self.run(audio, task, **kwargs)]
        return texts[0] if is_single(audio) else texts

    # ------------------------------------------------------------------ per task
    def transcribe(self, audio: Any, sample_rate: int | None = None, **generation: Any) -> str | list[str]:
        """Speech recognition (task ``asr``): str for one clip, list[str] for a list of clips."""
        return self._answer(audio, "asr", sample_rate=sample_rate, **generation)

    def translate(
        self, audio: Any, target: str = "zh", sample_rate: int | None = None, **generation: Any
    ) -> str | list[str]:
        """Speech translation (task ``s2tt``) into language code ``target`` (``fr``, ``de``, ``zh`` ...)."""
        return self._answer(audio, "s2tt", target_lang=target, sample_rate=sample_rate, **generation)

    def caption(
        self, audio: Any, kind: str = "audio", sample_rate: int | None = None, **generation: Any
    ) -> str | list[str]:
        """Audio captioning (``kind="audio"``, task ``aac``) or music captioning (``kind="music"``,
        task ``mc``)."""
        if kind not in CAPTION_TASKS:
            raise ConfigError(f"caption kind '{kind}' is not valid (valid: {', '.join(CAPTION_TASKS)})")
        return self._answer(audio, CAPTION_TASKS[kind], sample_rate=sample_rate, **generation)

    def generate(
        self,
        audio: Any,
        prompt: str,
        sample_rate: int | None = None,
        task: str | None = None,
        **generation: Any,
    ) -> str | list[str]:
        """Answer a free-form ``prompt`` about the audio.

        ``task`` (default: the model's first task) only picks the task id the projectors see; the text
        the LLM and the TAPM router read is ``prompt`` inside the usual ``<Audio>...</Audio>`` frame.
        """
        return self._answer(
            audio, task or self.tasks[0], prompt=prompt, sample_rate=sample_rate, **generation
        )

    def routing_weights(
        self, audio: Any, task: str, sample_rate: int | None = None, prompt: str | None = None
    ) -> list[float] | list[list[float]] | None:
        """TAPM routing weights ``[N_experts]`` per clip (None when the model has no TAPM)."""
        weights = [r.routing_weights for r in self.run(audio, task, prompt=prompt, sample_rate=sample_rate)]
        return weights[0] if is_single(audio) else weights  # type: ignore[return-value]


def load(
    checkpoint: str | Path,
    device: str | None = None,
    overrides: Sequence[str] = (),
    window_seconds: float | None = 30.0,
    overlap_seconds: float = 0.0,
    batch_size: int | None = None,
    feature_cache: bool = False,
    precision: str = "auto",
) -> UsamInference:
    """Load a checkpoint folder (or a run folder: its latest checkpoint) with its own recorded recipe.

    Args:
        checkpoint: ``checkpoint-<step>/`` or the run folder.
        device: ``cpu``, ``cuda`` ... (default: CUDA when available).
        overrides: recipe overrides (``key=value``), e.g. ``evaluate.strategy=beam``.
        window_seconds: long audio is decoded in windows of this length (None: whole clips).
        overlap_seconds: overlap between windows (stitching drops words repeated at junctions).
        batch_size: windows per forward pass (default: the recipe's ``evaluate.batch_size``).
        feature_cache: keep the recipe's on-disk encoder cache (``data.feature_cache``). Off by
            default: that cache is the training corpus's, and inference would add a file per new clip.
        precision: ``auto`` (bf16 where the device computes it natively, else fp32), ``fp32``, ``bf16``
            or ``fp16`` (CUDA only); see :mod:`usam_toolkit.precision`.
    """
    import os

    from .pipeline import load_for_evaluation, pick_device
    from .train.checkpoint import resolve_checkpoint

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ckpt = resolve_checkpoint(checkpoint)
    dev = pick_device(device)
    cfg, model = load_for_evaluation(ckpt, overrides, device=dev)
    if not feature_cache:
        drop_feature_cache(model)
    return UsamInference(model, cfg, dev, ckpt, window_seconds, overlap_seconds, batch_size, precision)
