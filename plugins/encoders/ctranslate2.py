"""Read and write CTranslate2 ``model.bin`` files and convert a CTranslate2 Whisper model to a HF folder.

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

Whisper layout (``specs/whisper_spec.py`` + ``converters/transformers.py`` ``WhisperLoader``):
self-attention ``linear_0`` is the row-wise concatenation of q, k, v; cross-attention ``linear_0`` is q and
``linear_1`` the concatenation of k, v; the last linear is the output projection. k has no bias in Whisper
(CTranslate2 fills zeros when fusing). ``ffn/linear_0`` = fc1, ``ffn/linear_1`` = fc2.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np

from usam_toolkit.errors import ConfigError, DataError

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


# --------------------------------------------------------------------------------------------------
# Locating a model.bin (single file, folder, or split parts)
# --------------------------------------------------------------------------------------------------
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


def atomic_folder(final: Path) -> tuple[Path, callable]:
    """A temporary sibling folder and a ``commit()`` that renames it to ``final`` atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))

    def commit() -> None:
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process won the race; its folder is equivalent.
            shutil.rmtree(tmp, ignore_errors=True)

    return tmp, commit


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------------
# Whisper: CTranslate2 <-> Hugging Face names
# --------------------------------------------------------------------------------------------------
_LN = (("gamma", "weight"), ("beta", "bias"))


def _count_layers(model: Ct2Model, prefix: str) -> int:
    n = 0
    while any(k.startswith(f"{prefix}/layer_{n}/") for k in model.variables):
        n += 1
    return n


def whisper_ct2_to_hf_state(model: Ct2Model) -> dict[str, np.ndarray]:
    """Map a CTranslate2 ``WhisperSpec`` to ``WhisperForConditionalGeneration`` state-dict arrays (float32).

    Fused projections are split row-wise (q | k | v); the zero k bias CTranslate2 adds when fusing is
    dropped because Whisper's k projection has none. ``proj_out`` is tied to ``embed_tokens`` and omitted.
    """
    if model.spec != "WhisperSpec":
        raise DataError(f"CTranslate2 spec '{model.spec}' is not a Whisper model (expected WhisperSpec)")
    w = model.float_weight
    out: dict[str, np.ndarray] = {}

    def linear(dst: str, src: str) -> None:
        out[f"{dst}.weight"] = w(f"{src}/weight")
        if model.has(f"{src}/bias"):
            out[f"{dst}.bias"] = w(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        for a, b in _LN:
            out[f"{dst}.{b}"] = w(f"{src}/{a}")

    def split(src: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        weight = w(f"{src}/weight")
        bias = w(f"{src}/bias") if model.has(f"{src}/bias") else None
        ws = np.split(weight, n, axis=0)
        bs = np.split(bias, n, axis=0) if bias is not None else [None] * n
        return ws, bs

    def attention(dst: str, src: str, cross: bool) -> None:
        if cross:
            (q_w,), (q_b,) = split(f"{src}/linear_0", 1)
            (k_w, v_w), (k_b, v_b) = split(f"{src}/linear_1", 2)
            proj_out = f"{src}/linear_2"
        else:
            (q_w, k_w, v_w), (q_b, k_b, v_b) = split(f"{src}/linear_0", 3)
            proj_out = f"{src}/linear_1"
        for name, weight, bias in (("q_proj", q_w, q_b), ("k_proj", k_w, None), ("v_proj", v_w, v_b)):
            out[f"{dst}.{name}.weight"] = weight
            if bias is not None:
                out[f"{dst}.{name}.bias"] = bias
        if k_b is not None and np.abs(k_b).max(initial=0.0) > 1e-6:
            raise DataError(
                f"{src}: non-zero key bias; Whisper's k_proj has no bias, this is not a Whisper model"
            )
        linear(f"{dst}.out_proj", proj_out)

    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        linear(f"{enc}.{conv}", f"encoder/{conv}")
    out[f"{enc}.embed_positions.weight"] = w("encoder/position_encodings/encodings")
    norm(f"{enc}.layer_norm", "encoder/layer_norm")
    for i in range(_count_layers(model, "encoder")):
        s, d = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        attention(f"{d}.self_attn", f"{s}/self_attention", cross=False)
        norm(f"{d}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        linear(f"{d}.fc1", f"{s}/ffn/linear_0")
        linear(f"{d}.fc2", f"{s}/ffn/linear_1")
        norm(f"{d}.final_layer_norm", f"{s}/ffn/layer_norm")
    out[f"{dec}.embed_tokens.weight"] = w("decoder/embeddings/weight")
    out[f"{dec}.embed_positions.weight"] = w("decoder/position_encodings/encodings")
    norm(f"{dec}.layer_norm", "decoder/layer_norm")
    for i in range(_count_layers(model, "decoder")):
        s, d = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        attention(f"{d}.self_attn", f"{s}/self_attention", cross=False)
        norm(f"{d}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        attention(f"{d}.encoder_attn", f"{s}/attention", cross=True)
        norm(f"{d}.encoder_attn_layer_norm", f"{s}/attention/layer_norm")
        linear(f"{d}.fc1", f"{s}/ffn/linear_0")
        linear(f"{d}.fc2", f"{s}/ffn/linear_1")
        norm(f"{d}.final_layer_norm", f"{s}/ffn/layer_norm")
    if model.has("decoder/projection/weight"):
        proj = w("decoder/projection/weight")
        if not np.array_equal(proj, out[f"{dec}.embed_tokens.weight"]):
            out["proj_out.weight"] = proj
    return out


def whisper_hf_to_ct2(
    state: dict, num_encoder_heads: int, num_decoder_heads: int, quantization: str | None = None
) -> Ct2Model:
    """The inverse of :func:`whisper_ct2_to_hf_state`: a ``WhisperForConditionalGeneration`` state dict to a
    CTranslate2 ``WhisperSpec`` (fused projections, zero k bias, scalars and the projection alias).

    Args:
        state: HF state dict (tensors or arrays).
        num_encoder_heads: heads of the encoder.
        num_decoder_heads: heads of the decoder.
        quantization: None (keep float32), ``"float16"`` or ``"int8"`` (CTranslate2's per-row scheme on
            linear/conv weights, like ``int8_float32``).

    Returns:
        a :class:`Ct2Model` ready for :func:`write_model_bin`.
    """
    s = {
        k: np.asarray(v.detach().cpu().float().numpy() if hasattr(v, "detach") else v, dtype=np.float32)
        for k, v in state.items()
    }
    v: dict[str, np.ndarray] = {}

    def put_linear(dst: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
        if quantization == "int8":
            q, scale = quantize_int8(weight)
            v[f"{dst}/weight"], v[f"{dst}/weight_scale"] = q, scale
        else:
            v[f"{dst}/weight"] = weight.astype(np.float16) if quantization == "float16" else weight
        if bias is not None:
            v[f"{dst}/bias"] = bias.astype(np.float16) if quantization == "float16" else bias

    def put(dst: str, arr: np.ndarray) -> None:
        v[dst] = arr.astype(np.float16) if quantization == "float16" else arr

    def norm(dst: str, src: str) -> None:
        put(f"{dst}/gamma", s[f"{src}.weight"])
        put(f"{dst}/beta", s[f"{src}.bias"])

    def attention(dst: str, src: str, cross: bool) -> None:
        d = s[f"{src}.q_proj.weight"].shape[0]
        zero = np.zeros(d, dtype=np.float32)
        q = (s[f"{src}.q_proj.weight"], s[f"{src}.q_proj.bias"])
        k = (s[f"{src}.k_proj.weight"], zero)
        vv = (s[f"{src}.v_proj.weight"], s[f"{src}.v_proj.bias"])
        groups = [[q], [k, vv]] if cross else [[q, k, vv]]
        for j, group in enumerate(groups):
            put_linear(
                f"{dst}/linear_{j}",
                np.concatenate([g[0] for g in group]),
                np.concatenate([g[1] for g in group]),
            )
        put_linear(f"{dst}/linear_{len(groups)}", s[f"{src}.out_proj.weight"], s[f"{src}.out_proj.bias"])

    enc, dec = "model.encoder", "model.decoder"
    v["encoder/num_heads"] = np.array(num_encoder_heads, dtype=np.int16)
    for conv in ("conv1", "conv2"):
        put_linear(f"encoder/{conv}", s[f"{enc}.{conv}.weight"], s[f"{enc}.{conv}.bias"])
    put("encoder/position_encodings/encodings", s[f"{enc}.embed_positions.weight"])
    norm("encoder/layer_norm", f"{enc}.layer_norm")
    i = 0
    while f"{enc}.layers.{i}.fc1.weight" in s:
        src, dst = f"{enc}.layers.{i}", f"encoder/layer_{i}"
        attention(f"{dst}/self_attention", f"{src}.self_attn", cross=False)
        norm(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
        put_linear(f"{dst}/ffn/linear_0", s[f"{src}.fc1.weight"], s[f"{src}.fc1.bias"])
        put_linear(f"{dst}/ffn/linear_1", s[f"{src}.fc2.weight"], s[f"{src}.fc2.bias"])
        norm(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")
        i += 1
    scalars = {
        "activation": (3, np.int8),
        "alibi": (0, np.int8),
        "alignment_heads": (1, np.int16),
        "alignment_layer": (-1, np.int16),
        "num_heads": (num_decoder_heads, np.int16),
        "pre_norm": (1, np.int8),
        "scale_embeddings": (0, np.int8),
        "start_from_zero_embedding": (0, np.int8),
    }
    for name, (value, dt) in scalars.items():
        v[f"decoder/{name}"] = np.array(value, dtype=dt)
    put("decoder/embeddings/weight", s[f"{dec}.embed_tokens.weight"])
    put("decoder/position_encodings/encodings", s[f"{dec}.embed_positions.weight"])
    norm("decoder/layer_norm", f"{dec}.layer_norm")
    i = 0
    while f"{dec}.layers.{i}.fc1.weight" in s:
        src, dst = f"{dec}.layers.{i}", f"decoder/layer_{i}"
        attention(f"{dst}/self_attention", f"{src}.self_attn", cross=False)
        norm(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
        attention(f"{dst}/attention", f"{src}.encoder_attn", cross=True)
        norm(f"{dst}/attention/layer_norm", f"{src}.encoder_attn_layer_norm")
        put_linear(f"{dst}/ffn/linear_0", s[f"{src}.fc1.weight"], s[f"{src}.fc1.bias"])
        put_linear(f"{dst}/ffn/linear_1", s[f"{src}.fc2.weight"], s[f"{src}.fc2.bias"])
        norm(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")
        i += 1
    return Ct2Model(
        spec="WhisperSpec",
        revision=3,
        variables=v,
        aliases={"decoder/projection/weight": "decoder/embeddings/weight"},
    )


# Special tokens whose ids HF's generation config needs (Whisper's tokenizer names them this way).
_SPECIALS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|notimestamps|>",
    "<|transcribe|>",
    "<|translate|>",
    "<|startofprev|>",
    "<|startoflm|>",
    "<|nocaptions|>",
)


def _read_vocabulary(files: dict[str, Path]) -> list[str] | None:
    if "vocabulary.json" in files:
        return list(read_json(files["vocabulary.json"]))
    if "vocabulary.txt" in files:
        with open(files["vocabulary.txt"], encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    return None


def whisper_hf_configs(model: Ct2Model, files: dict[str, Path]) -> tuple[dict, dict]:
    """``(config.json, generation_config.json)`` dicts for the converted model.

    Sizes come from the weights' shapes, head counts from the spec's scalars; token ids, suppression lists,
    language ids and alignment heads from the package's CTranslate2 ``config.json`` and vocabulary.
    """
    conv1 = model.get("encoder/conv1/weight")
    d_model, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    vocab_size = int(model.get("decoder/embeddings/weight").shape[0])
    ct2_cfg = read_json(files["config.json"]) if "config.json" in files else {}
    vocab = _read_vocabulary(files)
    ids: dict[str, int] = {}
    if vocab is not None:
        index = {tok: i for i, tok in enumerate(vocab)}
        ids = {t: index[t] for t in _SPECIALS if t in index}
    eos = ids.get("<|endoftext|>", 0)
    start = ids.get("<|startoftranscript|>", min(1, vocab_size - 1))
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": vocab_size,
        "num_mel_bins": n_mels,
        "d_model": d_model,
        "encoder_layers": _count_layers(model, "encoder"),
        "decoder_layers": _count_layers(model, "decoder"),
        "encoder_attention_heads": int(model.get("encoder/num_heads")),
        "decoder_attention_heads": int(model.get("decoder/num_heads")),
        "encoder_ffn_dim": int(model.get("encoder/layer_0/ffn/linear_0/weight").shape[0]),
        "decoder_ffn_dim": int(model.get("decoder/layer_0/ffn/linear_0/weight").shape[0]),
        "max_source_positions": int(model.get("encoder/position_encodings/encodings").shape[0]),
        "max_target_positions": int(model.get("decoder/position_encodings/encodings").shape[0]),
        "activation_function": "gelu",
        "scale_embedding": bool(model.get("decoder/scale_embeddings"))
        if model.has("decoder/scale_embeddings")
        else False,
        "tie_word_embeddings": not model.has("decoder/projection/weight")
        or model.aliases.get("decoder/projection/weight") == "decoder/embeddings/weight",
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "decoder_start_token_id": start,
        "torch_dtype": "float32",
    }
    generation = {
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "decoder_start_token_id": start,
        "max_length": config["max_target_positions"],
        # Decoding settings live here only: transformers 5 warns when the model config carries them too.
        "suppress_tokens": ct2_cfg.get("suppress_ids", []),
        "begin_suppress_tokens": ct2_cfg.get("suppress_ids_begin", []),
    }
    if ct2_cfg.get("alignment_heads"):
        generation["alignment_heads"] = [list(h) for h in ct2_cfg["alignment_heads"]]
    if "<|notimestamps|>" in ids:
        generation["no_timestamps_token_id"] = ids["<|notimestamps|>"]
    lang_ids = ct2_cfg.get("lang_ids") or []
    generation["is_multilingual"] = bool(lang_ids)
    if vocab is not None and lang_ids:
        generation["lang_to_id"] = {vocab[i]: int(i) for i in lang_ids if i < len(vocab)}
    if "<|transcribe|>" in ids and "<|translate|>" in ids:
        generation["task_to_id"] = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    return config, generation


def convert_whisper_ct2(source: Path, dest: Path) -> Path:
    """Convert a CTranslate2 Whisper model (file, folder or split parts) into a HF folder at ``dest``.

    Writes ``config.json``, ``generation_config.json``, ``model.safetensors`` (float32, full model: encoder,
    decoder) and the tokenizer files when the package ships ``tokenizer.json``. ``dest`` must not exist;
    the folder appears atomically.
    """
    import torch
    from safetensors.torch import save_file

    parts = find_model_parts(source)
    files = companion_files(parts)
    model = read_model_bin(parts)
    state = whisper_ct2_to_hf_state(model)
    config, generation = whisper_hf_configs(model, files)
    del model
    tmp, commit = atomic_folder(dest)
    try:
        save_file(
            {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in state.items()},
            str(tmp / "model.safetensors"),
            metadata={"format": "pt"},
        )
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2))
        if "tokenizer.json" in files:
            _save_tokenizer(files["tokenizer.json"], tmp)
        (tmp / "SOURCE.txt").write_text("\n".join(str(p) for p in parts) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit()
    return dest


def _save_tokenizer(tokenizer_json: Path, folder: Path) -> None:
    from transformers import WhisperTokenizerFast

    tok = WhisperTokenizerFast(tokenizer_file=str(tokenizer_json))
    tok.save_pretrained(str(folder))


def whisper_hf_folder(source: Path, cache_dir: Path | None) -> Path:
    """The HF folder converted from ``source`` (a CTranslate2 Whisper model), converting it once.

    The cache entry is ``<cache_dir>/whisper_ct2/<key>`` (``cache_dir`` None: ``$USAM_CACHE_DIR`` or
    ``~/.cache/usam_toolkit``) with ``key`` from :func:`source_key` (sizes,
    mtimes and the first MiB), so an edited or replaced model.bin converts again.
    """
    parts = find_model_parts(Path(source))
    if cache_dir is not None:
        base = Path(cache_dir)
    else:
        base = Path(os.environ.get("USAM_CACHE_DIR") or Path.home() / ".cache" / "usam_toolkit")
    dest = base / "whisper_ct2" / source_key(parts)
    if not (dest / "config.json").is_file():
        convert_whisper_ct2(Path(source), dest)
    return dest


def tiny_whisper_state(
    seed: int = 0,
    d_model: int = 16,
    layers: int = 2,
    heads: int = 2,
    n_mels: int = 80,
    vocab: int = 64,
    max_source_positions: int = 1500,
) -> tuple[dict, dict]:
    """A random tiny ``WhisperForConditionalGeneration`` state dict (every tensor random, biases and norms
    included, so that a layout mistake changes outputs) and its HF config dict."""
    import torch
    from transformers import WhisperConfig as HFWhisperConfig
    from transformers import WhisperForConditionalGeneration

    config = {
        "vocab_size": vocab,
        "num_mel_bins": n_mels,
        "d_model": d_model,
        "encoder_layers": layers,
        "decoder_layers": layers,
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": 2 * d_model,
        "decoder_ffn_dim": 2 * d_model,
        "max_source_positions": max_source_positions,
        "max_target_positions": 32,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        "decoder_start_token_id": 1,
        "suppress_tokens": [],
        "begin_suppress_tokens": [],
    }
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(HFWhisperConfig(**config))
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if name == "proj_out.weight":
            continue
        if name.endswith("k_proj.bias"):
            continue
        std = (
            0.5
            if t.ndim == 1
            else 1.0 / max(1, t.shape[-1] if t.ndim == 2 else t.shape[1] * t.shape[2]) ** 0.5
        )
        value = torch.randn(t.shape, generator=gen) * std
        if "layer_norm" in name and name.endswith("weight"):
            value = 1.0 + 0.2 * torch.randn(t.shape, generator=gen)
        state[name] = value
    return state, config


def write_tiny_whisper_ct2(
    folder: Path, seed: int = 0, quantization: str | None = None, **sizes: int
) -> Path:
    """Write a tiny random Whisper as a CTranslate2 ``model.bin`` (+ a CTranslate2 ``config.json``) in ``folder``.

    Returns:
        the path of ``model.bin``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state, config = tiny_whisper_state(seed, **sizes)
    model = whisper_hf_to_ct2(
        state, config["encoder_attention_heads"], config["decoder_attention_heads"], quantization
    )
    write_model_bin(folder / "model.bin", model)
    (folder / "config.json").write_text(
        json.dumps(
            {"suppress_ids": [], "suppress_ids_begin": [], "lang_ids": [], "alignment_heads": [[1, 0]]}
        )
    )
    return folder / "model.bin"
