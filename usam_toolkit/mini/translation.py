"""English-French prompt pairs for speech translation: asterisk prompts sharing an id in both languages."""

from __future__ import annotations

from dataclasses import dataclass

from .speech import Utterance


@dataclass(frozen=True)
class TranslationPair:
    """English human speech (``source``) and the French text of the same prompt id."""

    source: Utterance
    french: str


def prompt_pairs(english: list[Utterance], french_texts: dict[str, str]) -> list[TranslationPair]:
    """Pairs for every English utterance whose prompt id also has a speakable French text, in input order."""
    return [TranslationPair(u, french_texts[u.uid]) for u in english if u.uid in french_texts]
