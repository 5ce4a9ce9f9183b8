"""Turn what a person hands us (paths, folders, arrays, tensors) into mono float32 clips with a rate.

Files are decoded by :func:`usam_toolkit.audio.decode_audio` (soundfile, downmix to mono, checks);
arrays go through the same downmix and the same checks, so a clip behaves the same whether it was
given as a file or as samples. Resampling to the encoders' rates happens later, per window, with
:func:`usam_toolkit.audio.resample_many` (see :mod:`usam_toolkit.infer.engine`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.decode import AudioLimits, AudioProblem, check_sample_rate, check_samples, decode_audio

#: File name extensions walked in folders (formats libsndfile decodes), lower case, with the dot.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf",
    ".w64", ".rf64", ".voc", ".htk", ".sd2", ".nist", ".sph", ".paf", ".svx", ".xi", ".wve", ".mat",
)


class InputProblem(Exception):
    """An input that cannot be used; ``name`` says which one, ``reason`` is a short code, ``detail`` why."""

    def __init__(self, name: str, reason: str, detail: str):
        super().__init__(f"{name}: {reason}: {detail}")
        self.name = name
        self.reason = reason
        self.detail = detail


@dataclass
class AudioInput:
    """One clip ready for windowing.

    Attributes:
        name: the file path, or a label such as ``array-0`` for in-memory audio.
        samples: ``[N]`` float32 mono at ``sample_rate``.
        sample_rate: Hz.
    """

    name: str
    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def find_audio_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into the audio files under them (sorted, by extension); files are kept as given.

    A path that does not exist is kept too, so the caller reports it as a bad input with its name.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            out.append(p)
    return out


def load_path(path: str | Path, limits: AudioLimits | None = None) -> AudioInput:
    """Decode a whole file to mono.

    Raises:
        InputProblem: missing, unreadable, empty, silent, non-finite ... (reason codes of
            :class:`~usam_toolkit.audio.decode.AudioProblem`).
    """
    try:
        decoded = decode_audio(path, limits=limits or AudioLimits())
    except AudioProblem as p:
        raise InputProblem(str(path), p.reason, p.detail) from None
    return AudioInput(str(path), decoded.samples, decoded.sample_rate)


def load_bytes(data: bytes, name: str, limits: AudioLimits | None = None) -> AudioInput:
    """Decode audio held in memory (an upload); soundfile sniffs the format from the content.

    The header is read first, so a small compressed upload that claims hours of audio is refused
    before anything is decoded.

    Raises:
        InputProblem: ``unsupported_type`` when libsndfile does not recognise the content, ``too_long``
            past ``limits.max_seconds``, or any reason of :func:`from_array`.
    """
    import soundfile as sf

    limits = limits or AudioLimits()
    try:
        info = sf.info(io.BytesIO(data))
        if info.frames > 0 and info.samplerate > 0 and info.frames / info.samplerate > limits.max_seconds:
            raise InputProblem(
                name, "too_long",
                f"{info.frames / info.samplerate:.0f} s of audio; at most {limits.max_seconds:.0f} s are accepted",
            )
        data2d, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except InputProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for content it does not know
        raise InputProblem(
            name, "unsupported_type",
            f"not audio libsndfile can decode ({exc}); valid: wav, flac, ogg, mp3 ...",
        ) from None
    return from_array(data2d.T, int(sr), name, limits=limits)


def _to_numpy(audio: Any) -> np.ndarray:
    if hasattr(audio, "detach"):  # a torch tensor, possibly on a device or requiring grad
        audio = audio.detach().to("cpu").float().numpy()
    return np.asarray(audio, dtype=np.float32)


def from_array(audio: Any, sample_rate: int | None, name: str, limits: AudioLimits | None = None) -> AudioInput:
    """Check and downmix one array or tensor: ``[N]`` mono or ``[channels, N]`` (averaged to mono).

    Raises:
        InputProblem: no sample rate, an odd rate, a wrong shape, empty, non-finite or silent audio.
    """
    limits = limits or AudioLimits()
    if sample_rate is None:
        raise InputProblem(name, "no_sample_rate", "in-memory audio needs sample_rate=... (e.g. 16000)")
    x = _to_numpy(audio)
    if x.ndim == 2:
        if x.shape[0] > x.shape[1]:
            raise InputProblem(
                name, "bad_shape",
                f"shape {tuple(x.shape)} looks like [N, channels]; valid: [N] or [channels, N] (transpose it)",
            )
        x = x.mean(axis=0)
    elif x.ndim != 1:
        raise InputProblem(name, "bad_shape", f"shape {tuple(x.shape)}; valid: [N] or [channels, N]")
    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        check_sample_rate(int(sample_rate), name, limits)
        check_samples(x, int(sample_rate), name, limits)
    except AudioProblem as p:
        raise InputProblem(name, p.reason, p.detail) from None
    return AudioInput(name, x, int(sample_rate))


def is_single(audio: Any) -> bool:
    """Whether ``audio`` is one clip (a path, or a 1-D / [channels, N] array) rather than several."""
    return not isinstance(audio, (list, tuple))


def to_inputs(audio: Any, sample_rate: int | None = None, limits: AudioLimits | None = None) -> list[AudioInput]:
    """Every clip of ``audio`` (a path, an array/tensor, or a list of them) as :class:`AudioInput`.

    Raises:
        InputProblem: for the first clip that cannot be used (the API fails loudly; the CLI reports
            and goes on, using :func:`load_path` per file itself).
    """
    items: Sequence[Any] = [audio] if is_single(audio) else list(audio)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            out.append(load_path(item, limits))
        else:
            out.append(from_array(item, sample_rate, f"array-{i}", limits))
    return out
