"""Parsing of the asterisk and LibriVox transcripts, on files written by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import soundfile as sf

from usam_toolkit.mini.speech import (
    asterisk_utterances,
    clean_prompt_text,
    librivox_utterances,
    parse_prompt_index,
    prompt_audio,
    safe_name,
    sentence_group,
)
from usam_toolkit.mini.translation import prompt_pairs

INDEX = """; Core Asterisk Sounds in English

vm-login: Comedian Mail. Mailbox?
beep: [this is a simple beep tone]
confbridge-join: <beep ascending>
letters/at: at [@]
silence/1: (1 second of silence)
vm-intro: Please leave your message after the tone.  When done hang up. (simple tone sound plays)
digits/1: One.
empty:
"""


def test_parse_prompt_index_keeps_spoken_text_only() -> None:
    prompts = parse_prompt_index(INDEX.splitlines())
    assert prompts == {
        "vm-login": "Comedian Mail. Mailbox?",
        "letters/at": "at",
        "vm-intro": "Please leave your message after the tone. When done hang up.",
        "digits/1": "One.",
    }
    assert clean_prompt_text("[ascending tones]") is None
    assert clean_prompt_text("  (10 seconds of silence) ") is None


def test_asterisk_utterances_join_text_and_wav(tmp_path: Path) -> None:
    text = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(text, "wt", encoding="utf-8") as f:
        f.write(INDEX)
    voice = tmp_path / "sounds" / "en_US_f_Test"
    (voice / "digits").mkdir(parents=True)
    for uid in ("vm-login", "digits/1", "beep"):
        sf.write(str(voice / f"{uid}.wav"), np.zeros(800, dtype=np.float32), 8000)
    wavs = sorted(str(p) for p in voice.rglob("*.wav"))
    assert prompt_audio(wavs)[0] == "en_US_f_Test"
    utts = asterisk_utterances([str(text)], wavs)
    assert [(u.uid, u.text, u.speaker) for u in utts] == [
        ("digits/1", "One.", "en_US_f_Test"),
        ("vm-login", "Comedian Mail. Mailbox?", "en_US_f_Test"),
    ]
    assert utts[0].path == voice / "digits" / "1.wav"
    pairs = prompt_pairs(utts, {"vm-login": "Messagerie. Boîte vocale ?", "other": "x"})
    assert [(p.source.uid, p.french) for p in pairs] == [("vm-login", "Messagerie. Boîte vocale ?")]
    assert safe_name("digits/1") == "digits.1"


def test_librivox_transcription(tmp_path: Path) -> None:
    folder = tmp_path / "librivox"
    folder.mkdir()
    (folder / "transcription").write_text(
        "<s> he was not an ill disposed young man </s> (book-0880)\n<s> no audio here </s> (book-0999)\n"
    )
    sf.write(str(folder / "book-0880.wav"), np.zeros(1600, dtype=np.float32), 16000)
    utts = librivox_utterances([str(folder / "transcription")])
    assert [(u.uid, u.text) for u in utts] == [("book-0880", "he was not an ill disposed young man")]


def test_sentence_group_ignores_case_and_punctuation() -> None:
    assert sentence_group("Thank you.") == sentence_group("thank  you")
    assert sentence_group("Thank you.") != sentence_group("Thank you very much.")
