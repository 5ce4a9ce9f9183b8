"""WavCaps (weakly labelled audio captioning) from the Hugging Face ``cvssp/WavCaps`` layout.

Layout::

    <root>/json_files/AudioSet_SL/as_final.json        {"num_captions_per_audio": 1, "data": [
    <root>/json_files/BBC_Sound_Effects/bbc_final.json    {"id": ..., "caption": ..., "duration": ..., ...}]}
    <root>/json_files/FreeSound/fsd_final.json
    <root>/json_files/SoundBible/sb_final.json
    <root>/.../<Source>_flac/<id>.flac   as the Zip_files extract (.../data/waveforms/AudioSet_SL_flac/...)
                                          or <root>/audio/<Source>/<id>.flac (a common re-arrangement)

``<Source>`` is the json file's folder name; AudioSet ids carry a ``.wav`` suffix that the flac names do
not. One manifest per source: ``wavcaps_<source lower-case>.jsonl``. Set ``exclude_ids_file`` to a text
or CSV file of ids (first column) to drop, e.g. the FreeSound ids overlapping Clotho's test set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from usam_toolkit.data.prepare_utils import ManifestWriter, index_audio, prepare_report
from usam_toolkit.errors import DataError


@dataclass
class WavCapsConfig:
    """WavCaps preparation.

    Attributes:
        sources: json folder names to prepare; empty = every json file found.
        exclude_ids_file: ids to leave out (one per line or first CSV column), relative to --root.
        probe: read headers even where the json gives a duration.
    """

    sources: list[str] = field(default_factory=list)
    exclude_ids_file: Optional[str] = None
    probe: bool = False


class WavCapsPreparer:
    def __init__(self, cfg: WavCapsConfig):
        self.cfg = cfg

    def _audio_dirs(self, root: Path, source: str) -> list[Path]:
        names = {source.lower(), f"{source.lower()}_flac"}
        return sorted(
            d
            for d in root.rglob("*")
            if d.is_dir() and d.name.lower() in names and "json_files" not in d.parts
        )

    def _excluded(self, root: Path) -> set[str]:
        if not self.cfg.exclude_ids_file:
            return set()
        lines = (root / self.cfg.exclude_ids_file).read_text(encoding="utf-8").splitlines()
        return {ln.split(",")[0].strip() for ln in lines if ln.strip()}

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``wavcaps_<source>.jsonl`` per json file; returns the manifests."""
        jsons = [
            p
            for p in sorted(root.rglob("*.json"))
            if not self.cfg.sources or p.parent.name in self.cfg.sources
        ]
        if not jsons:
            raise DataError(
                f"{root}: no WavCaps json files found (expected json_files/<Source>/*_final.json)"
            )
        excluded = self._excluded(root)
        report = prepare_report(out, "wavcaps")
        written = []
        for jpath in jsons:
            try:
                meta = json.loads(jpath.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{jpath}:{exc.lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(meta, dict) or not isinstance(meta.get("data"), list):
                continue  # not a WavCaps metadata file (e.g. a blacklist)
            source = jpath.parent.name if jpath.parent.name != "json_files" else jpath.stem
            index: dict[str, Path] = {}
            for d in self._audio_dirs(root, source):
                for stem, p in index_audio(d).items():
                    index.setdefault(stem, p)
            writer = ManifestWriter(out / f"wavcaps_{source.lower()}.jsonl", report, probe=self.cfg.probe)
            for n, item in enumerate(meta["data"], start=1):
                stem = Path(str(item["id"])).stem if str(item["id"]).endswith(".wav") else str(item["id"])
                if stem in excluded or str(item["id"]) in excluded:
                    continue
                rec = {
                    "id": stem,
                    "task": "aac",
                    "target": str(item["caption"]).strip(),
                    "group": f"wavcaps_{source}",
                }
                if item.get("duration") and not self.cfg.probe:
                    rec["duration"] = float(item["duration"])
                writer.add(
                    rec,
                    index.get(stem),
                    source=f"{jpath} (data[{n - 1}])",
                    line=n,
                    expected=f"{source}_flac/{stem}.flac",
                )
            path = writer.close()
            if path:
                written.append(path)
        return written


def build_wavcaps(cfg: WavCapsConfig, ctx) -> WavCapsPreparer:
    """WavCaps captioning manifests from json_files/<Source>/*.json + <Source>_flac/ audio."""
    return WavCapsPreparer(cfg)
