"""Captions written from recipes say what the recipe fixes."""

from __future__ import annotations

import numpy as np
import pytest

from usam_toolkit.mini.captions import (
    EVENT_WORDS,
    SEQUENTIAL,
    SIMULTANEOUS,
    TEMPO_WORDS,
    event_captions,
    music_captions,
)
from usam_toolkit.mini.events import EventRecipe, EventSpec, sample_recipe
from usam_toolkit.mini.music import MusicRecipe
from usam_toolkit.mini.music import sample_recipe as sample_music


def _music(**kw) -> MusicRecipe:
    base = dict(  # noqa: C408 - keyword form reads like the recipe
        instrument="piano",
        tempo="slow",
        bpm=70,
        tonic="A",
        mode="minor",
        progression=(0, 3, 4, 0),
        drums=False,
        dynamics="soft",
        seed=1,
    )
    base.update(kw)
    return MusicRecipe(**base)


def test_canonical_music_caption() -> None:
    captions = music_captions(_music(), np.random.default_rng(0))
    assert captions[0] == "a slow piano piece in A minor with no drums"
    captions = music_captions(
        _music(instrument="trumpet", tempo="fast", bpm=150, tonic="E flat", mode="major", drums=True),
        np.random.default_rng(0),
    )
    assert captions[0] == "a fast trumpet piece in E flat major with drums"


def test_music_progression_numerals() -> None:
    assert _music().numerals == "i-iv-v-i"
    assert _music(mode="major", progression=(0, 4, 5, 3)).numerals == "I-V-vi-IV"


@pytest.mark.parametrize("index", range(30))
def test_every_music_caption_names_instrument_tempo_and_key(index: int) -> None:
    recipe = sample_music(np.random.default_rng(index))
    captions = music_captions(recipe, np.random.default_rng(100 + index))
    assert 3 <= len(captions) <= 5 and len(set(captions)) == len(captions)
    for caption in captions:
        assert recipe.instrument in caption
        assert recipe.key in caption
        assert any(w in caption for w in TEMPO_WORDS[recipe.tempo]) or f"{recipe.bpm} BPM" in caption
        other_tempi = {w for t, ws in TEMPO_WORDS.items() if t != recipe.tempo for w in ws}
        assert not any(f" {w} " in f" {caption} " for w in other_tempi), caption
        drum_words = "drum" in caption and "no drums" not in caption
        if not recipe.drums:
            assert not drum_words, caption


def test_canonical_event_captions_reflect_order_count_and_loudness() -> None:
    sequential = EventRecipe(
        (EventSpec("bell", 2, "loud", 0.0, 1.9), EventSpec("rain", 1, "faint", 2.2, 2.0)), "silence", 4.5, 7
    )
    assert (
        event_captions(sequential, np.random.default_rng(0))[0]
        == "a loud bell rings twice, then faint rain falls"
    )
    overlapping = EventRecipe(
        (EventSpec("rain", 1, "normal", 0.0, 3.0), EventSpec("dog bark", 3, "normal", 1.0, 1.6)),
        "hum",
        3.5,
        7,
    )
    assert event_captions(overlapping, np.random.default_rng(0))[0] == (
        "rain falls while a dog barks three times over a low electrical hum"
    )


_COUNT_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


@pytest.mark.parametrize("index", range(40))
def test_every_event_caption_mentions_events_in_order_with_loudness_and_background(index: int) -> None:
    recipe = sample_recipe(np.random.default_rng(index))
    captions = event_captions(recipe, np.random.default_rng(1000 + index))
    assert 3 <= len(captions) <= 5 and len(set(captions)) == len(captions)
    for caption in captions:
        positions = []
        for event in recipe.events:
            found = [caption.find(w) for w in EVENT_WORDS[event.kind][2] if w in caption]
            assert found, (event.kind, caption)
            positions.append(min(found))
            if event.loudness != "normal":
                assert event.loudness in caption
            if event.kind == "footsteps" and event.count > 1:
                assert _NUMBERS[event.count] in caption, caption
            elif event.kind in ("bell", "beep", "knock", "dog bark", "bird chirp") and event.count > 1:
                assert _COUNT_WORDS[event.count] in caption, caption
        assert positions == sorted(positions), caption  # mentioned in time order
        for i in range(1, len(recipe.events)):
            joiners = SIMULTANEOUS if recipe.overlaps(i) else SEQUENTIAL
            assert any(j in caption for j in joiners), caption
        if recipe.background == "hum":
            assert "hum" in caption
        if recipe.background == "pink noise":
            assert "noise" in caption
        if all(e.loudness == "normal" for e in recipe.events):
            assert "loud" not in caption and "faint" not in caption
