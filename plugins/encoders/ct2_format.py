"""The CTranslate2 ``model.bin`` format: read it (one file or split parts), write it, quantise like it.

Binary layout (CTranslate2 ``python/ctranslate2/specs/model_spec.py``, ``_serialize``; little endian)::

    uint32 binary_version            (6 today)
    string spec_name                 (binary_version >= 2; uint16 length incl. NUL, bytes, NUL)
    uint32 spec_revision             (binary_version >= 2)
    uint32 num_variables
    per variable: string name, uint8 rank, uint32 dims[rank], uint8 dtype_id, uint32 num_bytes, bytes
                  (binary_version < 4: uint8 item_size, uint32 num_items instead of dtype_id, num_bytes)
    uint32 num_aliases               (binary_version >= 3)
    per alias: string alias, string target

dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Quantised weights (int8/int16)
come with a ``<name>_scale`` variable: ``float = int / scale`` (int8: one scale per output row).

Model-agnostic: what the variables of a given spec mean is :mod:`.whisper_ct2_names`' business, where the
files are is :mod:`.ct2_lookup`'s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from usam_toolkit.errors import DataError

DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
BINARY_VERSION = 6


@dataclass
class Ct2Model:
    """The content of a ``model.bin``.

    Attributes:
        spec: spec name (e.g. ``WhisperSpec``).
        revision: spec revision.
        variables: name -> numpy array (bfloat16 arrives as float32).
        aliases: alias name -> target variable name.
        version: binary version read.
    """

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    version: int = BINARY_VERSION

    def get(self, name: str) -> np.ndarray:
        """A variable by name, following aliases (an alias also covers its target's ``_scale``)."""
        for _ in range(16):
            if name in self.variables:
                return self.variables[name]
            if name in self.aliases:
                name = self.aliases[name]
                continue
            base, _, suffix = name.rpartition("_")
            if suffix in ("scale", "zero") and base in self.aliases:
                name = f"{self.aliases[base]}_{suffix}"
                continue
            break
        raise KeyError(name)

    def has(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except KeyError:
            return False

    def float_weight(self, name: str) -> np.ndarray:
        """``name`` as float32, dequantised with ``name + '_scale'`` when stored as an integer type."""
        value = self.get(name)
        if value.dtype in (np.int8, np.int16):
            scale = np.asarray(self.get(name + "_scale"), dtype=np.float32)
            value = value.astype(np.float32)
            if scale.ndim == 0 or scale.size == 1:
                return value / scale.reshape(())
            return value / scale.reshape((-1,) + (1,) * (value.ndim - 1))
        return value.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def _read_exact(f: BinaryIO, n: int, where: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataError(f"{where}: CTranslate2 model.bin is truncated (wanted {n} bytes, got {len(data)})")
    return data


def _read_string(f: BinaryIO, where: str) -> str:
    (n,) = struct.unpack("<H", _read_exact(f, 2, where))
    return _read_exact(f, n, where)[:-1].decode("utf-8")


class _JoinedFile:
    """Read-only stream over several files in order (split ``model.bin.part1``, ``.part2``, ...)."""

    def __init__(self, paths: list[Path]):
        self._paths = paths
        self._index = 0
        self._f = open(paths[0], "rb")  # noqa: SIM115 - the stream spans several files

    def read(self, n: int) -> bytes:
        chunks = []
        while n > 0:
            data = self._f.read(n)
            if not data:
                if self._index + 1 >= len(self._paths):
                    break
                self._f.close()
                self._index += 1
                self._f = open(self._paths[self._index], "rb")  # noqa: SIM115
                continue
            chunks.append(data)
            n -= len(data)
        return b"".join(chunks)

    def close(self) -> None:
        self._f.close()


def read_model_bin(paths: Path | Iterable[Path]) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin`` (one file, or the ordered parts of a split file).

    Args:
        paths: the file, or its parts in order.

    Returns:
        a :class:`Ct2Model`.

    Raises:
        DataError: naming the file when the format is not understood.
    """
    parts = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    where = str(parts[0]) if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} parts)"
    f = _JoinedFile(parts)
    try:
        (version,) = struct.unpack("<I", _read_exact(f, 4, where))
        if not 1 <= version <= BINARY_VERSION:
            raise DataError(
                f"{where}: CTranslate2 binary version {version} is not supported (1 to {BINARY_VERSION})"
            )
        spec, revision = "", 1
        if version >= 2:
            spec = _read_string(f, where)
            (revision,) = struct.unpack("<I", _read_exact(f, 4, where))
        (count,) = struct.unpack("<I", _read_exact(f, 4, where))
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = _read_string(f, where)
            (rank,) = struct.unpack("<B", _read_exact(f, 1, where))
            shape = struct.unpack(f"<{rank}I", _read_exact(f, 4 * rank, where)) if rank else ()
            if version >= 4:
                (dtype_id,) = struct.unpack("<B", _read_exact(f, 1, where))
                (nbytes,) = struct.unpack("<I", _read_exact(f, 4, where))
                if dtype_id >= len(DTYPES):
                    raise DataError(f"{where}: variable '{name}' has unknown dtype id {dtype_id}")
                dtype = DTYPES[dtype_id]
            else:  # older files store the item size and the element count
                (item_size,) = struct.unpack("<B", _read_exact(f, 1, where))
                (n_items,) = struct.unpack("<I", _read_exact(f, 4, where))
                dtype = {4: "float32", 2: "int16", 1: "int8"}.get(item_size)
                if dtype is None:
                    raise DataError(f"{where}: variable '{name}' has unsupported item size {item_size}")
                nbytes = n_items * item_size
            raw = _read_exact(f, nbytes, where)
            if dtype == "bfloat16":
                arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, dtype=np.dtype(dtype))
            if arr.size != int(np.prod(shape)):
                raise DataError(f"{where}: variable '{name}' has {arr.size} values for shape {shape}")
            variables[name] = arr.reshape(shape)
        aliases: dict[str, str] = {}
        head = f.read(4) if version >= 3 else b""
        if len(head) == 4:
            (n_alias,) = struct.unpack("<I", head)
            for _ in range(n_alias):
                alias = _read_string(f, where)
                aliases[alias] = _read_string(f, where)
    finally:
        f.close()
    return Ct2Model(spec=spec, revision=revision, variables=variables, aliases=aliases, version=version)


# --------------------------------------------------------------------------------------------------
# Writing (tests and examples write tiny real-format files with it)
# --------------------------------------------------------------------------------------------------
def _write_string(f: BinaryIO, s: str) -> None:
    data = s.encode("utf-8")
    f.write(struct.pack("<H", len(data) + 1))
    f.write(data + b"\0")


def write_model_bin(path: Path, model: Ct2Model) -> None:
    """Write ``model`` in CTranslate2's binary format (version 6, variables sorted by name)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<I", BINARY_VERSION))
        _write_string(f, model.spec)
        f.write(struct.pack("<I", model.revision))
        f.write(struct.pack("<I", len(model.variables)))
        for name in sorted(model.variables):
            value = np.asarray(model.variables[name])
            dtype = value.dtype.name
            if dtype not in DTYPES:
                raise ValueError(f"{name}: dtype {dtype} cannot be written to a CTranslate2 model")
            _write_string(f, name)
            f.write(struct.pack("<B", value.ndim))
            f.writelines(struct.pack("<I", dim) for dim in value.shape)
            f.write(struct.pack("<B", DTYPES.index(dtype)))
            raw = np.ascontiguousarray(value).tobytes()
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
        f.write(struct.pack("<I", len(model.aliases)))
        for alias, target in model.aliases.items():
            _write_string(f, alias)
            _write_string(f, target)


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CTranslate2's int8 scheme: per output row ``scale = 127 / max|w|``, ``q = rint(w * scale)``."""
    w = weight.astype(np.float32).reshape(weight.shape[0], -1)
    amax = np.abs(w).max(axis=1)
    amax[amax == 0] = 127.0
    scale = (127.0 / amax).astype(np.float32)
    q = np.rint(w * scale[:, None]).astype(np.int8).reshape(weight.shape)
    return q, scale
