"""sound_cnn encoder: the aisfx package's real weights (when installed) and a tiny checkpoint in its
format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torchaudio")

from usam_plugins.encoders.sound_cnn import (
    SoundCnnConfig,
    build_sound_cnn,
    default_checkpoint,
    read_checkpoint,
    write_tiny_sound_cnn_checkpoint,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext
from usam_toolkit.testing import build_example, check_encoder

SR = 44100
BELL = Path("/usr/share/sounds/freedesktop/stereo/bell.oga")
DIALOG = Path("/usr/share/sounds/freedesktop/stereo/dialog-warning.oga")
needs_aisfx = pytest.mark.skipif(
    importlib.util.find_spec("aisfx") is None,
    reason="needs the 'aisfx' package (pip install --no-deps aisfx)",
)


def _audio(n: int, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


def _tiny(tmp_path: Path, **kw):
    path = tmp_path / "checkpoint.pth"
    written = write_tiny_sound_cnn_checkpoint(path)
    return build_sound_cnn(SoundCnnConfig(checkpoint=str(path), **kw), BuildContext()).eval(), written


def _reference_embedding(state: dict[str, torch.Tensor], spec: torch.Tensor) -> torch.Tensor:
    """The package's EmbeddingNet forward, written out: ``spec`` ``[T, 96]`` -> ``[D]``
    (freq mean, time max)."""
    x = spec[None, None]
    for i in range(1, 5):
        p = f"embedding_net.conv_block{i}."
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
            x = F.conv2d(x, state[p + conv + ".weight"], padding=1)
            x = F.batch_norm(
                x,
                state[p + bn + ".running_mean"],
                state[p + bn + ".running_var"],
                state[p + bn + ".weight"],
                state[p + bn + ".bias"],
                eps=1e-5,
            )
            x = F.relu(x)
        if i < 4:
            x = F.max_pool2d(x, 2)
    return x.mean(dim=3).amax(dim=2)[0]


def test_tiny_loads_the_written_weights(tmp_path: Path) -> None:
    enc, written = _tiny(tmp_path)
    net = enc.backbone.embedding_net
    assert torch.equal(net.conv_block3.conv2.weight, written["embedding_net.conv_block3.conv2.weight"])
    assert torch.equal(net.conv_block1.bn1.running_var, written["embedding_net.conv_block1.bn1.running_var"])
    assert enc.output_dim == 16 and enc.sample_rate == SR
    assert enc.frame_rate == pytest.approx(44100 / 1024 / 8)


def test_lengths_and_padding_invariance(tmp_path: Path) -> None:
    enc, _ = _tiny(tmp_path)
    short, long_ = _audio(30000, 1), _audio(2 * SR, 2)
    batch = torch.zeros(2, 2 * SR)
    batch[0, :30000], batch[1] = short, long_
    with torch.no_grad():
        both = enc(batch, torch.tensor([30000, 2 * SR]))
        alone = enc(short[None], torch.tensor([30000]))
        tiny = enc(_audio(500)[None], torch.tensor([500]))
    # frames = 1 + N // 1024 (>= 8), then // 8: 30000 -> 30 -> 3; 88200 -> 87 -> 10; 500 -> 8 -> 1
    assert both.lengths.tolist() == [3, 10] and tiny.lengths.tolist() == [1]
    torch.testing.assert_close(both.features[0, :3], alone.features[0], atol=1e-5, rtol=0)
    assert torch.all(both.features[0, 3:] == 0)


def test_window_pooling_is_a_masked_max(tmp_path: Path) -> None:
    frames, _ = _tiny(tmp_path)
    pooled = build_sound_cnn(
        SoundCnnConfig(checkpoint=str(tmp_path / "checkpoint.pth"), window_frames=4), BuildContext()
    ).eval()
    a = _audio(80000)[None]
    n = torch.tensor([80000])
    with torch.no_grad():
        f, p = frames(a, n), pooled(a, n)
    assert f.lengths.tolist() == [9] and p.lengths.tolist() == [3]  # ceil(9 / 4)
    assert pooled.frame_rate == pytest.approx(frames.frame_rate / 4)
    torch.testing.assert_close(p.features[0, 0], f.features[0, 0:4].amax(0))
    torch.testing.assert_close(p.features[0, 2], f.features[0, 8])


def test_matches_the_package_network(tmp_path: Path) -> None:
    """Max over time of the frame sequence == the package's pooled embedding of the same spectrogram."""
    enc, written = _tiny(tmp_path)
    a = _audio(40000, 3)
    with torch.no_grad():
        spec = enc.backbone.log_mel(a, peak_normalize=True)
        ref = _reference_embedding(written, spec)
        out = enc(a[None], torch.tensor([a.numel()]))
    torch.testing.assert_close(out.features[0].amax(0), ref, atol=1e-5, rtol=1e-5)


def test_frontend_filters_and_silence(tmp_path: Path) -> None:
    enc, _ = _tiny(tmp_path)
    fb = enc.backbone.mel_fb  # [1025, 96]
    assert fb.shape == (1025, 96)
    torch.testing.assert_close(fb.sum(0), torch.ones(96))  # 'unit_sum' triangles
    spec = enc.backbone.log_mel(torch.zeros(5000), peak_normalize=True)
    assert spec.shape == (1 + 5000 // 1024, 96) and torch.all(spec == 0)  # log10(1e4 * 0 + 1) = 0


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_sound_cnn(SoundCnnConfig(checkpoint=str(tmp_path / "nope.pth")), BuildContext())
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="not an aisfx checkpoint"):
        build_sound_cnn(SoundCnnConfig(checkpoint=str(tmp_path / "bad.pth")), BuildContext())
    with pytest.raises(ConfigError, match="window_frames"):
        _tiny(tmp_path, window_frames=0)


def test_conformance(tmp_path: Path) -> None:
    check_encoder(build_example("encoders", "sound_cnn", tmp_path))


# ------------------------------------------------------------------------------------- real weights
def _decode(path: Path) -> torch.Tensor:
    sf = pytest.importorskip("soundfile")
    if not path.is_file():
        pytest.skip(f"{path} is missing (Debian package sound-theme-freedesktop)")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    assert sr == SR
    return torch.from_numpy(data.mean(axis=1))


@needs_aisfx
def test_real_weights_load_and_embed_a_real_sound() -> None:
    path = default_checkpoint()
    assert path is not None
    state = read_checkpoint(path)
    enc = build_sound_cnn(SoundCnnConfig(), BuildContext()).eval()
    assert enc.output_dim == 512
    assert sum(p.numel() for p in enc.parameters()) == sum(
        v.numel()
        for k, v in state.items()
        if k.startswith("embedding_net.") and "running" not in k and "num_batches" not in k
    )
    bell = _decode(BELL)
    with torch.no_grad():
        one = enc(bell[None], torch.tensor([bell.numel()]))
        two = enc(bell[None], torch.tensor([bell.numel()]))
    assert one.features.shape == (1, 1, 512)  # 0.14 s: 7 frames, padded to one output frame
    assert torch.isfinite(one.features).all() and one.features.abs().sum() > 0
    assert torch.equal(one.features, two.features)


@needs_aisfx
def test_real_embeddings_separate_sounds() -> None:
    """A sound is nearer to a slightly noisy copy of itself than to white noise or another event sound."""
    enc = build_sound_cnn(SoundCnnConfig(), BuildContext()).eval()
    dialog = _decode(DIALOG)
    noisy = dialog + 0.003 * torch.randn(dialog.numel(), generator=torch.Generator().manual_seed(0))
    noise = _audio(dialog.numel(), 1)
    bell = _decode(BELL)

    def emb(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return enc(x[None], torch.tensor([x.numel()])).features[0].amax(0)

    ref = emb(dialog)
    sim = {
        name: F.cosine_similarity(ref, emb(x), dim=0).item()
        for name, x in (("noisy", noisy), ("noise", noise), ("bell", bell))
    }
    # measured: noisy 0.81, white noise 0.51, bell 0.59 (log compression makes -50 dB noise audible)
    assert sim["noisy"] > max(sim["noise"], sim["bell"]) + 0.1
