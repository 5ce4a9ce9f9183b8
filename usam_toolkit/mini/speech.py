"""Speech sources: the asterisk prompts (human, with transcripts), LibriVox utterances and espeak-ng.

The asterisk transcript files (``core-sounds-<lang>.txt[.gz]``, found with ``dpkg -L``) hold lines
``id: text`` such as ``vm-login: Comedian Mail. Mailbox?``; ids may contain a folder (``digits/1``) that
matches the wav's path under the voice folder (``/usr/share/asterisk/sounds/en_US_f_Allison/digits/1.wav``).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")
_SPACES = re.compile(r"\s+")

#: espeak-ng base voices (all in espeak-ng's own data, no mbrola) and voice variants combined with them.
ESPEAK_VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
ESPEAK_VARIANTS = ("", "+f2", "+f3", "+f4", "+m3", "+m5")
ESPEAK_SPEEDS = (130, 190)
ESPEAK_PITCHES = (25, 75)
#: flite's built-in voices (diphone kal/kal16, clustergen awb/rms/slt) and its duration stretch range.
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FLITE_STRETCH = (0.8, 1.25)


@dataclass(frozen=True)
class Utterance:
    """One human recording: ``uid`` is the prompt id (asterisk) or utterance id (LibriVox)."""

    uid: str
    path: Path
    text: str
    speaker: str


def clean_prompt_text(text: str) -> str | None:
    """Drop descriptions in brackets (``[beep tone]``, ``(10 seconds of silence)``, ``<beep ascending>``).

    Returns:
        The spoken text with whitespace collapsed, or ``None`` when nothing speakable is left.
    """
    spoken = _SPACES.sub(" ", _BRACKETED.sub(" ", text)).strip()
    spoken = re.sub(r"\s+([,.?!;:])", r"\1", spoken)
    return spoken if re.search(r"[A-Za-z0-9À-ÿ]", spoken) else None


def parse_prompt_index(lines: Iterable[str]) -> dict[str, str]:
    """``{prompt_id: text}`` from ``id: text`` lines; comments (``;``) and unspeakable texts are dropped."""
    prompts: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(";") or ": " not in line:
            continue
        uid, text = line.split(": ", 1)
        if " " in uid.strip():
            continue
        cleaned = clean_prompt_text(text)
        if cleaned is not None:
            prompts.setdefault(uid.strip(), cleaned)
    return prompts


def read_prompt_index(files: Iterable[str]) -> dict[str, str]:
    """Parse the ``core-sounds-*.txt[.gz]`` transcript among a package's files."""
    for path in sorted(files):
        name = Path(path).name
        if name.startswith("core-sounds-") and name.endswith((".txt", ".txt.gz")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
                return parse_prompt_index(handle)
    raise DataError(f"no core-sounds-*.txt transcript among {len(list(files))} package files (dpkg -L)")


def prompt_audio(files: Iterable[str]) -> tuple[str, dict[str, Path]]:
    """``(voice, {prompt_id: wav})`` for an asterisk ``-wav`` package; the voice is its folder name."""
    found: dict[str, Path] = {}
    voices = set()
    for path in files:
        parts = Path(path).parts
        if not path.endswith(".wav") or "sounds" not in parts:
            continue
        index = len(parts) - 1 - parts[::-1].index("sounds")
        if len(parts) < index + 3:
            continue
        voices.add(parts[index + 1])
        found["/".join(parts[index + 2 :])[: -len(".wav")]] = Path(path)
    if not found:
        raise DataError("the asterisk wav package lists no .wav under a sounds/<voice>/ folder (dpkg -L)")
    return min(voices), dict(sorted(found.items()))


def asterisk_utterances(text_files: Iterable[str], wav_files: Iterable[str]) -> list[Utterance]:
    """Prompts that have both a speakable transcript and a wav file, sorted by id."""
    texts = read_prompt_index(text_files)
    voice, audio = prompt_audio(wav_files)
    return [Utterance(uid, audio[uid], texts[uid], voice) for uid in sorted(texts) if uid in audio]


def librivox_utterances(files: Iterable[str], speaker: str = "librivox-austen-reader") -> list[Utterance]:
    """pocketsphinx-testdata's LibriVox utterances: ``<s> text </s> (utt_id)`` lines, audio in
    ``utt_id.wav``."""
    for path in sorted(files):
        p = Path(path)
        if p.name == "transcription" and p.parent.name == "librivox":
            out = []
            for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
                match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^()]+)\)\s*$", line)
                if match and (p.parent / f"{match.group(2)}.wav").is_file():
                    text = _SPACES.sub(" ", match.group(1)).strip()
                    out.append(Utterance(match.group(2), p.parent / f"{match.group(2)}.wav", text, speaker))
            return sorted(out, key=lambda u: u.uid)
    raise DataError(
        "pocketsphinx-testdata lists no librivox/transcription file (dpkg -L pocketsphinx-testdata)"
    )


def sentence_group(text: str) -> str:
    """Split unit for speech: the same sentence (ignoring case and punctuation) is always one group."""
    norm = _SPACES.sub(" ", re.sub(r"[^\w\s]", " ", text.lower())).strip()
    return "sent-" + hashlib.sha1(norm.encode()).hexdigest()[:10]


def safe_name(uid: str) -> str:
    """A prompt id usable in a clip id and a file name (``digits/1`` -> ``digits.1``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", ".", uid)


@dataclass(frozen=True)
class EspeakSpec:
    """An espeak-ng rendering: voice (``en-gb+f3``), speed (words per minute) and pitch (0-99)."""

    voice: str
    speed: int
    pitch: int

    @property
    def speaker(self) -> str:
        return f"espeak-ng:{self.voice}"

    @property
    def tag(self) -> str:
        return f"{safe_name(self.voice)}-s{self.speed}-p{self.pitch}"


def available_voices() -> tuple[str, ...]:
    """Base voices of :data:`ESPEAK_VOICES` that this espeak-ng knows, combined with the variants."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return ()
    listing = subprocess.run([exe, "--voices=en"], capture_output=True, text=True, check=False).stdout
    known = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}
    bases = [v for v in ESPEAK_VOICES if v in known]
    return tuple(base + variant for base in bases for variant in ESPEAK_VARIANTS)


def sample_espeak(rng: np.random.Generator, voices: tuple[str, ...]) -> EspeakSpec:
    """A random voice, speed and pitch."""
    return EspeakSpec(
        voice=str(voices[int(rng.integers(len(voices)))]),
        speed=int(rng.integers(ESPEAK_SPEEDS[0], ESPEAK_SPEEDS[1] + 1)),
        pitch=int(rng.integers(ESPEAK_PITCHES[0], ESPEAK_PITCHES[1] + 1)),
    )


def espeak(text: str, spec: EspeakSpec) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with espeak-ng (text on stdin so no text is read as an option)."""
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError("espeak-ng is not on PATH; install the Debian package espeak-ng")
    with tempfile.TemporaryDirectory(prefix="usam-mini-") as tmp:
        wav = Path(tmp) / "tts.wav"
        cmd = [exe, "-v", spec.voice, "-s", str(spec.speed), "-p", str(spec.pitch), "-w", str(wav), "--stdin"]
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise DataError(
                f"espeak-ng failed for voice {spec.voice} (exit {proc.returncode}): {proc.stderr.strip()}"
            )
        audio, rate = sf.read(str(wav), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return audio, int(rate)


@dataclass(frozen=True)
class FliteSpec:
    """A flite rendering: built-in voice and duration stretch (> 1 is slower)."""

    voice: str
    stretch: float

    @property
    def speaker(self) -> str:
        return f"flite:{self.voice}"

    @property
    def tag(self) -> str:
        return f"flite-{self.voice}-d{round(self.stretch * 100)}"


def available_flite_voices() -> tuple[str, ...]:
    """The voices of :data:`FLITE_VOICES` that this flite lists (empty without flite)."""
    exe = shutil.which("flite")
    if exe is None:
        return ()
    listing = subprocess.run([exe, "-lv"], capture_output=True, text=True, check=False).stdout
    known = set(listing.replace("Voices available:", "").split())
    return tuple(v for v in FLITE_VOICES if v in known)


def sample_flite(rng: np.random.Generator, voices: tuple[str, ...]) -> FliteSpec:
    """A random flite voice and duration stretch (two decimals)."""
    stretch = round(float(rng.uniform(*FLITE_STRETCH)), 2)
    return FliteSpec(voice=str(voices[int(rng.integers(len(voices)))]), stretch=stretch)


def flite(text: str, spec: FliteSpec) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with flite (the text goes in a file, so none of it is read as an option)."""
    import soundfile as sf

    exe = shutil.which("flite")
    if exe is None:
        raise DataError("flite is not on PATH; install the Debian package flite")
    with tempfile.TemporaryDirectory(prefix="usam-mini-") as tmp:
        txt, wav = Path(tmp) / "text.txt", Path(tmp) / "tts.wav"
        txt.write_text(text, encoding="utf-8")
        cmd = [
            exe,
            "-voice",
            spec.voice,
            "--setf",
            f"duration_stretch={spec.stretch}",
            "-f",
            str(txt),
            "-o",
            str(wav),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise DataError(
                f"flite failed for voice {spec.voice} (exit {proc.returncode}): {proc.stderr.strip()}"
            )
        audio, rate = sf.read(str(wav), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return audio, int(rate)


def telephone_band(audio: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """``audio`` resampled to 8 kHz, the band of the human telephone prompts in the test split."""
    import torch

    from ..audio.resample import resample

    if rate == 8000:
        return audio, rate
    return resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, 8000).numpy(), 8000
