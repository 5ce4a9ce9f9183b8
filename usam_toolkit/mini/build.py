"""Build the mini world: plan every clip from the seed, render the missing audio, write the manifests.

Layout of ``out``::

    train.jsonl dev.jsonl test.jsonl           all tasks mixed
    train_asr.jsonl ... test_mc.jsonl          the same examples, one file per task and split
    train_asr_espeak.jsonl                     (speech scale) train_asr.jsonl without the flite clips
    world.json                                 counts, hours, sources, seed, scale, package versions
    audio/{speech,tts,events,music}/...        wav files (paths in the manifests are relative to ``out``)
    midi/<recipe>.mid                          the composed scores

Clip ids and file names are content hashes of their recipes (or the prompt id and rendering settings),
so a second run finds every file already there and only rewrites the (identical) manifests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_bytes_atomic
from ..errors import DataError
from . import debian, events, music, sentences, speech
from .captions import event_captions, music_captions
from .splits import SPLITS, partition, rng_for, seeded_order, split_of
from .translation import prompt_pairs

TASKS = ("asr", "s2tt", "aac", "mc")
#: bump when a change in the code changes the audio or captions of an existing id: file reuse is by id,
#: so a folder built by another builder version is refused rather than silently mixed.
BUILDER_VERSION = 1
#: human prompts outside this length range (seconds) are left out (long IVR menus, clipped digits).
SPEECH_SECONDS = (0.3, 8.0)
#: sentences rendered by espeak-ng are at most this long when spoken by the human voice.
TTS_SOURCE_SECONDS = 6.0


@dataclass(frozen=True)
class ScaleSpec:
    """How many clips each pool contributes; per-split dicts are ``{"train": n, "dev": n, "test": n}``."""

    asr_human: dict[str, int]
    asr_librivox: int
    asr_tts: int
    s2tt_human: dict[str, int]
    s2tt_tts: int
    aac: dict[str, int]
    mc: dict[str, int]
    #: at most this share of an aac split comes from the freedesktop sounds (at least one when available).
    freedesktop_share: float = 0.25
    #: synthetic asr training clips of distinct sentences from Debian's fortunes (none equal to a dev or
    #: test sentence), half espeak-ng and half flite, half of them band-limited to 8 kHz like the prompts.
    asr_text_tts: int = 0


SCALES: dict[str, ScaleSpec] = {
    "tiny": ScaleSpec(
        asr_human={"train": 4, "dev": 2, "test": 2},
        asr_librivox=1,
        asr_tts=3,
        s2tt_human={"train": 3, "dev": 2, "test": 3},
        s2tt_tts=2,
        aac={"train": 6, "dev": 2, "test": 3},
        mc={"train": 4, "dev": 2, "test": 2},
    ),
    "small": ScaleSpec(
        asr_human={"train": 300, "dev": 40, "test": 55},
        asr_librivox=5,
        asr_tts=250,
        s2tt_human={"train": 250, "dev": 30, "test": 50},
        s2tt_tts=150,
        aac={"train": 300, "dev": 40, "test": 60},
        mc={"train": 200, "dev": 30, "test": 40},
    ),
}
#: the small world plus 4,000 synthetic clips of distinct sentences: the speech recipe's world. Its dev and
#: test splits are the small world's, clip for clip (same seed, same plan).
SCALES["speech"] = dataclasses.replace(SCALES["small"], asr_text_tts=4000)


@dataclass
class Clip:
    """One manifest entry and how to make its audio (``make`` returns ``(mono float32, sample rate)``)."""

    split: str
    entry: dict
    make: Callable[[], tuple[np.ndarray, int]]


def default_out_dir(scale: str) -> Path:
    """``./data/mini-<scale>`` under the current directory."""
    return Path("data") / f"mini-{scale}"


def _human_loader(path: Path) -> Callable[[], tuple[np.ndarray, int]]:
    def load() -> tuple[np.ndarray, int]:
        import soundfile as sf

        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return audio.mean(axis=1), int(rate)

    return load


@dataclass
class Sources:
    """Everything read from the Debian packages."""

    english: list[speech.Utterance]
    french_texts: dict[str, str]
    librivox: list[speech.Utterance]
    voices: tuple[str, ...]
    freedesktop: dict[str, Path]
    soundfont: Path
    durations: dict[Path, float]
    #: fortune sentences and flite voices: read only for scales with ``asr_text_tts``.
    sentences: list[str] = dataclasses.field(default_factory=list)
    flite_voices: tuple[str, ...] = ()


def load_sources(text_tts: bool = False) -> Sources:
    """Read transcripts, file lists and durations of the installed packages (``text_tts``: also the
    fortune sentences and flite's voices)."""
    import soundfile as sf

    english = speech.asterisk_utterances(
        debian.package_files("asterisk-core-sounds-en"), debian.package_files("asterisk-core-sounds-en-wav")
    )
    french = speech.read_prompt_index(debian.package_files("asterisk-core-sounds-fr"))
    librivox = speech.librivox_utterances(debian.package_files("pocketsphinx-testdata"))
    durations = {u.path: sf.info(str(u.path)).duration for u in english + librivox}
    voices = speech.available_voices()
    if not voices:
        raise DataError(
            f"espeak-ng knows none of the voices {speech.ESPEAK_VOICES}; check `espeak-ng --voices=en`"
        )
    fd = events.freedesktop_sounds(debian.package_files("sound-theme-freedesktop"))
    soundfont = music.find_soundfont(debian.package_files("fluid-soundfont-gm"))
    texts: list[str] = []
    flite_voices: tuple[str, ...] = ()
    if text_tts:
        texts = sentences.read_sentences(sentences.fortune_files(debian.package_files("fortunes")))
        flite_voices = speech.available_flite_voices()
        if not texts or not flite_voices:
            raise DataError(
                "the speech world needs fortune sentences and flite voices; "
                "check `dpkg -L fortunes`, `flite -lv`"
            )
    return Sources(english, french, librivox, voices, fd, soundfont, durations, texts, flite_voices)


def _speech_ok(src: Sources, u: speech.Utterance, top: float = SPEECH_SECONDS[1]) -> bool:
    return SPEECH_SECONDS[0] <= src.durations[u.path] <= top


def _human_audio(u: speech.Utterance) -> str:
    return f"audio/speech/{speech.safe_name(u.speaker)}/{speech.safe_name(u.uid)}.wav"


def plan_speech(src: Sources, spec: ScaleSpec, seed: int) -> list[Clip]:
    """ASR and S2TT clips. Sentences are split once for both tasks; dev/test are human speech only."""
    clips: list[Clip] = []
    pool = [u for u in src.english if _speech_ok(src, u)]
    by_split = partition(pool, lambda u: speech.sentence_group(u.text), seed)

    for split in SPLITS:
        for u in seeded_order(by_split[split], seed, f"asr-{split}")[: spec.asr_human[split]]:
            entry = {
                "id": f"asr-{speech.safe_name(u.speaker)}-{speech.safe_name(u.uid)}",
                "audio": _human_audio(u),
                "task": "asr",
                "target": u.text,
                "source_lang": "en",
                "speaker": u.speaker,
                "group": speech.sentence_group(u.text),
            }
            clips.append(Clip(split, entry, _human_loader(u.path)))
    # The LibriVox reader never appears in training: an unseen human speaker for the test split.
    for u in seeded_order(src.librivox, seed, "librivox")[: spec.asr_librivox]:
        entry = {
            "id": f"asr-librivox-{u.uid}",
            "audio": _human_audio(u),
            "task": "asr",
            "target": u.text,
            "source_lang": "en",
            "speaker": u.speaker,
            "group": speech.sentence_group(u.text),
        }
        clips.append(Clip("test", entry, _human_loader(u.path)))

    pairs = prompt_pairs(pool, src.french_texts)
    pairs_by_split = partition(pairs, lambda p: speech.sentence_group(p.source.text), seed)
    for split in SPLITS:
        for p in seeded_order(pairs_by_split[split], seed, f"s2tt-{split}")[: spec.s2tt_human[split]]:
            u = p.source
            entry = {
                "id": f"s2tt-{speech.safe_name(u.speaker)}-{speech.safe_name(u.uid)}",
                "audio": _human_audio(u),
                "task": "s2tt",
                "target": p.french,
                "source_text": u.text,
                "source_lang": "en",
                "target_lang": "fr",
                "speaker": u.speaker,
                "group": speech.sentence_group(u.text),
            }
            clips.append(Clip(split, entry, _human_loader(u.path)))

    # Synthetic speech only for training sentences, so no test sentence is ever heard in training.
    train_sentences = [u for u in by_split["train"] if _speech_ok(src, u, TTS_SOURCE_SECONDS)]
    train_pairs = [p for p in pairs_by_split["train"] if _speech_ok(src, p.source, TTS_SOURCE_SECONDS)]
    clips += _plan_tts(
        "asr",
        seeded_order(train_sentences, seed, "tts-asr"),
        spec.asr_tts,
        src,
        seed,
        lambda u: u,
        lambda u: {"target": u.text},
    )
    clips += _plan_tts(
        "s2tt",
        seeded_order(train_pairs, seed, "tts-s2tt"),
        spec.s2tt_tts,
        src,
        seed,
        lambda p: p.source,
        lambda p: {"target": p.french, "source_text": p.source.text, "target_lang": "fr"},
    )
    return clips


def _plan_tts(
    task: str,
    items: list,
    count: int,
    src: Sources,
    seed: int,
    utterance_of: Callable[[object], speech.Utterance],
    fields: Callable[[object], dict],
) -> list[Clip]:
    """``count`` espeak-ng renderings of ``items`` (cycled), each with a random voice, speed and pitch."""
    clips: list[Clip] = []
    if not items:
        return clips
    rng = rng_for(seed, "tts", task)
    seen: set[str] = set()
    for index in range(count * 3):
        if len(clips) >= count:
            break
        item = items[index % len(items)]
        u = utterance_of(item)
        voice = speech.sample_espeak(rng, src.voices)
        clip_id = f"{task}-tts-{speech.safe_name(u.uid)}-{voice.tag}"
        if clip_id in seen:
            continue
        seen.add(clip_id)
        extra = fields(item)
        entry = {
            "id": clip_id,
            "audio": f"audio/tts/{speech.safe_name(u.uid)}-{voice.tag}.wav",
            "task": task,
            "target": extra["target"],
        }
        if "source_text" in extra:
            entry["source_text"] = extra["source_text"]
        entry["source_lang"] = "en"
        if "target_lang" in extra:
            entry["target_lang"] = extra["target_lang"]
        entry.update({"speaker": voice.speaker, "group": speech.sentence_group(u.text)})
        clips.append(Clip("train", entry, lambda text=u.text, v=voice: speech.espeak(text, v)))
    return clips


def plan_text_tts(src: Sources, spec: ScaleSpec, seed: int, held_out: set[str]) -> list[Clip]:
    """``spec.asr_text_tts`` asr training clips of distinct fortune sentences whose group is not in
    ``held_out`` (the dev and test sentences): espeak-ng and flite alternate, every other clip of each is
    band-limited to 8 kHz like the human telephone prompts."""
    if not spec.asr_text_tts:
        return []
    pool = [t for t in src.sentences if speech.sentence_group(t) not in held_out]
    rng = rng_for(seed, "text-tts")
    clips: list[Clip] = []
    for index, text in enumerate(seeded_order(pool, seed, "text-tts")[: spec.asr_text_tts]):
        use_flite = index % 2 == 1
        voice: speech.FliteSpec | speech.EspeakSpec = (
            speech.sample_flite(rng, src.flite_voices) if use_flite else speech.sample_espeak(rng, src.voices)
        )
        phone = index % 4 >= 2
        group = speech.sentence_group(text)
        name = f"{group[len('sent-') :]}-{voice.tag}{'-8k' if phone else ''}"
        entry = {
            "id": f"asr-text-{name}",
            "audio": f"audio/tts-text/{name}.wav",
            "task": "asr",
            "target": text,
            "source_lang": "en",
            "speaker": voice.speaker,
            "group": group,
        }

        def make(t: str = text, v: object = voice, phone: bool = phone) -> tuple[np.ndarray, int]:
            audio, rate = speech.flite(t, v) if isinstance(v, speech.FliteSpec) else speech.espeak(t, v)  # type: ignore[arg-type]
            return speech.telephone_band(audio, rate) if phone else (audio, rate)

        clips.append(Clip("train", entry, make))
    return clips


def _event_group(recipe: events.EventRecipe) -> str:
    """Caption-level identity: clips that would get the same captions share a group (and a split)."""
    signature = [(e.kind, e.count, e.loudness) for e in recipe.events]
    overlaps = [recipe.overlaps(i) for i in range(1, len(recipe.events))]
    text = json.dumps([signature, overlaps, recipe.background])
    return "ev-" + hashlib.sha1(text.encode()).hexdigest()[:10]


def _music_group(recipe: music.MusicRecipe) -> str:
    fields = dataclasses.asdict(recipe)
    fields.pop("seed"), fields.pop("bpm")
    return "mus-" + hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def _fill_by_recipe(
    counts: dict[str, int], sample: Callable[[], object], group_of: Callable[[object], str], seed: int
) -> dict[str, list[object]]:
    """Draw recipes until every split holds its count; each recipe goes to its group's split."""
    out: dict[str, list[object]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    for _ in range(200 * (sum(counts.values()) + 10)):
        if all(len(out[s]) >= counts[s] for s in SPLITS):
            break
        recipe = sample()
        digest = recipe.digest()  # type: ignore[attr-defined]
        split = split_of(group_of(recipe), seed)
        if digest not in seen and len(out[split]) < counts[split]:
            seen.add(digest)
            out[split].append(recipe)
    return out


def plan_events(src: Sources, spec: ScaleSpec, seed: int) -> list[Clip]:
    """AAC clips: freedesktop sounds (split by sound name) and procedural event mixtures (by signature)."""
    clips: list[Clip] = []
    fd_split = partition(list(src.freedesktop), lambda name: f"fd-{name}", seed)
    counts = {}
    for split in SPLITS:
        n_fd = min(len(fd_split[split]), max(1, int(spec.aac[split] * spec.freedesktop_share)))
        n_fd = min(n_fd, spec.aac[split])
        for name in seeded_order(fd_split[split], seed, f"fd-{split}")[:n_fd]:
            captions = list(events.FREEDESKTOP_CAPTIONS[name])
            entry = {
                "id": f"aac-fd-{name}",
                "audio": f"audio/events/fd-{name}.wav",
                "task": "aac",
                "target": captions,
                "group": f"fd-{name}",
            }
            path = src.freedesktop[name]
            clips.append(Clip(split, entry, lambda p=path: (events.load_freedesktop(p), events.SAMPLE_RATE)))
        counts[split] = spec.aac[split] - n_fd
    rng = rng_for(seed, "aac")
    recipes = _fill_by_recipe(counts, lambda: events.sample_recipe(rng), _event_group, seed)  # type: ignore[arg-type]
    for split in SPLITS:
        for recipe in recipes[split]:
            digest = recipe.digest()  # type: ignore[attr-defined]
            captions = event_captions(recipe, rng_for(seed, "aac-captions", digest))  # type: ignore[arg-type]
            entry = {
                "id": f"aac-syn-{digest}",
                "audio": f"audio/events/syn-{digest}.wav",
                "task": "aac",
                "target": captions,
                "group": _event_group(recipe),
            }  # type: ignore[arg-type]
            clips.append(Clip(split, entry, lambda r=recipe: (events.synthesize(r), events.SAMPLE_RATE)))
    return clips


def plan_music(src: Sources, spec: ScaleSpec, seed: int, out: Path) -> list[Clip]:
    """MC clips: procedurally composed pieces rendered by fluidsynth, split by musical recipe."""
    rng = rng_for(seed, "mc")
    recipes = _fill_by_recipe(spec.mc, lambda: music.sample_recipe(rng), _music_group, seed)  # type: ignore[arg-type]
    clips: list[Clip] = []
    for split in SPLITS:
        for recipe in recipes[split]:
            digest = recipe.digest()  # type: ignore[attr-defined]
            captions = music_captions(recipe, rng_for(seed, "mc-captions", digest))  # type: ignore[arg-type]
            entry = {
                "id": f"mc-{digest}",
                "audio": f"audio/music/{digest}.wav",
                "task": "mc",
                "target": captions,
                "group": _music_group(recipe),
            }  # type: ignore[arg-type]

            def make(r=recipe, d=digest) -> tuple[np.ndarray, int]:
                midi_path = out / "midi" / f"{d}.mid"
                if not midi_path.is_file():
                    write_bytes_atomic(midi_path, music.compose(r), durable=False)
                return music.render(r, midi_path, src.soundfont), music.SAMPLE_RATE

            clips.append(Clip(split, entry, make))
    return clips


# The world's files are written atomically (a killed build leaves no partial file) but not fsynced: there are
# thousands of small ones.
def _write_audio(path: Path, audio: np.ndarray, rate: int) -> None:
    import soundfile as sf

    with atomic_path(path, durable=False) as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")


def _render_all(clips: list[Clip], out: Path, workers: int, progress: bool) -> None:
    """Make every missing audio file once (clips may share one) with a thread pool and a progress bar."""
    from tqdm.auto import tqdm

    jobs: dict[str, Callable[[], tuple[np.ndarray, int]]] = {}
    for clip in clips:
        jobs.setdefault(clip.entry["audio"], clip.make)

    def run(rel: str) -> None:
        path = out / rel
        if not path.is_file():
            audio, rate = jobs[rel]()
            _write_audio(path, audio, rate)

    with (
        tqdm(total=len(jobs), desc="mini world", unit="clip", disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        futures = [pool.submit(run, rel) for rel in jobs]
        for future in as_completed(futures):
            future.result()
            bar.update(1)


def _with_duration(entry: dict, out: Path) -> dict:
    import soundfile as sf

    info = sf.info(str(out / entry["audio"]))
    ordered = {}
    for key, value in entry.items():
        ordered[key] = value
        if key == "audio":
            ordered["duration"] = round(info.frames / info.samplerate, 3)
    return ordered


def _write_jsonl(path: Path, entries: list[dict]) -> None:
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    write_bytes_atomic(path, text.encode("utf-8"), durable=False)


def build_world(
    out: Path | str | None = None,
    scale: str = "small",
    seed: int = 0,
    install_missing: bool | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build (or complete) the mini world in ``out`` and return its ``world.json`` summary.

    Args:
        out: output folder; default ``./data/mini-<scale>``.
        scale: a key of :data:`SCALES` (``tiny`` for tests, ``small`` for the demo).
        seed: the world's seed; the same seed gives byte-identical manifests and audio.
        install_missing: ``apt-get install`` missing Debian packages (root only); ``None`` reads
            ``$USAM_MINI_INSTALL``.
        workers: threads rendering audio (default: twice the CPU count, at least 4).
        progress: show a tqdm progress bar.

    Raises:
        DataError: a Debian package or tool is missing, or a source file is unreadable.
    """
    if scale not in SCALES:
        raise DataError(f"unknown mini-world scale '{scale}'; valid scales: {', '.join(SCALES)}")
    out = Path(out) if out is not None else default_out_dir(scale)
    _check_builder_version(out)
    spec = SCALES[scale]
    packages = dict(debian.PACKAGES) | (debian.SPEECH_PACKAGES if spec.asr_text_tts else {})
    versions = debian.ensure_packages(tuple(packages), install=install_missing)
    src = load_sources(text_tts=bool(spec.asr_text_tts))

    clips = plan_speech(src, spec, seed)
    held_out = {c.entry["group"] for c in clips if c.split != "train"}
    clips += plan_text_tts(src, spec, seed, held_out)
    clips += plan_events(src, spec, seed) + plan_music(src, spec, seed, out)
    out.mkdir(parents=True, exist_ok=True)
    # Most jobs wait on espeak-ng / fluidsynth subprocesses, so more threads than cores pay off.
    _render_all(clips, out, workers or max(4, 2 * (os.cpu_count() or 2)), progress)

    manifests: dict[str, dict[str, list[dict]]] = {s: {t: [] for t in TASKS} for s in SPLITS}
    for clip in clips:
        manifests[clip.split][clip.entry["task"]].append(_with_duration(clip.entry, out))
    counts: dict[str, dict[str, int]] = {t: {} for t in TASKS}
    hours: dict[str, dict[str, float]] = {t: {} for t in TASKS}
    for split in SPLITS:
        _write_jsonl(out / f"{split}.jsonl", [e for t in TASKS for e in manifests[split][t]])
        for task in TASKS:
            entries = manifests[split][task]
            _write_jsonl(out / f"{split}_{task}.jsonl", entries)
            counts[task][split] = len(entries)
            hours[task][split] = round(sum(e["duration"] for e in entries) / 3600.0, 4)
    extra: dict[str, str] = {}
    if spec.asr_text_tts:
        # The asr training clips without flite's renderings: the mix on which the speech probes and the
        # speech recipe listened (notes/speech-probes.md, docs/mini-world.md).
        espeak = [e for e in manifests["train"]["asr"] if not str(e.get("speaker", "")).startswith("flite:")]
        _write_jsonl(out / "train_asr_espeak.jsonl", espeak)
        extra["train_asr_espeak"] = "train_asr_espeak.jsonl"

    summary = {
        "name": "usam mini world",
        "builder_version": BUILDER_VERSION,
        "scale": scale,
        "seed": seed,
        "counts": counts,
        "hours": hours,
        "total_clips": sum(sum(c.values()) for c in counts.values()),
        "total_hours": round(sum(sum(h.values()) for h in hours.values()), 4),
        "manifests": {s: f"{s}.jsonl" for s in SPLITS}
        | {f"{s}_{t}": f"{s}_{t}.jsonl" for s in SPLITS for t in TASKS}
        | extra,
        "split_unit": (
            "group: sentence (asr, s2tt), sound name or caption signature (aac), musical recipe (mc)"
        ),
        "sources": {name: {"version": versions[name], "used_for": why} for name, why in packages.items()},
        "tools": {
            "espeak-ng": debian.tool_version("espeak-ng"),
            "fluidsynth": debian.tool_version("fluidsynth"),
        }
        | ({"flite": debian.tool_version("flite", "--version")} if spec.asr_text_tts else {}),
        "espeak_voices": list(src.voices),
        "soundfont": str(src.soundfont),
        "scale_spec": dataclasses.asdict(spec),
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomic(out / "world.json", text.encode(), durable=False)
    return summary


def _check_builder_version(out: Path) -> None:
    world = out / "world.json"
    if not world.is_file():
        return
    try:
        found = json.loads(world.read_text(encoding="utf-8")).get("builder_version")
    except (OSError, ValueError) as exc:
        raise DataError(f"{world} is unreadable ({exc}); remove {out} or build into another --out") from exc
    if found != BUILDER_VERSION:
        raise DataError(
            f"{out} was built by mini-world builder version {found}, this is version {BUILDER_VERSION}: its "
            f"audio would be reused under the same ids; remove {out} or build into another --out"
        )


def timed_build(**kwargs) -> tuple[dict, float]:
    """:func:`build_world` and its wall-clock seconds."""
    start = time.perf_counter()
    summary = build_world(**kwargs)
    return summary, time.perf_counter() - start
