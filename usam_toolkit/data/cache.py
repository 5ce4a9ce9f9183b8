"""On-disk cache of frozen-encoder outputs, keyed by (audio content hash, encoder fingerprint).

Layout: ``<root>/<sha1(fingerprint)[:16]>/<hash[:2]>/<hash>.safetensors``; each file holds one sample's
valid frames (``features`` ``[T_b, D]``) and its metadata (the full fingerprint string and frame rate),
which is checked on read, so a changed encoder config or weights (new fingerprint) or changed audio
(new content hash) never hits a stale entry. The fingerprint entries are stored under is
:func:`cache_key`: the encoder's fingerprint plus the precision it ran in (``data.feature_cache_precision``),
so fp32 and bf16 features never mix. Writes go to a temp file in the same folder and are
renamed with ``os.replace``: concurrent workers writing the same key both succeed and a reader never
sees a half-written file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path
from ..interfaces import EncoderOutput

if TYPE_CHECKING:  # pragma: no cover
    import torch

try:  # CachedEncoder is an nn.Module; torch is a hard dependency of the toolkit.
    from torch import nn as _nn

    _Module = _nn.Module
except ImportError:  # pragma: no cover
    _Module = object  # type: ignore[assignment,misc]


#: ``data.feature_cache_precision`` values: what the frozen encoders run in when they fill the cache.
CACHE_PRECISIONS = ("fp32", "bf16")
#: bf16 features are accepted only this close to fp32 (mean cosine over valid frames, checked on the
#: first batch each encoder encodes; see :class:`CachedEncoder`).
MIN_BF16_COSINE = 0.999


def cache_key(encoder_fingerprint: str, precision: str = "fp32") -> str:
    """The fingerprint a cache entry is filed and checked under: the encoder's own, plus its precision.

    An fp32 key is the encoder fingerprint unchanged (every entry written before the precision was
    recorded was computed in fp32, so those caches stay valid); any other precision appends
    ``|precision=<name>``, so a bf16 entry is never served to an fp32 run or the other way round.

    Raises:
        ConfigError: ``precision`` is not one of :data:`CACHE_PRECISIONS`.
    """
    if precision not in CACHE_PRECISIONS:
        from ..errors import ConfigError

        raise ConfigError(
            f"data.feature_cache_precision: '{precision}' is not one of {', '.join(CACHE_PRECISIONS)}"
        )
    return encoder_fingerprint if precision == "fp32" else f"{encoder_fingerprint}|precision={precision}"


def feature_cosine(a: torch.Tensor, b: torch.Tensor, lengths: torch.Tensor) -> tuple[float, float]:
    """Mean and minimum cosine similarity between the frames of ``a`` and ``b`` ``[B, T, D]`` over the
    valid frames (``lengths`` ``[B]``), computed in float64."""
    import torch

    t = min(a.shape[1], b.shape[1])
    a, b = a[:, :t].double(), b[:, :t].double()
    valid = torch.arange(t, device=a.device)[None, :] < lengths.to(a.device)[:, None]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-12)[valid]
    if cos.numel() == 0:
        return 1.0, 1.0
    return float(cos.mean()), float(cos.min())


def _encoder_precision(device_type: str, precision: str) -> Any:
    """The autocast state an encoder fills the cache in: bf16 autocast, or autocast off (fp32)."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device_type, enabled=False)


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

    def get(self, content_hash: str, fingerprint: str) -> tuple[torch.Tensor, float] | None:
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

    def put(self, content_hash: str, fingerprint: str, features: torch.Tensor, frame_rate: float) -> Path:
        """Store ``features`` ``[T, D]`` atomically; returns the file."""
        from safetensors.torch import save_file

        path = self._path(content_hash, fingerprint)
        # not fsynced: an entry lost to a power cut is recomputed, and the cache writes many small files
        with atomic_path(path, durable=False) as tmp:
            save_file(
                {"features": features.detach().to("cpu").contiguous()},
                str(tmp),
                metadata={
                    "fingerprint": fingerprint,
                    "content_hash": content_hash,
                    "frame_rate": repr(float(frame_rate)),
                },
            )
        return path


class CachedEncoder(_Module):
    """An encoder whose per-sample outputs come from a :class:`FeatureCache` when present.

    Same call as the wrapped encoder, plus ``hashes``: with ``hashes=None`` it is a plain pass-through.
    With hashes, cached samples are read from disk and only the others are encoded (as one sub-batch,
    trimmed to its longest sample) and then stored. The output is padded to the longest valid length;
    ``hidden_states`` are not cached and come back as None whenever a cache is used. Only wrap frozen
    encoders (a cache hit carries no gradient).

    ``precision`` is what the encoder runs in for the samples it encodes (whatever autocast is around
    the call): ``fp32`` (default) or ``bf16``; it is part of the cache key (:func:`cache_key`) and stored
    features are float32 either way. bf16 is only accepted where it changes nothing that matters: on the
    first batch it encodes, the encoder also runs in fp32 and the mean frame cosine must reach
    :data:`MIN_BF16_COSINE`, else :class:`~usam_toolkit.errors.ConfigError` (nothing is written before).

    Args:
        encoder: an :class:`~usam_toolkit.interfaces.Encoder` with ``fingerprint()``.
        cache: the feature cache.
        precision: ``fp32`` or ``bf16`` (``data.feature_cache_precision``).
    """

    #: ``AudioLLM.encode`` passes ``batch.audio_hashes`` only to encoders that declare this.
    accepts_hashes = True

    def __init__(self, encoder, cache: FeatureCache, precision: str = "fp32"):
        super().__init__()
        cache_key("", precision)  # validates the name
        self.encoder = encoder
        self.cache = cache
        self.precision = precision
        self._fingerprint: str | None = None
        #: the bf16 features' cosine to fp32 on the first batch encoded (None: not measured yet / fp32)
        self.bf16_cosine: float | None = None

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
            self._fingerprint = cache_key(str(self.encoder.fingerprint()), self.precision)
        return self._fingerprint

    def _check_bf16(self, audio: torch.Tensor, lengths: torch.Tensor, bf16: EncoderOutput) -> None:
        """Once: the bf16 features of this batch against fp32 ones; refuse bf16 below the threshold."""
        import torch

        with torch.no_grad(), _encoder_precision(audio.device.type, "fp32"):
            ref = self.encoder(audio, lengths)
        mean, low = feature_cosine(bf16.features, ref.features, torch.minimum(bf16.lengths, ref.lengths))
        if mean < MIN_BF16_COSINE:
            from ..errors import ConfigError

            raise ConfigError(
                f"data.feature_cache_precision: bf16 changes the features of encoder "
                f"{type(self.encoder).__name__} too much (mean frame cosine to fp32 {mean:.5f}, "
                f"lowest {low:.4f}, on {audio.shape[0]} clip(s); needs >= {MIN_BF16_COSINE}); use fp32"
            )
        self.bf16_cosine = mean

    def forward(
        self, audio: torch.Tensor, audio_lengths: torch.Tensor, hashes: Sequence[str] | None = None
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
            with torch.no_grad(), _encoder_precision(audio.device.type, self.precision):
                enc = self.encoder(sub, lens)
            if self.precision != "fp32":
                if self.bf16_cosine is None:
                    self._check_bf16(sub, lens, enc)
                enc = EncoderOutput(enc.features.float(), enc.lengths, enc.frame_rate, enc.hidden_states)
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
