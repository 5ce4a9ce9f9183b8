"""Procedural music: a recipe (instrument, tempo, key, progression, drums, dynamics) -> MIDI -> fluidsynth.

A recipe fully determines its MIDI bytes (the melody's randomness comes from ``recipe.seed``), and
fluidsynth renders a given file identically, so a clip is reproducible from its recipe alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .midi import DRUM_CHANNEL, MidiTrack, write_midi

#: instrument name -> General MIDI program (0-based).
INSTRUMENTS: dict[str, int] = {
    "piano": 0,
    "electric piano": 4,
    "marimba": 12,
    "organ": 19,
    "acoustic guitar": 24,
    "electric guitar": 27,
    "bass": 32,
    "violin": 40,
    "cello": 42,
    "harp": 46,
    "strings": 48,
    "trumpet": 56,
    "saxophone": 65,
    "clarinet": 71,
    "flute": 73,
}

#: tempo word -> inclusive BPM range; two chords a bar below 120 BPM keeps every piece 4-8 s long.
TEMPI: dict[str, tuple[int, int]] = {"slow": (66, 80), "moderate": (96, 116), "fast": (132, 160)}
TONICS: dict[str, int] = {"C": 0, "D": 2, "E flat": 3, "E": 4, "F": 5, "G": 7, "A": 9, "B flat": 10}
SCALES: dict[str, tuple[int, ...]] = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: progressions as 0-based scale degrees; their roman numerals are derived from the triads' quality.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": ((0, 3, 4, 0), (0, 4, 5, 3), (0, 5, 3, 4), (1, 4, 0, 0)),
    "minor": ((0, 3, 4, 0), (0, 5, 2, 6), (0, 3, 6, 2), (0, 6, 5, 6)),
}
DYNAMICS = ("soft", "loud", "crescendo")
SAMPLE_RATE = 22050
MAX_SECONDS = 8.0
#: seconds of release tail kept after the last note-off.
TAIL_SECONDS = 0.8
TICKS = 480
#: peak level of the rendered clip by dynamics: soundfont instruments differ by 20 dB or more in level, so
#: the clip is scaled to a peak that keeps "soft" audibly softer than "loud" whatever the instrument.
PEAK_BY_DYNAMICS = {"soft": 0.3, "loud": 0.9, "crescendo": 0.9}


@dataclass(frozen=True)
class MusicRecipe:
    """Everything that determines a music clip; the captions are written from these fields."""

    instrument: str
    tempo: str
    bpm: int
    tonic: str
    mode: str
    progression: tuple[int, ...]
    drums: bool
    dynamics: str
    seed: int

    @property
    def key(self) -> str:
        """``"A minor"``."""
        return f"{self.tonic} {self.mode}"

    @property
    def numerals(self) -> str:
        """Roman numerals of the progression, e.g. ``"i-iv-v-i"`` (lower case = minor triad)."""
        names = ("i", "ii", "iii", "iv", "v", "vi", "vii")
        out = []
        for degree in self.progression:
            third = _triad(SCALES[self.mode], degree)[1] - _triad(SCALES[self.mode], degree)[0]
            out.append(names[degree] if third == 3 else names[degree].upper())
        return "-".join(out)

    @property
    def chord_beats(self) -> int:
        return 2 if self.bpm < 120 else 4

    @property
    def seconds(self) -> float:
        """Length of the score (without the release tail)."""
        return len(self.progression) * self.chord_beats * 60.0 / self.bpm

    def digest(self) -> str:
        """Short content hash: the clip's id and its group (split unit)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def sample_recipe(rng: np.random.Generator) -> MusicRecipe:
    """Draw a recipe uniformly over instruments, tempi, keys, modes, progressions, drums and dynamics."""
    instrument = str(rng.choice(sorted(INSTRUMENTS)))
    tempo = str(rng.choice(list(TEMPI)))
    low, high = TEMPI[tempo]
    mode = str(rng.choice(list(SCALES)))
    progressions = PROGRESSIONS[mode]
    return MusicRecipe(
        instrument=instrument,
        tempo=tempo,
        bpm=int(rng.integers(low, high + 1)),
        tonic=str(rng.choice(list(TONICS))),
        mode=mode,
        progression=progressions[int(rng.integers(len(progressions)))],
        drums=bool(rng.integers(2)),
        dynamics=str(rng.choice(DYNAMICS)),
        seed=int(rng.integers(2**31)),
    )


def _triad(scale: tuple[int, ...], degree: int) -> tuple[int, int, int]:
    """Semitones above the tonic of the diatonic triad on ``degree``."""
    root, third, fifth = (scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4))
    return root, third, fifth


def _velocity(recipe: MusicRecipe, tick: int, total: int, rng: np.random.Generator) -> int:
    if recipe.dynamics == "soft":
        base = 48.0
    elif recipe.dynamics == "loud":
        base = 108.0
    else:
        base = 35.0 + 80.0 * tick / max(1, total)
    return int(np.clip(base + rng.integers(-5, 6), 1, 127))


def compose(recipe: MusicRecipe) -> bytes:
    """The recipe's Standard MIDI File: a melody, block chords with a bass note, and optional drums."""
    rng = np.random.default_rng(recipe.seed)
    scale = SCALES[recipe.mode]
    tonic = 60 + TONICS[recipe.tonic]
    if tonic > 65:
        tonic -= 12
    program = INSTRUMENTS[recipe.instrument]
    chord_ticks = recipe.chord_beats * TICKS
    total = chord_ticks * len(recipe.progression)

    conductor = MidiTrack()
    conductor.tempo(0, recipe.bpm)
    melody, harmony = MidiTrack(), MidiTrack()
    melody.program(0, 0, program)
    harmony.program(0, 1, program)

    step = 0  # melody position as a scale step above the tonic
    for index, degree in enumerate(recipe.progression):
        start = index * chord_ticks
        triad = _triad(scale, degree)
        vel = _velocity(recipe, start, total, rng)
        for offset in triad:
            harmony.note(start, chord_ticks - 20, 1, tonic - 12 + offset, max(1, vel - 20))
        harmony.note(start, chord_ticks - 20, 1, tonic - 24 + triad[0], max(1, vel - 15))
        tick = start
        while tick < start + chord_ticks:
            length = int(rng.choice([TICKS // 2, TICKS, TICKS, 2 * TICKS]))
            length = min(length, start + chord_ticks - tick)
            # Lean towards chord tones on the strong part of the chord so the melody fits the harmony.
            if tick == start:
                step = degree + 2 * int(rng.integers(0, 3))
            else:
                step = int(np.clip(step + rng.choice([-2, -1, 1, 2]), -2, 11))
            pitch = tonic + scale[step % 7] + 12 * (step // 7) + 12
            melody.note(tick, max(1, length - 30), 0, pitch, _velocity(recipe, tick, total, rng))
            tick += length

    tracks = [conductor, melody, harmony]
    if recipe.drums:
        drums = MidiTrack()
        for beat in range(total // TICKS):
            tick = beat * TICKS
            vel = _velocity(recipe, tick, total, rng)
            drums.note(tick, TICKS // 4, DRUM_CHANNEL, 36 if beat % 2 == 0 else 38, vel)
            for half in (0, TICKS // 2):
                drums.note(tick + half, TICKS // 8, DRUM_CHANNEL, 42, max(1, vel - 25))
        tracks.append(drums)
    return write_midi(tracks, TICKS)


def find_soundfont(package_files: tuple[str, ...] = ()) -> Path:
    """The General MIDI soundfont: ``$USAM_MINI_SOUNDFONT``, one listed by its package, or the Debian path."""
    if os.environ.get("USAM_MINI_SOUNDFONT"):
        return Path(os.environ["USAM_MINI_SOUNDFONT"])
    for path in sorted(package_files):
        if path.lower().endswith(".sf2") and Path(path).is_file():
            return Path(path)
    default = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if default.is_file():
        return default
    raise DataError("no General MIDI soundfont found; install fluid-soundfont-gm or set USAM_MINI_SOUNDFONT")


def render(recipe: MusicRecipe, midi_path: Path, soundfont: Path) -> np.ndarray:
    """Render the recipe's MIDI file with fluidsynth; mono float32 at :data:`SAMPLE_RATE`, at most 8 s.

    The score plus :data:`TAIL_SECONDS` of release is kept (fluidsynth renders a longer silent tail), the
    end is faded out over 50 ms, and the peak is set by :data:`PEAK_BY_DYNAMICS`.
    """
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    if exe is None:
        raise DataError("fluidsynth is not on PATH; install the Debian package fluidsynth")
    with tempfile.TemporaryDirectory(prefix="usam-mini-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [
            exe,
            "-ni",
            "-q",
            "-o",
            "synth.dynamic-sample-loading=1",
            "-F",
            str(wav),
            "-r",
            str(SAMPLE_RATE),
            str(soundfont),
            str(midi_path),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not wav.is_file():
            raise DataError(
                f"fluidsynth failed on {midi_path} (exit {proc.returncode}): {proc.stderr.strip()}"
            )
        audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    keep = int(min(MAX_SECONDS, recipe.seconds + TAIL_SECONDS) * SAMPLE_RATE)
    audio = audio[:keep].copy()
    fade = min(len(audio), int(0.05 * SAMPLE_RATE))
    if fade:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak == 0.0:
        raise DataError(f"fluidsynth rendered silence for {midi_path}; check the soundfont {soundfont}")
    return (audio * (PEAK_BY_DYNAMICS[recipe.dynamics] / peak)).astype(np.float32)
