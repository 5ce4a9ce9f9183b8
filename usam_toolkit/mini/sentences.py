"""Distinct English sentences for synthetic ASR training speech, from Debian's ``fortunes`` package.

Why: the asterisk prompts give ~300 distinct training sentences, too few for a model to learn a mapping
from sounds to words that carries to sentences it never heard (docs/mini-world.md). Fortune files hold
thousands of short English sentences. They are read as plain text (entries separated by ``%`` lines);
attributions (``-- Author``), sentences with digits (their spoken form is ambiguous), very short or long
ones and anything but plain letters and punctuation are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

#: sentences with fewer / more words than this are left out (the human prompts have 1-25 words).
WORDS = (3, 18)
_ALLOWED = re.compile(r"^[A-Z][A-Za-z ,.'?!;:-]*$")
_SHOUTED = re.compile(r"\b[A-Z]{2,}\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SPACES = re.compile(r"\s+")


def fortune_files(files: Iterable[str]) -> list[Path]:
    """The text fortune files among a package's files (not the ``.dat`` indexes, not ``off/``)."""
    out = []
    for path in sorted(files):
        p = Path(path)
        if p.parent.name == "fortunes" and p.suffix == "" and p.is_file():
            out.append(p)
    return out


def split_sentences(entry: str) -> list[str]:
    """Sentences of one fortune entry, attribution lines dropped and whitespace collapsed."""
    lines = [ln for ln in entry.splitlines() if not ln.strip().startswith(("--", "-- "))]
    text = _SPACES.sub(" ", " ".join(lines)).strip()
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def keep_sentence(sentence: str) -> bool:
    """Plain letters and punctuation, a capital first, no shouted words, ends like a sentence,
    ``WORDS`` words."""
    if not _ALLOWED.match(sentence) or sentence[-1] not in ".!?":
        return False
    if "--" in sentence or _SHOUTED.search(sentence):
        return False
    n = len(sentence.split())
    return WORDS[0] <= n <= WORDS[1]


def read_sentences(files: Iterable[Path]) -> list[str]:
    """Every kept sentence of the fortune ``files``, first occurrence order, duplicates removed."""
    seen: set[str] = set()
    out: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for entry in re.split(r"^%\s*$", text, flags=re.MULTILINE):
            for sentence in split_sentences(entry):
                key = sentence.lower()
                if keep_sentence(sentence) and key not in seen:
                    seen.add(key)
                    out.append(sentence)
    return out
