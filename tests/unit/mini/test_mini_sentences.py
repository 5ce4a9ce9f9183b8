"""Fortune sentences for synthetic speech, and the speech world's text-to-speech plan (files written here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from usam_toolkit.mini import speech
from usam_toolkit.mini.build import SCALES, Sources, plan_text_tts
from usam_toolkit.mini.sentences import fortune_files, keep_sentence, read_sentences, split_sentences

FORTUNES = """The early bird gets the worm. But the second mouse gets the cheese.
%
You will be hungry again in 1 hour.
%
Never trust a computer you can't throw out a window.
		-- Steve Wozniak
%
does this sentence start small?
%
READ THE MANUAL before you ask.
%
Hi.
%
The early bird gets the worm.
%
Time flies like an arrow; fruit flies like a banana!
"""


def test_sentences_are_split_filtered_and_deduplicated(tmp_path: Path) -> None:
    folder = tmp_path / "usr" / "share" / "games" / "fortunes"
    folder.mkdir(parents=True)
    (folder / "wisdom").write_text(FORTUNES, encoding="utf-8")
    (folder / "wisdom.dat").write_bytes(b"\x00\x01")
    (folder / "off").mkdir()
    files = fortune_files([str(p) for p in sorted(folder.rglob("*"))])
    assert files == [folder / "wisdom"]
    assert read_sentences(files) == [
        "The early bird gets the worm.",  # kept once: the later duplicate entry is dropped
        "But the second mouse gets the cheese.",
        "Never trust a computer you can't throw out a window.",  # the attribution line is gone
        "Time flies like an arrow; fruit flies like a banana!",
    ]


def test_keep_sentence_rules() -> None:
    assert split_sentences("One two three. Four five six!\n  -- Someone") == [
        "One two three.",
        "Four five six!",
    ]
    assert keep_sentence("Keep this short sentence.")
    assert not keep_sentence("You owe 5 dollars.")  # digits: spoken form ambiguous
    assert not keep_sentence("lower case start here.")
    assert not keep_sentence("Never SHOUT at people.")
    assert not keep_sentence("Too short.")
    assert not keep_sentence("No final punctuation here")
    assert not keep_sentence(" ".join(["word"] * 19) + ".")


def test_text_tts_plan_never_speaks_a_held_out_sentence() -> None:
    texts = [f"This is training sentence number {w}." for w in ("one", "two", "three", "four", "five", "six")]
    held = {speech.sentence_group(texts[2]), speech.sentence_group(texts[4])}
    src = Sources([], {}, [], ("en-us", "en-gb+f3"), {}, Path("/nonexistent.sf2"), {}, texts, ("slt", "awb"))
    spec = SCALES["tiny"].__class__(**{**SCALES["tiny"].__dict__, "asr_text_tts": 10})
    clips = plan_text_tts(src, spec, seed=0, held_out=held)
    assert len(clips) == 4  # six sentences, two held out, each rendered once
    assert {c.entry["target"] for c in clips} == set(texts) - {texts[2], texts[4]}
    assert all(c.split == "train" and c.entry["task"] == "asr" for c in clips)
    engines = [c.entry["speaker"].split(":")[0] for c in clips]
    assert engines == ["espeak-ng", "flite", "espeak-ng", "flite"]
    assert [c.entry["id"].endswith("-8k") for c in clips] == [False, False, True, True]
    assert len({c.entry["id"] for c in clips}) == len(clips)
    assert plan_text_tts(src, SCALES["tiny"], seed=0, held_out=held) == []  # asr_text_tts = 0: none


@pytest.mark.skipif(shutil.which("flite") is None, reason="needs the Debian package flite")
def test_flite_renders_speech_and_the_telephone_band_is_8_khz() -> None:
    voices = speech.available_flite_voices()
    assert "slt" in voices
    audio, rate = speech.flite("Hello there.", speech.FliteSpec("slt", 1.0))
    assert rate == 16000 and 0.3 < len(audio) / rate < 3.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.01
    phone, phone_rate = speech.telephone_band(audio, rate)
    assert phone_rate == 8000 and abs(len(phone) - len(audio) // 2) <= 1
