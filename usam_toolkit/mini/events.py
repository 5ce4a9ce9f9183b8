"""Procedural sound events (numpy) and the freedesktop event sounds, for audio captioning.

An :class:`EventRecipe` lists 1-3 events (kind, count, loudness, onset) over a background; the waveform
is a pure function of the recipe (its ``seed`` drives every random choice), so a clip can be rebuilt
from its recipe and the captions (:mod:`.captions`) are written from the same recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
#: peak gain of one event at each loudness; absolute, so a "faint" event stays faint in the mix.
LOUDNESS_GAIN = {"loud": 0.8, "normal": 0.4, "faint": 0.1}
BACKGROUNDS = ("silence", "hum", "pink noise")
BACKGROUND_GAIN = {"silence": 0.0, "hum": 0.05, "pink noise": 0.04}


@dataclass(frozen=True)
class EventSpec:
    """One event of a recipe; ``count`` is 1 for continuous sounds (siren, engine, rain, alarm)."""

    kind: str
    count: int
    loudness: str
    onset: float
    seconds: float


@dataclass(frozen=True)
class EventRecipe:
    """A clip: events sorted by onset over a background, ``seconds`` long."""

    events: tuple[EventSpec, ...]
    background: str
    seconds: float
    seed: int

    def digest(self) -> str:
        """Short content hash: the clip's id and its group (split unit)."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def overlaps(self, index: int) -> bool:
        """Whether event ``index`` starts before event ``index - 1`` has ended."""
        prev, cur = self.events[index - 1], self.events[index]
        return cur.onset < prev.onset + prev.seconds


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _bandpass(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Brick-wall band-pass in the frequency domain (no scipy needed)."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    spec[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spec, n=len(x))


def _repeat(unit: Callable[[], np.ndarray], count: int, gap: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` renderings of ``unit`` spaced by ``gap`` s (with a little timing jitter)."""
    parts = [unit() for _ in range(count)]
    # A 10 ms fade-out so a unit cut off while still ringing does not end in a click.
    for part in parts:
        fade = min(len(part), int(0.01 * SAMPLE_RATE))
        part[len(part) - fade :] *= np.linspace(1.0, 0.0, fade)
    hop = int(gap * SAMPLE_RATE)
    length = hop * (count - 1) + max(len(p) for p in parts)
    out = np.zeros(length + hop // 4)
    for i, part in enumerate(parts):
        start = max(0, i * hop + int(rng.integers(0, hop // 8 + 1)))
        out[start : start + len(part)] += part[: len(out) - start]
    return out


def bell(rng: np.random.Generator, count: int) -> np.ndarray:
    """Struck bell: inharmonic partials with exponential decay, higher partials dying faster."""
    f0 = rng.uniform(350, 900)
    ratios, amps = (1.0, 2.0, 2.76, 4.07, 5.40), (1.0, 0.6, 0.5, 0.3, 0.2)

    def unit() -> np.ndarray:
        t = _t(1.2)
        return sum(
            a * np.sin(2 * np.pi * f0 * r * t) * np.exp(-t * (2.5 + 1.5 * r)) for r, a in zip(ratios, amps)
        )

    return _repeat(unit, count, rng.uniform(0.55, 0.8), rng)


def beep(rng: np.random.Generator, count: int) -> np.ndarray:
    """Electronic beeps: sine bursts with short ramps."""
    freq, length = rng.uniform(800, 2000), rng.uniform(0.12, 0.3)

    def unit() -> np.ndarray:
        t = _t(length)
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        return np.sin(2 * np.pi * freq * t) * ramp

    return _repeat(unit, count, length + rng.uniform(0.15, 0.35), rng)


def knock(rng: np.random.Generator, count: int) -> np.ndarray:
    """Knocks on wood: damped low-passed noise bursts with a low resonance."""
    res = rng.uniform(120, 250)

    def unit() -> np.ndarray:
        t = _t(0.15)
        burst = _bandpass(rng.standard_normal(len(t)), 60, 1800) * np.exp(-t * 45)
        return burst + 0.5 * np.sin(2 * np.pi * res * t) * np.exp(-t * 30)

    return _repeat(unit, count, rng.uniform(0.18, 0.3), rng)


def footsteps(rng: np.random.Generator, count: int) -> np.ndarray:
    """Footsteps: periodic filtered clicks (heel and toe) at a walking pace."""

    def unit() -> np.ndarray:
        t = _t(0.12)
        heel = _bandpass(rng.standard_normal(len(t)), 80, 3000) * np.exp(-t * 60)
        return heel

    return _repeat(unit, count, rng.uniform(0.45, 0.6), rng)


def dog_bark(rng: np.random.Generator, count: int) -> np.ndarray:
    """Bark-like bursts: a harmonic source with falling pitch shaped by two formant bands."""
    f0 = rng.uniform(350, 600)

    def unit() -> np.ndarray:
        t = _t(0.22)
        pitch = f0 * (1.0 - 0.35 * t / t[-1])
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
        src = sum(np.sin(k * phase) / k for k in range(1, 12)) + 0.3 * rng.standard_normal(len(t))
        shaped = _bandpass(src, 400, 1100) + 0.6 * _bandpass(src, 1500, 2600)
        return shaped * np.sin(np.pi * t / t[-1]) ** 0.5

    return _repeat(unit, count, rng.uniform(0.35, 0.5), rng)


def bird_chirp(rng: np.random.Generator, count: int) -> np.ndarray:
    """Chirps: fast upward sine sweeps."""
    low = rng.uniform(2000, 3000)

    def unit() -> np.ndarray:
        t = _t(0.09)
        freq = low + 2500 * t / t[-1]
        return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.sin(np.pi * t / t[-1])

    return _repeat(unit, count, rng.uniform(0.15, 0.3), rng)


def siren(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Siren: a tone whose frequency sweeps up and down periodically."""
    t = _t(seconds)
    centre, depth, rate = rng.uniform(700, 1000), rng.uniform(200, 400), rng.uniform(0.4, 1.2)
    freq = centre + depth * np.sin(2 * np.pi * rate * t)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * np.minimum(1.0, t / 0.2)


def alarm(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Alarm: a square-ish tone switched on and off rapidly."""
    t = _t(seconds)
    freq, rate = rng.uniform(1500, 3000), rng.uniform(4, 8)
    tone = np.tanh(4 * np.sin(2 * np.pi * freq * t))
    return tone * (np.sin(2 * np.pi * rate * t) > 0)


def engine(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Engine: low harmonic hum with amplitude modulation at the firing rate."""
    t = _t(seconds)
    f0, am = rng.uniform(30, 60), rng.uniform(6, 15)
    hum = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 9))
    noise = _bandpass(rng.standard_normal(len(t)), 50, 600)
    return (hum + 0.3 * noise / (np.abs(noise).max() + 1e-9)) * (0.7 + 0.3 * np.sin(2 * np.pi * am * t))


def rain(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Rain: band-limited noise plus random drop clicks."""
    t = _t(seconds)
    bed = _bandpass(rng.standard_normal(len(t)), 400, 7000)
    bed /= np.abs(bed).max() + 1e-9
    drops = np.zeros(len(t))
    for start in rng.integers(0, max(1, len(t) - 200), size=int(seconds * rng.uniform(20, 60))):
        drops[start : start + 200] += rng.uniform(0.2, 1.0) * np.exp(-np.arange(200) / 25.0)
    drops = _bandpass(drops * rng.choice([-1.0, 1.0], size=len(t)), 1000, 7000)
    return 0.6 * bed + drops / (np.abs(drops).max() + 1e-9) * 0.8


#: kind -> (synthesiser, countable); countable kinds take a count, the others a length in seconds.
KINDS: dict[str, tuple[Callable[[np.random.Generator, float], np.ndarray], bool]] = {
    "bell": (bell, True),
    "beep": (beep, True),
    "knock": (knock, True),
    "footsteps": (footsteps, True),
    "dog bark": (dog_bark, True),
    "bird chirp": (bird_chirp, True),
    "siren": (siren, False),
    "alarm": (alarm, False),
    "engine": (engine, False),
    "rain": (rain, False),
}
_APPROX_UNIT = {
    "bell": 0.8,
    "beep": 0.65,
    "knock": 0.25,
    "footsteps": 0.55,
    "dog bark": 0.45,
    "bird chirp": 0.25,
}


def sample_recipe(rng: np.random.Generator, max_seconds: float = 8.0) -> EventRecipe:
    """Draw 1-3 distinct events with counts, loudness and onsets (sequential or overlapping)."""
    n_events = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    kinds = [str(k) for k in rng.choice(sorted(KINDS), size=n_events, replace=False)]
    events = []
    cursor = 0.0
    for kind in kinds:
        countable = KINDS[kind][1]
        if countable:
            count = int(rng.integers(1, 5 if kind != "footsteps" else 7))
            seconds = round(count * _APPROX_UNIT[kind] + 0.3, 2)
        else:
            count, seconds = 1, round(float(rng.uniform(1.5, 3.0)), 2)
        overlap = events and rng.random() < 0.5
        onset = events[-1].onset + 0.3 if overlap else cursor + float(rng.uniform(0.1, 0.5))
        onset = round(min(onset, max_seconds - seconds - 0.1), 2)
        onset = max(onset, events[-1].onset + 0.2 if events else 0.0)
        if onset + seconds > max_seconds - 0.05:
            break  # this event would not fit: keep the clip within the length limit
        loudness = str(rng.choice(["loud", "normal", "faint"], p=[0.3, 0.45, 0.25]))
        events.append(EventSpec(kind, count, loudness, onset, seconds))
        cursor = onset + seconds
    total = round(min(max_seconds, max(1.0, cursor + float(rng.uniform(0.2, 0.6)))), 2)
    background = str(rng.choice(BACKGROUNDS, p=[0.4, 0.3, 0.3]))
    return EventRecipe(tuple(events), background, total, int(rng.integers(2**31)))


def _background(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        return sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3)) / 1.8
    if kind == "pink noise":
        spec = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        spec /= np.sqrt(np.maximum(freqs, 20.0))
        noise = np.fft.irfft(spec, n=n)
        return noise / (np.abs(noise).max() + 1e-9)
    return np.zeros(n)


def synthesize(recipe: EventRecipe) -> np.ndarray:
    """The recipe's waveform: mono float32 at 16 kHz, peak at most 0.99."""
    rng = np.random.default_rng(recipe.seed)
    n = int(recipe.seconds * SAMPLE_RATE)
    mix = BACKGROUND_GAIN[recipe.background] * _background(recipe.background, n, rng)
    for event in recipe.events:
        synth, countable = KINDS[event.kind]
        wave = synth(rng, event.count if countable else event.seconds)
        wave = wave / (np.abs(wave).max() + 1e-9) * LOUDNESS_GAIN[event.loudness]
        start = int(event.onset * SAMPLE_RATE)
        end = min(n, start + len(wave))
        if end > start:
            mix[start:end] += wave[: end - start]
    peak = float(np.abs(mix).max()) if n else 0.0
    if peak > 0.99:
        mix = mix / peak * 0.99
    return mix.astype(np.float32)


#: freedesktop sound name -> reference captions (written by listening to the theme's sounds).
FREEDESKTOP_CAPTIONS: dict[str, tuple[str, ...]] = {
    "alarm-clock-elapsed": ("an alarm clock rings", "a digital alarm clock beeps", "an alarm goes off"),
    "audio-channel-front-center": (
        "a voice says front center",
        "a person announces the front center channel",
        "someone says front center",
    ),
    "audio-channel-front-left": (
        "a voice says front left",
        "a person announces the front left channel",
        "someone says front left",
    ),
    "audio-channel-front-right": (
        "a voice says front right",
        "a person announces the front right channel",
        "someone says front right",
    ),
    "audio-channel-rear-center": (
        "a voice says rear center",
        "a person announces the rear center channel",
        "someone says rear center",
    ),
    "audio-channel-rear-left": (
        "a voice says rear left",
        "a person announces the rear left channel",
        "someone says rear left",
    ),
    "audio-channel-rear-right": (
        "a voice says rear right",
        "a person announces the rear right channel",
        "someone says rear right",
    ),
    "audio-channel-side-left": (
        "a voice says side left",
        "a person announces the side left channel",
        "someone says side left",
    ),
    "audio-channel-side-right": (
        "a voice says side right",
        "a person announces the side right channel",
        "someone says side right",
    ),
    "audio-test-signal": ("a short test signal plays", "a test tone sounds", "a brief audio test signal"),
    "audio-volume-change": (
        "a short click as the volume changes",
        "a brief blip sounds",
        "a quick tick of a volume control",
    ),
    "bell": ("a bell rings", "a small bell chimes", "a single bell tone rings out"),
    "camera-shutter": (
        "a camera shutter clicks",
        "a photo is taken with a camera click",
        "the click of a camera shutter",
    ),
    "complete": ("a short chime signals completion", "a pleasant chime plays", "a notification chime sounds"),
    "device-added": (
        "an electronic blip signals a connected device",
        "a short rising electronic tone",
        "a device connection sound",
    ),
    "device-removed": (
        "an electronic blip signals a removed device",
        "a short falling electronic tone",
        "a device disconnection sound",
    ),
    "dialog-error": ("an error sound plays", "a short error alert sounds", "a computer error tone"),
    "dialog-information": (
        "a soft information chime",
        "a gentle notification sound",
        "a short informational tone",
    ),
    "dialog-warning": ("a warning sound plays", "a short warning alert sounds", "a computer warning tone"),
    "message-new-instant": (
        "a chime announces a new message",
        "an instant message notification",
        "a bright message alert",
    ),
    "message": ("a message notification sounds", "a short alert for a new message", "a soft message chime"),
    "network-connectivity-established": (
        "a rising chime as the network connects",
        "a connection sound plays",
        "a short ascending tone",
    ),
    "network-connectivity-lost": (
        "a falling chime as the network disconnects",
        "a disconnection sound plays",
        "a short descending tone",
    ),
    "phone-incoming-call": ("a phone rings", "a telephone ringtone plays", "an incoming call rings"),
    "phone-outgoing-busy": ("a busy signal beeps", "a telephone busy tone", "repeated beeps of a busy line"),
    "phone-outgoing-calling": (
        "a ringback tone plays",
        "a phone call is ringing out",
        "a telephone calling tone",
    ),
    "power-plug": (
        "a short sound as a power cable is plugged in",
        "a brief rising electronic tone",
        "a plug-in notification",
    ),
    "power-unplug": (
        "a short sound as a power cable is unplugged",
        "a brief falling electronic tone",
        "an unplug notification",
    ),
    "screen-capture": (
        "a camera shutter sound for a screenshot",
        "a click as the screen is captured",
        "a shutter click",
    ),
    "service-login": ("a chime plays at login", "a welcoming login sound", "a short login jingle"),
    "service-logout": ("a chime plays at logout", "a farewell logout sound", "a short logout jingle"),
    "suspend-error": (
        "an error tone sounds",
        "a short alert that suspending failed",
        "a computer error sound",
    ),
    "trash-empty": (
        "paper crumples as the trash is emptied",
        "a rustling trash sound",
        "the sound of emptying a waste bin",
    ),
    "window-attention": (
        "a gentle alert asks for attention",
        "a short attention chime",
        "a soft notification tone",
    ),
    "window-question": ("a questioning two-note chime", "a short question alert", "a soft prompt sound"),
}


def freedesktop_sounds(files: tuple[str, ...]) -> dict[str, Path]:
    """``{name: path}`` of the stereo ``.oga`` files of sound-theme-freedesktop that have captions."""
    found = {}
    for path in files:
        p = Path(path)
        if p.suffix == ".oga" and "stereo" in p.parts and p.stem in FREEDESKTOP_CAPTIONS and p.is_file():
            found[p.stem] = p
    return dict(sorted(found.items()))


def resample_fft(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling of a short clip by truncating (or zero-padding) its spectrum.

    The builder avoids torch/torchaudio on purpose: importing them costs seconds, more than the whole tiny
    build, and for clips of a few seconds an FFT resampler is exact up to the new Nyquist frequency.
    """
    if rate == target or len(x) == 0:
        return x.astype(np.float32)
    n_out = round(len(x) * target / rate)
    spec = np.fft.rfft(x.astype(np.float64))
    bins = n_out // 2 + 1
    out_spec = np.zeros(bins, dtype=complex)
    keep = min(bins, len(spec))
    out_spec[:keep] = spec[:keep]
    return (np.fft.irfft(out_spec, n=n_out) * (n_out / len(x))).astype(np.float32)


def load_freedesktop(path: Path, max_seconds: float = 8.0, min_seconds: float = 1.0) -> np.ndarray:
    """Decode an ``.oga`` with soundfile, mix to mono, resample to 16 kHz, cut to ``max_seconds``.

    Some theme sounds last only 60 ms; trailing silence pads them to ``min_seconds`` so every clip is
    long enough for framed features.
    """
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = resample_fft(audio.mean(axis=1), int(rate), SAMPLE_RATE)
    mono = mono[: int(max_seconds * SAMPLE_RATE)]
    mono = np.pad(mono, (0, max(0, int(min_seconds * SAMPLE_RATE) - len(mono))))
    peak = float(np.abs(mono).max()) if len(mono) else 0.0
    return (mono / peak * 0.99 if peak > 0.99 else mono).astype(np.float32)
