"""On-disk cache of frozen-encoder outputs, keyed by (audio content hash, encoder fingerprint).

Layout: ``<root>/<sha1(fingerprint)[:16]>/<hash[:2]>/<hash>.safetensors``; each file holds one sample's
valid frames (``features`` ``[T_b, D]``) and its metadata (the full fingerprint string and frame rate),
which is checked on read, so a changed encoder config or weights (new fingerprint) or changed audio
(new content hash) never hits a stale entry. Writes go to a temp file in the same folder and are
renamed with ``os.replace``: concurrent workers writing the same key both succeed and a reader never
sees a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..interfaces import EncoderOutput

if TYPE_CHECKING:  # pragma: no cover
    import torch

try:  # CachedEncoder is an nn.Module; torch is a hard dependency of the toolkit.
    from torch import nn as _nn

    _Module = _nn.Module
except ImportError:  # pragma: no cover
    _Module = object  # type: ignore[assignment,misc]


class FeatureCache:
    """Per-sample encoder outputs stored as safetensors files under ``root``.

    Attributes:
        hits: lookups answered from disk.
        misses: lookups that found nothing valid.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, content_hash: str, fingerprint: str) -> Path:
        fp = hashlib.sha1(fingerprint.encode("utf-8")).hexdigest()[:16]
        return self.root / fp / content_hash[:2] / f"{content_hash}.safetensors"

    def get(self, content_hash: str, fingerprint: str) -> tuple["torch.Tensor", float] | None:
        """``(features [T, D], frame_rate)`` or None if absent, unreadable or of another fingerprint."""
        from safetensors import safe_open

        path = self._path(content_hash, fingerprint)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("fingerprint") != fingerprint or meta.get("content_hash") != content_hash:
                    self.misses += 1
                    return None
                feats = f.get_tensor("features")
                rate = float(meta["frame_rate"])
        except Exception:  # a corrupt entry is a miss; the next put replaces it
            self.misses += 1
            return None
        self.hits += 1
        return feats, rate

    def put(self, content_hash: str, fingerprint: str, features: "torch.Tensor", frame_rate: float) -> Path:
        """Store ``features`` ``[T, D]`` atomically; returns the file."""
        from safetensors.torch import save_file

        path = self._path(content_hash, fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=path.parent)
        os.close(fd)
        try:
            save_file(
                {"features": features.detach().to("cpu").contiguous()},
                tmp,
                metadata={
                    "fingerprint": fingerprint,
                    "content_hash": content_hash,
                    "frame_rate": repr(float(frame_rate)),
                },
            )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


class CachedEncoder(_Module):
    """An encoder whose per-sample outputs come from a :class:`FeatureCache` when present.

    Same call as the wrapped encoder, plus ``hashes``: with ``hashes=None`` it is a plain pass-through.
    With hashes, cached samples are read from disk and only the others are encoded (as one sub-batch,
    trimmed to its longest sample) and then stored. The output is padded to the longest valid length;
    ``hidden_states`` are not cached and come back as None whenever a cache is used. Only wrap frozen
    encoders (a cache hit carries no gradient).

    Args:
        encoder: an :class:`~usam_toolkit.interfaces.Encoder` with ``fingerprint()``.
        cache: the feature cache.
    """

    #: ``AudioLLM.encode`` passes ``batch.audio_hashes`` only to encoders that declare this.
    accepts_hashes = True

    def __init__(self, encoder, cache: FeatureCache):
        super().__init__()
        self.encoder = encoder
        self.cache = cache
        self._fingerprint: str | None = None

    @property
    def output_dim(self) -> int:
        return self.encoder.output_dim

    @property
    def frame_rate(self) -> float:
        return self.encoder.frame_rate

    @property
    def sample_rate(self) -> int:
        return self.encoder.sample_rate

    def fingerprint(self) -> str:
        # Computed once: a frozen encoder's fingerprint cannot change during a run.
        if self._fingerprint is None:
            self._fingerprint = str(self.encoder.fingerprint())
        return self._fingerprint

    def forward(
        self, audio: "torch.Tensor", audio_lengths: "torch.Tensor", hashes: Sequence[str] | None = None
    ) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` with lengths ``[B]``; ``hashes`` are per-sample content hashes."""
        import torch

        if hashes is None:
            return self.encoder(audio, audio_lengths)
        if len(hashes) != audio.shape[0]:
            raise ValueError(f"{len(hashes)} hashes for a batch of {audio.shape[0]}")
        fp = self.fingerprint()
        found: dict[int, torch.Tensor] = {}
        rate = None
        for b, h in enumerate(hashes):
            hit = self.cache.get(h, fp)
            if hit is not None:
                found[b], rate = hit
        missing = [b for b in range(len(hashes)) if b not in found]
        out_dtype = None
        if missing:
            idx = torch.tensor(missing, dtype=torch.long, device=audio.device)
            lens = audio_lengths.index_select(0, idx)
            sub = audio.index_select(0, idx)[:, : int(lens.max())]
            with torch.no_grad():
                enc = self.encoder(sub, lens)
            rate = enc.frame_rate
            out_dtype = enc.features.dtype
            for j, b in enumerate(missing):
                feats = enc.features[j, : int(enc.lengths[j])]
                self.cache.put(hashes[b], fp, feats, enc.frame_rate)
                found[b] = feats
        feats_list = [found[b].to(audio.device) for b in range(len(hashes))]
        dtype = out_dtype or feats_list[0].dtype
        lengths = torch.tensor([f.shape[0] for f in feats_list], dtype=torch.long, device=audio.device)
        dim = feats_list[0].shape[-1]
        out = torch.zeros(len(feats_list), int(lengths.max()), dim, dtype=dtype, device=audio.device)
        for b, f in enumerate(feats_list):
            out[b, : f.shape[0]] = f.to(dtype)
        return EncoderOutput(
            features=out, lengths=lengths, frame_rate=float(rate if rate is not None else self.frame_rate)
        )
