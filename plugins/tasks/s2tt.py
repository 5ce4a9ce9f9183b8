"""Speech-to-text translation from English speech; the target language comes from ``target_lang``."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .base import PromptTask, field_of
from .configs import S2ttConfig

S2TT_PROMPTS = (
    "Translate the English speech into {language}.",
    "Listen to the English speech and write its {language} translation.",
    "Give the {language} translation of what is said.",
    "Render the spoken English in {language}.",
)

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "ca": "Catalan",
    "cy": "Welsh",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fr": "French",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "lv": "Latvian",
    "mn": "Mongolian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "sl": "Slovenian",
    "sv": "Swedish",
    "ta": "Tamil",
    "tr": "Turkish",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """English name of a language code (``zh-CN`` -> Chinese, ``sv-SE`` -> Swedish); the code if unknown."""
    return LANGUAGE_NAMES.get(code.split("-")[0].split("_")[0].lower(), code)


class S2ttTask(PromptTask):
    name = "s2tt"
    timestamps = True
    # The target is every word of the clip: a crop would train on words it no longer contains.
    default_length_policy = "skip"
    safe_length_policies = ("skip",)
    metrics: tuple[str, ...] = ("bleu", "chrf")
    DEFAULT_PROMPTS = S2TT_PROMPTS

    def __init__(self, cfg: S2ttConfig, metrics=None):
        super().__init__(cfg, metrics)
        self.default_lang = cfg.target_lang

    def language(self, example: Any) -> str:
        code = field_of(example, "target_lang", self.default_lang)
        if not code:
            where = getattr(example, "location", field_of(example, "id", "?"))
            raise DataError(f"{where}: s2tt example has no 'target_lang' (valid: a code such as 'zh', 'de')")
        return language_name(str(code))

    def instruction(self, example: Any, variant: int = 0) -> str:
        if field_of(example, "prompt"):
            return super().instruction(example, variant)
        return self.prompts[int(variant) % len(self.prompts)].format(language=self.language(example))

    def normalize(self, text: str) -> str:
        # BLEU/chrF tokenise themselves (sacrebleu 'zh' for Chinese); only unify forms and spaces.
        return " ".join(unicodedata.normalize("NFKC", text).split())


def build_s2tt(cfg: S2ttConfig, ctx: BuildContext) -> S2ttTask:
    """Speech translation: "Translate the English speech into {language}."; scored by BLEU and chrF."""
    return S2ttTask(cfg, cfg.metrics)


def s2tt_example(tmp_dir: Path) -> dict[str, Any]:
    """A default target language, so examples without one work."""
    return {"target_lang": "zh"}
