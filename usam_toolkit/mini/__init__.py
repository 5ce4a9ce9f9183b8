"""The offline mini world: a small, real four-task corpus built from Debian packages and procedural
generation, deterministically from a seed (``usam mini build [--scale tiny|small] [--out DIR] [--seed N]``).

Tasks and sources:

- ``asr``: human English speech (asterisk prompts, 8 kHz, kept at their native rate; LibriVox
  utterances from pocketsphinx-testdata, 16 kHz) and, for training only, espeak-ng renderings of
  training sentences in several voices, speeds and pitches (22.05 kHz).
- ``s2tt`` (en -> fr): English asterisk prompts whose id also has a French prompt text; espeak-ng
  renderings of training prompts.
- ``aac``: freedesktop event sounds and numpy-synthesised event mixtures (16 kHz), 3-5 captions each.
- ``mc``: procedurally composed MIDI rendered by fluidsynth (22.05 kHz), 3-5 captions each.

Splits are by ``group`` (sentence, sound name, caption signature or musical recipe), hashed with the
seed, so train, dev and test share no sentence, prompt id or recipe; dev and test speech is human only
(synthetic voices never leave training) and the LibriVox reader is a test-only speaker.

Output (default ``./data/mini-<scale>``): ``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (all tasks),
``<split>_<task>.jsonl`` (one task), ``world.json`` (counts, hours, sources and versions, seed, scale),
``audio/`` and ``midi/``. Paths in the manifests are relative to that folder. The same seed gives
byte-identical manifests; existing audio files are reused. Scales only change counts (:data:`SCALES`).

Heavy modules (numpy synthesis, soundfile) are imported by the submodules, not here.
"""

from __future__ import annotations

__all__ = ["SCALES", "TASKS", "build_world", "default_out_dir"]


def __getattr__(name: str):
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(name)
