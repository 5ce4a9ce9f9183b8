"""FeatureCache + CachedEncoder: hits skip the encoder, key changes miss, writes are atomic."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from usam_toolkit.data.cache import CachedEncoder, FeatureCache
from usam_toolkit.interfaces import EncoderOutput


class FrameMean(nn.Module):
    """Tiny encoder: frames of 160 samples -> [mean, max] * scale; counts its calls."""

    output_dim = 2
    frame_rate = 100.0
    sample_rate = 16000

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.calls: list[int] = []

    def forward(self, audio, lengths):
        self.calls.append(audio.shape[0])
        b, n = audio.shape
        t = n // 160
        frames = audio[:, : t * 160].reshape(b, t, 160)
        feats = torch.stack([frames.mean(-1), frames.amax(-1)], dim=-1) * self.scale
        return EncoderOutput(features=feats, lengths=lengths // 160, frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        return f"framemean(scale={self.scale})"


def _batch():
    g = torch.Generator().manual_seed(0)
    audio = torch.rand(3, 1600, generator=g)
    lengths = torch.tensor([1600, 960, 480])
    audio[1, 960:] = 0
    audio[2, 480:] = 0
    return audio, lengths, ["h0aa", "h1bb", "h2cc"]


def test_cached_run_reads_cache_and_skips_encoder(tmp_path):
    audio, lengths, hashes = _batch()
    enc = FrameMean()
    cached = CachedEncoder(enc, FeatureCache(tmp_path))
    first = cached(audio, lengths, hashes=hashes)
    assert enc.calls == [3]
    direct = enc(audio, lengths)
    assert first.lengths.tolist() == [10, 6, 3]
    for b, n in enumerate(first.lengths.tolist()):
        torch.testing.assert_close(first.features[b, :n], direct.features[b, :n])

    enc2 = FrameMean()
    enc2.forward = lambda *a, **k: pytest.fail("encoder called on a full cache hit")  # type: ignore[method-assign]
    cache2 = FeatureCache(tmp_path)
    second = CachedEncoder(enc2, cache2)(audio, lengths, hashes=hashes)
    assert cache2.hits == 3 and cache2.misses == 0
    torch.testing.assert_close(second.features, first.features)
    assert second.lengths.tolist() == [10, 6, 3] and second.frame_rate == 100.0


def test_partial_hit_encodes_only_missing(tmp_path):
    audio, lengths, hashes = _batch()
    enc = FrameMean()
    cached = CachedEncoder(enc, FeatureCache(tmp_path))
    cached(audio[:2], lengths[:2], hashes=hashes[:2])
    enc.calls.clear()
    out = cached(audio, lengths, hashes=hashes)
    assert enc.calls == [1]  # only the third sample
    assert out.features.shape == (3, 10, 2)


def test_key_changes_invalidate(tmp_path):
    audio, lengths, hashes = _batch()
    CachedEncoder(FrameMean(1.0), FeatureCache(tmp_path))(audio, lengths, hashes=hashes)
    enc = FrameMean(2.0)  # new fingerprint
    out = CachedEncoder(enc, FeatureCache(tmp_path))(audio, lengths, hashes=hashes)
    assert enc.calls == [3]
    torch.testing.assert_close(out.features[0, :10], enc(audio, lengths).features[0, :10])
    enc.calls.clear()
    CachedEncoder(enc, FeatureCache(tmp_path))(audio, lengths, hashes=["new0", *hashes[1:]])  # new content
    assert enc.calls == [1]


def test_no_hashes_is_a_pass_through(tmp_path):
    audio, lengths, _ = _batch()
    enc = FrameMean()
    out = CachedEncoder(enc, FeatureCache(tmp_path))(audio, lengths)
    assert out.features.shape == (3, 10, 2) and not any(tmp_path.iterdir())


def test_concurrent_writers_leave_one_valid_file(tmp_path):
    cache = FeatureCache(tmp_path)
    feats = [torch.full((5, 2), float(i)) for i in range(8)]
    threads = [threading.Thread(target=cache.put, args=("samekey", "fp", f, 50.0)) for f in feats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got, rate = cache.get("samekey", "fp")
    assert rate == 50.0 and got.shape == (5, 2) and torch.all(got == got[0, 0])
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert files == ["samekey.safetensors"]  # no temp files left behind
    assert cache.get("samekey", "other fingerprint") is None
