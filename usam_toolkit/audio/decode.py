"""Decode one span of an audio file to mono float32 with soundfile, and check it is usable.

Only the requested span is read (``soundfile`` seeks to ``offset``), so a 10 s excerpt of a one-hour
recording costs 10 s of decoding. Every problem raises :class:`AudioProblem` with a short reason code
(``missing``, ``not_a_file``, ``unreadable``, ``empty``, ``silent``, ``non_finite``, ``too_long``,
``too_short``, ``odd_sample_rate``, ``bad_span``) so callers can count reasons and name the location.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class AudioProblem(Exception):
    """An audio file or span that cannot be used.

    Attributes:
        reason: short machine-readable code (see module docstring).
        detail: human-readable explanation including what would be valid.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class AudioLimits:
    """Bounds outside which audio is rejected as bad input rather than processed.

    Attributes:
        min_seconds: shorter spans are ``too_short``.
        max_seconds: longer spans are ``too_long`` (an absurd length, e.g. a wrong offset unit).
        min_sample_rate: lower native rates are ``odd_sample_rate``.
        max_sample_rate: higher native rates are ``odd_sample_rate``.
    """

    min_seconds: float = 0.05
    max_seconds: float = 3600.0
    min_sample_rate: int = 4000
    max_sample_rate: int = 192000


@dataclass
class DecodedAudio:
    """Mono samples of one span.

    Attributes:
        samples: ``[N]`` float32 in [-1, 1] (not clipped), at ``sample_rate``.
        sample_rate: native rate of the file.
    """

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def audio_info(path: str | Path) -> tuple[int, int]:
    """``(sample_rate, frames)`` read from the header only.

    Raises:
        AudioProblem: ``missing``, ``not_a_file`` or ``unreadable``.
    """
    import soundfile as sf

    p = Path(path)
    if p.is_dir():
        raise AudioProblem("not_a_file", f"audio path {p} is a directory (valid: an audio file)")
    if p.exists() and not p.is_file():
        raise AudioProblem("not_a_file", f"audio path {p} is not a regular file (valid: an audio file)")
    if not p.is_file():
        raise AudioProblem("missing", f"audio file {p} does not exist (valid: an existing audio file)")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises several types for corrupt headers
        raise AudioProblem(
            "unreadable",
            f"libsndfile cannot read {p}: {exc} (valid: wav, flac, ogg, mp3 ... readable by libsndfile)",
        ) from None
    return int(info.samplerate), int(info.frames)


def check_sample_rate(sample_rate: int, path: str | Path, limits: AudioLimits) -> None:
    """Reject rates no encoder pipeline should see (e.g. 0 Hz or 1 MHz headers)."""
    if not limits.min_sample_rate <= sample_rate <= limits.max_sample_rate:
        raise AudioProblem(
            "odd_sample_rate",
            f"{path} has sample rate {sample_rate} Hz "
            f"(valid: {limits.min_sample_rate}..{limits.max_sample_rate} Hz)",
        )


def decode_audio(
    path: str | Path,
    offset: float | None = None,
    duration: float | None = None,
    *,
    limits: AudioLimits | None = None,
) -> DecodedAudio:
    """Read ``[offset, offset + duration)`` seconds of ``path``, downmixed to mono, and check it.

    Args:
        path: audio file readable by libsndfile.
        offset: start in seconds (None = 0).
        duration: length in seconds (None = to the end).
        limits: bounds for length and sample rate; defaults of :class:`AudioLimits` if None.

    Returns:
        The decoded span.

    Raises:
        AudioProblem: with a reason code and what would be valid.
    """
    import soundfile as sf

    limits = limits or AudioLimits()
    sr, frames = audio_info(path)
    check_sample_rate(sr, path, limits)
    start = int(round((offset or 0.0) * sr))
    if start < 0 or (offset is not None and not math.isfinite(offset)):
        raise AudioProblem(
            "bad_span", f"offset {offset} s of {path} is invalid (valid: a finite number >= 0)"
        )
    if frames > 0 and start >= frames:
        raise AudioProblem(
            "bad_span",
            f"offset {offset} s is past the end of {path} "
            f"(valid: an offset below its length {frames / sr:.3f} s)",
        )
    stop = None if duration is None else start + int(round(duration * sr))
    span = (stop if stop is not None else frames) - start
    if span / sr > limits.max_seconds:
        raise AudioProblem(
            "too_long", f"span of {path} is {span / sr:.1f} s (valid: at most {limits.max_seconds:g} s)"
        )
    try:
        data = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)[0]
    except Exception as exc:
        raise AudioProblem(
            "unreadable",
            f"decoding {path} failed: {exc} "
            "(the file is probably corrupt; valid: a complete file libsndfile decodes)",
        ) from None
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    check_samples(samples, sr, path, limits)
    return DecodedAudio(samples, sr)


def check_samples(samples: np.ndarray, sample_rate: int, path: str | Path, limits: AudioLimits) -> None:
    """Reject empty, silent, non-finite, too short or too long audio."""
    n = len(samples)
    if n == 0:
        raise AudioProblem("empty", f"{path} has no samples in the requested span (valid: a non-empty span)")
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioProblem("non_finite", f"{path} has {bad} NaN/inf samples (valid: finite samples only)")
    if not np.any(samples):
        raise AudioProblem("silent", f"{path} is all zeros in the requested span (valid: non-silent audio)")
    seconds = n / sample_rate
    if seconds < limits.min_seconds:
        raise AudioProblem(
            "too_short", f"{path} span is {seconds:.4f} s (valid: at least {limits.min_seconds:g} s)"
        )
    if seconds > limits.max_seconds:
        raise AudioProblem(
            "too_long", f"{path} span is {seconds:.1f} s (valid: at most {limits.max_seconds:g} s)"
        )
