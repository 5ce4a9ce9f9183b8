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
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".aifc",
    ".au",
    ".snd",
    ".caf",
    ".w64",
    ".rf64",
    ".voc",
    ".htk",
    ".sd2",
    ".nist",
    ".sph",
    ".paf",
    ".svx",
    ".xi",
    ".wve",
    ".mat",
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


#: Bytes of float32 samples in one block of the streaming decode of an upload: a block holds
#: ``block_frames x channels`` values, so an 8-channel 192 kHz upload never lives in memory whole.
DECODE_BLOCK_BYTES = 4 * 1024 * 1024


class _Upload(io.BytesIO):
    """Audio bytes held in memory, whose ``repr`` is their label: libsndfile's messages quote the
    file object's repr, which would otherwise read ``<_io.BytesIO object at 0x...>``."""

    def __init__(self, data: bytes, label: str) -> None:
        super().__init__(data)
        self.label = label

    def __repr__(self) -> str:
        return repr(self.label)


@dataclass(frozen=True)
class BytesInfo:
    """What the header of in-memory audio says, and what decoding it will hold in memory.

    Attributes:
        frames: frames the header declares.
        channels: channels per frame.
        sample_rate: Hz.
    """

    frames: int
    channels: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.frames / float(self.sample_rate)

    @property
    def block_frames(self) -> int:
        """Frames per decoded block (at least 1024, at most :data:`DECODE_BLOCK_BYTES` of samples)."""
        return max(1024, DECODE_BLOCK_BYTES // (4 * self.channels))

    @property
    def capacity(self) -> int:
        """Mono frames :func:`load_bytes` makes room for: the header's count plus 1/8 (at least one
        second), since compressed formats (mp3 above all) may only estimate it."""
        return self.frames + max(self.frames // 8, self.sample_rate)

    @property
    def decoded_bytes(self) -> int:
        """The most :func:`load_bytes` holds while decoding: the mono float32 clip, the one byte per
        sample of its finite-value check, and one interleaved block of every channel."""
        return 5 * self.capacity + 4 * self.channels * min(self.capacity, self.block_frames)


def probe_bytes(data: bytes, name: str, limits: AudioLimits | None = None) -> BytesInfo:
    """Read the header of in-memory audio and check its rate and length; nothing is decoded.

    Raises:
        InputProblem: ``unsupported_type`` when libsndfile does not recognise the content,
            ``odd_sample_rate``, or ``too_long`` past ``limits.max_seconds``.
    """
    import soundfile as sf

    limits = limits or AudioLimits()
    try:
        info = sf.info(_Upload(data, name))
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for content it does not know
        raise InputProblem(
            name,
            "unsupported_type",
            f"not audio libsndfile can decode ({exc}); valid: wav, flac, ogg, mp3 ...",
        ) from None
    if info.channels < 1:
        raise InputProblem(name, "unsupported_type", f"the header declares {info.channels} channels")
    try:
        check_sample_rate(int(info.samplerate), name, limits)
    except AudioProblem as p:
        raise InputProblem(name, p.reason, p.detail) from None
    out = BytesInfo(max(0, int(info.frames)), int(info.channels), int(info.samplerate))
    if out.seconds > limits.max_seconds:
        raise InputProblem(
            name, "too_long", f"{out.seconds:.0f} s of audio; at most {limits.max_seconds:.0f} s are accepted"
        )
    return out


def load_bytes(
    data: bytes, name: str, limits: AudioLimits | None = None, info: BytesInfo | None = None
) -> AudioInput:
    """Decode audio held in memory (an upload) to mono; soundfile sniffs the format from the content.

    The header is read first (:func:`probe_bytes`, or ``info`` when the caller already did), so a small
    compressed upload that claims hours of audio is refused before anything is decoded. Decoding then
    runs block by block, each block averaged into a mono buffer sized from the header, so memory stays
    within ``info.decoded_bytes`` whatever the channel count.

    Raises:
        InputProblem: ``unsupported_type`` when libsndfile does not recognise the content, ``too_long``
            past ``limits.max_seconds``, ``unreadable`` when decoding fails part way, ``header_mismatch``
            when the content holds more frames than its header said, or any reason of :func:`from_array`.
    """
    import soundfile as sf

    limits = limits or AudioLimits()
    info = info or probe_bytes(data, name, limits)
    mono = np.empty(info.capacity, dtype=np.float32)
    got = 0
    try:
        with sf.SoundFile(_Upload(data, name)) as f:
            block = np.empty((min(info.capacity, info.block_frames), info.channels), dtype=np.float32)
            while True:
                part = f.read(out=block)
                n = len(part)
                if n == 0:
                    break
                if got + n > info.capacity:
                    raise InputProblem(
                        name,
                        "header_mismatch",
                        f"decodes to more than the {info.frames} frames its header declares; "
                        "valid: a complete, consistent file",
                    )
                np.mean(part, axis=1, out=mono[got : got + n])
                got += n
    except InputProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for content it cannot decode
        raise InputProblem(
            name,
            "unreadable",
            f"decoding failed after {got / info.sample_rate:.2f} s ({exc}); valid: a complete file",
        ) from None
    return from_array(mono[:got], info.sample_rate, name, limits=limits)


def _to_numpy(audio: Any) -> np.ndarray:
    if hasattr(audio, "detach"):  # a torch tensor, possibly on a device or requiring grad
        audio = audio.detach().to("cpu").float().numpy()
    return np.asarray(audio, dtype=np.float32)


def from_array(
    audio: Any, sample_rate: int | None, name: str, limits: AudioLimits | None = None
) -> AudioInput:
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
                name,
                "bad_shape",
                f"shape {tuple(x.shape)} looks like [N, channels]; "
                "valid: [N] or [channels, N] (transpose it)",
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


def to_inputs(
    audio: Any, sample_rate: int | None = None, limits: AudioLimits | None = None
) -> list[AudioInput]:
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
