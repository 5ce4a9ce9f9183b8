"""Text utilities: normalisation of transcripts and translations before scoring (see docs/scoring.md)."""

from usam_toolkit.text.normalize import (
    english_normalizer,
    find_spelling_mapping,
    get_normalizer,
    normalize_basic,
    normalize_english,
)

__all__ = [
    "english_normalizer",
    "find_spelling_mapping",
    "get_normalizer",
    "normalize_basic",
    "normalize_english",
]
