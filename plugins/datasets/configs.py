"""Config dataclasses of the built-in corpus preparers (nothing else).

Each preparer's ``build_<name>`` and ``<name>_example`` live in its module; ``__init__`` registers them
through lazy trampolines.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AudioCapsConfig:
    """AudioCaps preparation.

    Attributes:
        splits: CSV names without ``.csv``.
        full_length_audio: files are whole videos; read the 10-s segment at ``start_time``.
        clip_seconds: segment length when ``full_length_audio``.
        probe: read headers for durations.
    """

    splits: list[str] = field(default_factory=lambda: ["train", "val", "test"])
    full_length_audio: bool = False
    clip_seconds: float = 10.0
    probe: bool = True


@dataclass
class ClothoConfig:
    """Clotho preparation.

    Attributes:
        splits: ``development``, ``validation``, ``evaluation``.
        probe: read headers for durations.
    """

    splits: list[str] = field(default_factory=lambda: ["development", "validation", "evaluation"])
    probe: bool = True


@dataclass
class Covost2Config:
    """CoVoST 2 en->X preparation.

    Attributes:
        target_langs: CoVoST target codes (the paper uses zh-CN and de).
        splits: CoVoST split names.
        cv_dir: Common Voice English folder (with clips/), relative to --root; None = search.
        probe: read each clip's header for its duration (slow for mp3 on large sets).
    """

    target_langs: list[str] = field(default_factory=lambda: ["zh-CN", "de"])
    splits: list[str] = field(default_factory=lambda: ["train", "dev", "test"])
    cv_dir: str | None = None
    probe: bool = True


SPLITS = [
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
]


@dataclass
class LibriSpeechConfig:
    """LibriSpeech preparation.

    Attributes:
        splits: split folders to prepare (missing ones are skipped with a warning).
        lowercase: write transcripts in lower case (scoring normalises case anyway).
        probe: read each file's header for its duration.
    """

    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    lowercase: bool = True
    probe: bool = True


@dataclass
class MusicCapsConfig:
    """MusicCaps preparation.

    Attributes:
        full_length_audio: files are whole videos; read ``[start_s, end_s)``.
        probe: read headers for durations.
    """

    full_length_audio: bool = False
    probe: bool = True


@dataclass
class WavCapsConfig:
    """WavCaps preparation.

    Attributes:
        sources: json folder names to prepare; empty = every json file found.
        exclude_ids_file: ids to leave out (one per line or first CSV column), relative to --root.
        exclude_audiocaps: AudioCaps test manifests (``usam prepare audiocaps``; the YouTube id is their
            ``youtube_id`` or ``group``) whose clips leave WavCaps' AudioSet_SL part; relative to where you
            run.
        exclude_clotho: Clotho test manifests (``usam prepare clotho`` with ``clotho_metadata_<split>.csv``
            present, which gives each clip its ``freesound_id``) whose clips leave WavCaps' FreeSound part.
        probe: read headers even where the json gives a duration.
    """

    sources: list[str] = field(default_factory=list)
    exclude_ids_file: str | None = None
    exclude_audiocaps: list[str] = field(default_factory=list)
    exclude_clotho: list[str] = field(default_factory=list)
    probe: bool = False
