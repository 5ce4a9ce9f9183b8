"""Reference captions written from recipes by templates with synonyms.

Every caption of a recipe states what the recipe fixes, so a model can only match them by hearing it:
for events the event types, their counts, their order (``then``) or simultaneity (``while``), their
loudness (``loud`` / ``faint``) and a non-silent background; for music the instrument, the tempo (word
or BPM) and the key, plus some of drums, dynamics, mood and progression. The first caption follows a
fixed template (the training target); the others are drawn with the given generator.
"""

from __future__ import annotations

import numpy as np

from .events import KINDS, EventRecipe, EventSpec
from .music import MusicRecipe

_ADVERB = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
_NUMBER = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

#: kind -> (subject nouns, verbs (3rd person singular), words every caption of the kind contains one of).
#: Subjects are the sounds themselves, so "loud"/"faint" qualify the sound ("a loud knock sounds").
EVENT_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "bell": (("bell", "small bell"), ("rings", "chimes", "tolls"), ("bell",)),
    "beep": (("beep", "electronic beep"), ("sounds", "rings out"), ("beep",)),
    "knock": (("knock", "knock on a door", "knock on wood"), ("sounds", "is heard"), ("knock",)),
    "footsteps": (("footsteps",), ("are heard", "sound", "echo"), ("footstep",)),
    "dog bark": (("dog", "small dog"), ("barks", "yaps"), ("dog",)),
    "bird chirp": (("bird", "small bird"), ("chirps", "tweets"), ("bird",)),
    "siren": (("siren", "emergency siren"), ("wails", "sounds", "blares"), ("siren",)),
    "alarm": (("alarm", "electronic alarm"), ("rings", "goes off", "buzzes"), ("alarm",)),
    "engine": (("engine", "motor engine"), ("rumbles", "idles", "runs"), ("engine",)),
    "rain": (("rain",), ("falls", "patters down", "pours"), ("rain",)),
}
#: background -> phrases appended to the caption; silence may go unmentioned.
BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "silence": ("", "", " in a quiet room", " against silence"),
    "hum": (
        " over a low electrical hum",
        " with a steady hum in the background",
        " against a humming background",
    ),
    "pink noise": (
        " over a background of hissing noise",
        " with steady noise in the background",
        " amid a constant noise",
    ),
}
#: joiners between consecutive events: one after the other, or overlapping in time.
SEQUENTIAL = (", then ", ", and then ", ", after which ", "; afterwards ")
SIMULTANEOUS = (" while ", " as ", ", and at the same time ")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def event_clause(event: EventSpec, rng: np.random.Generator | None) -> str:
    """``"a loud bell rings twice"``: subject (with loudness), verb and, for countable kinds, the count.

    With ``rng=None`` the first synonym of each slot is used (the canonical caption).
    """
    subjects, verbs, _ = EVENT_WORDS[event.kind]
    pick = (lambda xs: xs[0]) if rng is None else (lambda xs: xs[int(rng.integers(len(xs)))])
    noun, verb = pick(subjects), pick(verbs)
    adjective = {"loud": "loud ", "faint": "faint ", "normal": ""}[event.loudness]
    if event.kind == "footsteps":
        if event.count == 1:
            return f"a single {adjective}footstep is heard"
        return f"{_NUMBER.get(event.count, str(event.count))} {adjective}{noun} {verb}"
    if event.kind == "rain":
        return f"{adjective}rain {verb}"
    phrase = adjective + noun
    clause = f"{_article(phrase)} {phrase} {verb}"
    if KINDS[event.kind][1]:
        clause += " " + _ADVERB.get(event.count, f"{event.count} times")
    return clause


def _event_caption(recipe: EventRecipe, rng: np.random.Generator | None) -> str:
    pick = (lambda xs: xs[0]) if rng is None else (lambda xs: xs[int(rng.integers(len(xs)))])
    text = event_clause(recipe.events[0], rng)
    for index in range(1, len(recipe.events)):
        choices = SIMULTANEOUS if recipe.overlaps(index) else SEQUENTIAL
        # A second "while" in one sentence reads badly: prefer a joiner not used yet.
        choices = tuple(j for j in choices if j not in text) or choices
        joiner = pick(choices)
        text += joiner + event_clause(recipe.events[index], rng)
    return text + pick(BACKGROUND_PHRASES[recipe.background])


def event_captions(recipe: EventRecipe, rng: np.random.Generator, count: int | None = None) -> list[str]:
    """3-5 distinct captions (``count`` fixes how many); the first is the canonical template."""
    wanted = int(rng.integers(3, 6)) if count is None else count
    captions = [_event_caption(recipe, None)]
    for _ in range(50 * wanted):
        if len(captions) >= wanted:
            break
        caption = _event_caption(recipe, rng)
        if caption not in captions:
            captions.append(caption)
    return captions


TEMPO_WORDS = {
    "slow": ("slow", "unhurried", "leisurely"),
    "moderate": ("moderate", "medium", "steady"),
    "fast": ("fast", "quick", "lively"),
}
_DYNAMICS = {
    "soft": ("soft", "gentle", "quiet"),
    "loud": ("loud", "powerful", "forceful"),
    "crescendo": ("growing louder", "building in a crescendo", "swelling from soft to loud"),
}
_MOOD = {"major": ("bright", "cheerful", "happy"), "minor": ("melancholic", "dark", "sad")}
_DRUMS = {
    True: ("with drums", "accompanied by a regular drum beat", "over a simple drum pattern"),
    False: ("with no drums", "without percussion", "with no percussion"),
}

#: templates; every one names the instrument, the key and the tempo (as a word or in BPM).
_MUSIC_TEMPLATES = (
    "a {tempo} {instrument} piece in {key} {drums}",
    "{instrument} music at {bpm} BPM in the key of {key}, {dyn}, {drums}",
    "a {mood} {instrument} melody in {key}, played at {tempo_syn_a} tempo and {dyn}",
    "{instrument} plays a {numerals} chord progression in {key} at {bpm} BPM, {drums}",
    "an instrumental tune in {key} on {instrument_a}, {tempo_syn} and {dyn}, {drums}",
    "a {tempo_syn} {mood} piece for {instrument} in {key} {drums}",
)


def music_captions(recipe: MusicRecipe, rng: np.random.Generator, count: int | None = None) -> list[str]:
    """3-5 distinct captions of a music recipe; the first uses the first template with plain words."""
    wanted = int(rng.integers(3, 6)) if count is None else count

    def fill(template: str, plain: bool) -> str:
        pick = (lambda xs: xs[0]) if plain else (lambda xs: xs[int(rng.integers(len(xs)))])
        dyn = pick(_DYNAMICS[recipe.dynamics])
        tempo_syn = pick(TEMPO_WORDS[recipe.tempo]) if not plain else recipe.tempo
        return template.format(
            tempo=recipe.tempo,
            tempo_syn=tempo_syn,
            tempo_syn_a=f"{_article(tempo_syn)} {tempo_syn}",
            instrument=recipe.instrument,
            instrument_a=f"{_article(recipe.instrument)} {recipe.instrument}",
            key=recipe.key,
            bpm=recipe.bpm,
            drums=pick(_DRUMS[recipe.drums]),
            dyn=dyn,
            mood=pick(_MOOD[recipe.mode]),
            numerals=recipe.numerals,
        )

    captions = [fill(_MUSIC_TEMPLATES[0], True)]
    order = list(rng.permutation(len(_MUSIC_TEMPLATES) - 1) + 1)
    for index in order * 3:
        if len(captions) >= wanted:
            break
        caption = fill(_MUSIC_TEMPLATES[index], False)
        if caption not in captions:
            captions.append(caption)
    return captions
