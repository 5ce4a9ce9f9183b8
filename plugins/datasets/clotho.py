"""Clotho v2 (audio captioning) from its Zenodo layout.

Layout (the Zenodo archives of Clotho v2.1 extract to)::

    <root>/clotho_captions_development.csv   file_name,caption_1,...,caption_5
    <root>/clotho_captions_validation.csv
    <root>/clotho_captions_evaluation.csv
    <root>/development/<file_name>.wav        (clotho_audio_development.7z)
    <root>/validation/<file_name>.wav
    <root>/evaluation/<file_name>.wav

    <root>/clotho_metadata_<split>.csv        file_name,keywords,sound_id,... (optional)

Audio folders named ``clotho_audio_<split>`` are accepted too. One manifest per split:
``clotho_<split>.jsonl`` with the five captions as ``target`` and, where the metadata CSV is present, the
clip's Freesound id as ``freesound_id`` (``usam prepare wavcaps`` matches it to leave Clotho's test clips
out of WavCaps' FreeSound part).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.data.prepare_utils import ManifestWriter, prepare_report, read_csv
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import ClothoConfig


class ClothoPreparer:
    def __init__(self, cfg: ClothoConfig):
        self.cfg = cfg

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``clotho_<split>.jsonl`` per captions CSV found; returns the manifests."""
        report = prepare_report(out, "clotho")
        written = []
        for split in self.cfg.splits:
            found = sorted(root.rglob(f"clotho_captions_{split}.csv"))
            if not found:
                continue
            csv_path = found[0]
            folders = [
                d
                for name in (split, f"clotho_audio_{split}")
                for d in (csv_path.parent / name, root / name)
                if d.is_dir()
            ]
            sound_ids = {
                row["file_name"]: row["sound_id"].strip()
                for meta in sorted(root.rglob(f"clotho_metadata_{split}.csv"))[:1]
                for row in read_csv(meta)
                if (row.get("sound_id") or "").strip()
            }
            writer = ManifestWriter(out / f"clotho_{split}.jsonl", report, probe=self.cfg.probe)
            for lineno, row in enumerate(read_csv(csv_path), start=2):
                name = row["file_name"]
                caps = [
                    row[k].strip()
                    for k in sorted(row)
                    if k.startswith("caption") and row[k] and row[k].strip()
                ]
                audio = next((d / name for d in folders if (d / name).is_file()), None)
                rec = {"id": Path(name).stem, "task": "aac", "target": caps if len(caps) > 1 else caps[0]}
                if name in sound_ids:
                    rec["freesound_id"] = sound_ids[name]
                writer.add(rec, audio, source=str(csv_path), line=lineno, expected=f"{split}/{name}")
            path = writer.close()
            if path:
                written.append(path)
        if not written and not any(root.rglob("clotho_captions_*.csv")):
            raise DataError(
                f"{root}: no clotho_captions_<split>.csv found (expected the Clotho Zenodo layout)"
            )
        return written


def build_clotho(cfg: ClothoConfig, ctx: BuildContext) -> ClothoPreparer:
    """Clotho captioning manifests from clotho_captions_<split>.csv + <split>/ audio folders."""
    return ClothoPreparer(cfg)


def clotho_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
