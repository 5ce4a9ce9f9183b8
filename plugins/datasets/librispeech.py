"""LibriSpeech (ASR) from its distribution layout.

Layout (the openslr tarballs extract to)::

    <root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac

``<root>`` may also be the ``LibriSpeech`` folder itself. Each ``.trans.txt`` line is
``<utt id> <TRANSCRIPT IN CAPITALS>``. One manifest per split: ``librispeech_<split>.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.data.prepare_utils import ManifestWriter, prepare_report
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import LibriSpeechConfig


class LibriSpeechPreparer:
    def __init__(self, cfg: LibriSpeechConfig):
        self.cfg = cfg

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``librispeech_<split>.jsonl`` for every split present; returns the manifests."""
        base = root / "LibriSpeech" if (root / "LibriSpeech").is_dir() else root
        present = [s for s in self.cfg.splits if (base / s).is_dir()]
        if not present:
            raise DataError(
                f"{base}: none of the LibriSpeech splits {self.cfg.splits} is there "
                f"(expected <root>/LibriSpeech/<split>/<speaker>/<chapter>/*.trans.txt)"
            )
        report = prepare_report(out, "librispeech")
        written = []
        for split in present:
            writer = ManifestWriter(out / f"librispeech_{split}.jsonl", report, probe=self.cfg.probe)
            for trans in sorted((base / split).glob("*/*/*.trans.txt")):
                for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
                    if not line.strip():
                        continue
                    utt, _, text = line.strip().partition(" ")
                    speaker, chapter = utt.split("-")[:2]
                    text = text.strip().lower() if self.cfg.lowercase else text.strip()
                    audio = trans.parent / f"{utt}.flac"
                    rec = {
                        "id": utt,
                        "task": "asr",
                        "target": text,
                        "speaker": speaker,
                        "group": f"{speaker}-{chapter}",
                    }
                    writer.add(
                        rec,
                        audio if audio.is_file() else None,
                        source=str(trans),
                        line=lineno,
                        expected=str(audio),
                    )
            path = writer.close()
            if path:
                written.append(path)
        return written


def build_librispeech(cfg: LibriSpeechConfig, ctx: BuildContext) -> LibriSpeechPreparer:
    """LibriSpeech ASR manifests from LibriSpeech/<split>/<spk>/<chapter>/*.flac + *.trans.txt."""
    return LibriSpeechPreparer(cfg)


def librispeech_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
