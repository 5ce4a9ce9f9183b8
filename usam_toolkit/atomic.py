"""Atomic writes: a file or a folder appears complete under its final name, or not at all.

Everything is written under a temporary name in the destination's own folder (same file system, so the
final ``os.replace`` is an atomic rename) and renamed once complete. A reader never sees half a file; a
crash leaves at most a temporary beside the destination, never a damaged destination.

- :func:`atomic_path` yields a temporary file path for libraries that write by path (safetensors,
  soundfile, ``torch.save``); :func:`write_bytes_atomic`, :func:`write_text_atomic`,
  :func:`write_json_atomic` and :func:`torch_save_atomic` are the common cases.
- :func:`atomic_folder` yields a temporary folder to fill (a checkpoint, a converted model).

``durable=True`` (the default) also fsyncs the data and the folder entries, so that the new content
survives a power loss, not just a killed process; caches that are cheap to rebuild pass ``durable=False``.

Temporary names: files ``.<name>.<pid>.<random>.tmp<suffix>`` (hidden; the final suffix is kept for
libraries that choose a format from it), folders ``<name>.tmp-<pid>-<random>`` and, while an existing
folder is being replaced, ``<name>.old-<pid>-<random>``.

Standard library only (torch is imported by :func:`torch_save_atomic` alone).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_folder",
    "atomic_path",
    "fsync_dir",
    "fsync_file",
    "torch_save_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def fsync_file(path: str | Path) -> None:
    """Flush a file's data to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (names created, renamed or removed in it) to disk, where the platform can."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _token() -> str:
    return f"{os.getpid()}.{secrets.token_hex(4)}"


def _claim(name: Callable[[], Path], create: Callable[[Path], object]) -> Path:
    """Create (exclusively) the first of ``name()``'s random paths that nobody holds yet, and return it."""
    while True:
        tmp = name()
        try:
            create(tmp)
            return tmp
        except FileExistsError:  # pragma: no cover - a random name taken twice
            continue


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


@contextmanager
def atomic_path(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a normal exit it is renamed to ``path``.

    The temporary exists (empty) when yielded and is created with the usual permissions (``0o666`` less
    the umask). If the block raises, the temporary is removed and ``path`` is left as it was.
    The parent folder is created when missing.

    Example::

        with atomic_path(out / "features.safetensors", durable=False) as tmp:
            save_file(tensors, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _claim(
        lambda: path.with_name(f".{path.name}.{_token()}.tmp{path.suffix}"),
        lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)),
    )
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_bytes_atomic(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8", durable: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path, durable=durable) as tmp, open(tmp, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any, *, durable: bool = True, **dumps_kwargs: Any) -> Path:
    """Write ``json.dumps(obj, **dumps_kwargs)`` to ``path`` atomically (UTF-8); returns ``path``."""
    return write_text_atomic(path, json.dumps(obj, **dumps_kwargs), durable=durable)


def torch_save_atomic(obj: Any, path: str | Path, *, durable: bool = True) -> Path:
    """``torch.save(obj, path)`` atomically; returns ``path``."""
    import torch

    with atomic_path(path, durable=durable) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_dir(root)


@contextmanager
def atomic_folder(
    final: str | Path, *, replace: bool = False, durable: bool = True, keep_on_error: bool = False
) -> Iterator[Path]:
    """Yield a new empty temporary folder beside ``final``; on a normal exit it is renamed to ``final``.

    Args:
        final: the folder to create.
        replace: what to do when ``final`` already exists at the rename. False: keep it and drop the new
            copy (another process that built the same content won the race). True: swap the new folder
            in (the old one is renamed aside, then removed).
        durable: fsync every file and folder written before the rename, and the parent after it.
        keep_on_error: leave the temporary folder in place when the block raises (the state a killed
            process leaves; a later clean-up finds it by its ``.tmp-`` name) instead of removing it.

    Raises:
        OSError: when the rename fails for another reason than an existing ``final``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _claim(lambda: final.with_name(f"{final.name}.tmp-{_token().replace('.', '-')}"), Path.mkdir)
    try:
        yield tmp
        if durable:
            _fsync_tree(tmp)
        if replace and final.exists():
            old = final.with_name(f"{final.name}.old-{_token().replace('.', '-')}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, final)
            except OSError:
                if not final.exists():
                    raise
                _remove(tmp)  # lost a race: the folder another process finished is kept
    except BaseException:
        if not keep_on_error:
            _remove(tmp)
        raise
    if durable:
        fsync_dir(final.parent)
