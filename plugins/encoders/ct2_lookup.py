"""Finding a CTranslate2 model on disk: the ``model.bin`` file or its split parts, the side files shipped
beside it, and a cache key that changes when any part does."""

from __future__ import annotations

import hashlib
from pathlib import Path

from usam_toolkit.errors import ConfigError


def find_model_parts(source: Path) -> list[Path]:
    """The ordered files making up a ``model.bin``.

    ``source`` may be the file, a folder holding ``model.bin``, or a folder holding ``model.bin.part1``
    whose other parts (``model.bin.part2`` ...) live in the same folder or in sibling packages'
    folders (``<pkg>_part1/data`` next to ``<pkg>_part2/data``).
    """
    source = Path(source)
    if source.is_file():
        if source.name.startswith("model.bin.part"):
            return _collect_parts(source.parent)
        return [source]
    if not source.is_dir():
        raise ConfigError(f"ct2_path: '{source}' does not exist (give a folder with model.bin or the file)")
    if (source / "model.bin").is_file():
        return [source / "model.bin"]
    if list(source.glob("model.bin.part*")):
        return _collect_parts(source)
    raise ConfigError(f"ct2_path: '{source}' has no model.bin or model.bin.part1")


def _collect_parts(folder: Path) -> list[Path]:
    candidates = {p.name: p for p in folder.glob("model.bin.part*")}
    # Split packages put each part in its own package: search siblings with the same layout.
    pkg = folder.parent if folder.name == "data" else folder
    stem = pkg.name.rsplit("part", 1)[0] if "part" in pkg.name else None
    if stem:
        for sib in pkg.parent.glob(stem + "part*"):
            sub = sib / folder.relative_to(pkg) if folder != pkg else sib
            for p in sub.glob("model.bin.part*"):
                candidates.setdefault(p.name, p)
    numbered = sorted(candidates.items(), key=lambda kv: int(kv[0].rsplit("part", 1)[1] or 0))
    parts = [p for _, p in numbered]
    expected = [f"model.bin.part{i}" for i in range(1, len(parts) + 1)]
    if [p.name for p in parts] != expected:
        raise ConfigError(
            f"ct2_path: split model in '{folder}' is incomplete: found {[p.name for p in parts]}"
        )
    return parts


def companion_files(parts: list[Path]) -> dict[str, Path]:
    """Side files shipped with the model (config.json, tokenizer.json, vocabulary.*), by name."""
    out: dict[str, Path] = {}
    folders = []
    for p in parts:
        if p.parent not in folders:
            folders.append(p.parent)
    for folder in folders:
        for name in (
            "config.json",
            "tokenizer.json",
            "vocabulary.txt",
            "vocabulary.json",
            "preprocessor_config.json",
        ):
            if (folder / name).is_file() and name not in out:
                out[name] = folder / name
    return out


def source_key(parts: list[Path]) -> str:
    """Cache key of a (possibly split) model.bin: size + mtime of every part + sha256 of the first MiB."""
    h = hashlib.sha256()
    for p in parts:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    with open(parts[0], "rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:24]
