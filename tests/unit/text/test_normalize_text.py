"""Text normalisers: Whisper-style English and the language-neutral basic one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.text.normalize import (
    english_normalizer,
    find_spelling_mapping,
    get_normalizer,
    normalize_basic,
    normalize_english,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Mr. Smith won't pay twenty-five dollars!", "mister smith will not pay $25"),
        ("Hello [noise] um (laughs) world.", "hello world"),
        ("It's 1,000 people, isn't it?", "it is 1000 people is not it"),
        ("Café  déjà vu", "cafe deja vu"),
        ("", ""),
    ],
)
def test_english_matches_whisper_rules(raw: str, expected: str) -> None:
    assert normalize_english(raw) == expected


def test_english_without_mapping_keeps_british_spelling() -> None:
    if find_spelling_mapping() is not None:
        pytest.skip(f"a Whisper spelling mapping is installed here ({find_spelling_mapping()})")
    # No offline package ships Whisper's normalizer.json, so the spelling mapping is empty by default.
    assert normalize_english("The colour grey") == "the colour grey"


def test_english_uses_a_spelling_mapping_file(tmp_path: Path) -> None:
    mapping = tmp_path / "normalizer.json"
    mapping.write_text(json.dumps({"colour": "color"}))
    assert english_normalizer(str(mapping))("The Colour!") == "the color"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Bonjour, le Monde!  It's", "bonjour le monde it s"),
        ("你好，世界。", "你好 世界"),
        ("Größe: 5€ ", "größe 5"),
        ("ＡＢＣ", "abc"),  # NFKC folds full-width letters
    ],
)
def test_basic(raw: str, expected: str) -> None:
    assert normalize_basic(raw) == expected


def test_get_normalizer() -> None:
    assert get_normalizer("none")("A, b") == "A, b"
    assert get_normalizer("basic")("A, b") == "a b"
    with pytest.raises(ValueError, match="valid"):
        get_normalizer("french")
