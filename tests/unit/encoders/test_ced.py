"""CED encoder: tiny random checkpoints in the real mispeech/ced-* and original .pt formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("safetensors")
torchaudio = pytest.importorskip("torchaudio")

from usam_plugins.encoders.ced import (
    CedConfig,
    build_ced,
    ced_example,
    write_tiny_ced_checkpoint,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext
from usam_toolkit.testing import build_example, check_encoder

SR = 16000


def _audio(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * SR), generator=g)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    written = write_tiny_ced_checkpoint(tmp_path / "ced")
    return tmp_path / "ced", written


def test_config_json_has_the_real_keys(tiny) -> None:
    folder, written = tiny
    config = json.loads((folder / "config.json").read_text())
    for key in (
        "embed_dim",
        "depth",
        "num_heads",
        "patch_size",
        "patch_stride",
        "target_length",
        "n_mels",
        "hop_size",
        "win_size",
        "n_fft",
        "outputdim",
        "pooling",
    ):
        assert key in config
    assert "encoder.blocks.0.attn.qkv.weight" in written and "outputlayer.1.weight" in written


def test_loads_the_written_weights(tiny) -> None:
    folder, written = tiny
    enc = build_ced(CedConfig(checkpoint=str(folder)), BuildContext())
    bb = enc.backbone
    d = bb.hp.embed_dim
    qkv = written["encoder.blocks.1.attn.qkv.weight"]
    assert torch.equal(bb.blocks[1].attn.q_proj.weight, qkv[:d])
    assert torch.equal(bb.blocks[1].attn.k_proj.weight, qkv[d : 2 * d])
    assert torch.equal(bb.blocks[1].attn.v_proj.weight, qkv[2 * d :])
    assert torch.equal(bb.time_pos_embed, written["encoder.time_pos_embed"])
    assert torch.equal(bb.init_bn.running_var, written["encoder.init_bn.running_var"])
    assert (bb.hp.embed_dim, bb.hp.depth, bb.hp.num_heads, bb.time_patches, bb.freq_patches) == (
        32,
        2,
        2,
        4,
        4,
    )


def test_shapes_lengths_and_frame_rate(tiny) -> None:
    folder, _ = tiny
    enc = build_ced(CedConfig(checkpoint=str(folder)), BuildContext()).eval()
    assert enc.frame_rate == 16000 / 160 / 16 == 6.25 and enc.sample_rate == SR and enc.output_dim == 32
    lens = torch.tensor([SR * 3, SR * 2 + 123, 3000])
    audio = torch.zeros(3, SR * 3)
    for i, n in enumerate(lens.tolist()):
        audio[i, :n] = 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(i))
    with torch.no_grad():
        out = enc(audio, lens)
    # frames = 1 + N // 160; columns = frames // 16 (at least one): 301 -> 18, 201 -> 12, 19 -> 1
    assert out.lengths.tolist() == [18, 12, 1]
    assert out.features.shape == (3, 18, 32)
    assert torch.all(out.features[1, 12:] == 0) and torch.isfinite(out.features).all()


def test_padding_invariance_across_chunks(tiny) -> None:
    """A clip alone == the same clip next to a longer one (the tiny model chunks every 4 columns)."""
    folder, _ = tiny
    enc = build_ced(CedConfig(checkpoint=str(folder)), BuildContext()).eval()
    short, long_ = _audio(1.3, 1), _audio(2.9, 2)
    batch = torch.zeros(2, long_.numel())
    batch[0, : short.numel()], batch[1] = short, long_
    with torch.no_grad():
        both = enc(batch, torch.tensor([short.numel(), long_.numel()]))
        alone = enc(short[None], torch.tensor([short.numel()]))
    n = int(alone.lengths[0])
    assert n == int(both.lengths[0]) == 8
    torch.testing.assert_close(both.features[0, :n], alone.features[0], atol=1e-4, rtol=0)


def test_concat_pooling_width(tiny) -> None:
    folder, _ = tiny
    enc = build_ced(CedConfig(checkpoint=str(folder), freq_pooling="concat"), BuildContext()).eval()
    mean = build_ced(CedConfig(checkpoint=str(folder)), BuildContext()).eval()
    a = _audio(0.7)[None]
    with torch.no_grad():
        cat, avg = enc(a, torch.tensor([a.shape[1]])), mean(a, torch.tensor([a.shape[1]]))
    assert enc.output_dim == 4 * 32 and cat.features.shape[-1] == 128
    torch.testing.assert_close(cat.features.view(1, -1, 4, 32).mean(2), avg.features)


def _reference_forward(w: dict[str, torch.Tensor], audio: torch.Tensor, heads: int) -> torch.Tensor:
    """The published CED forward for one clip within target_length: FREQUENCY-major tokens ``[F'*T', D]``."""
    mel = torchaudio.transforms.MelSpectrogram(
        f_min=0, sample_rate=SR, win_length=512, center=True, n_fft=512, f_max=8000, hop_length=160, n_mels=64
    )(audio[None])
    x = torchaudio.transforms.AmplitudeToDB(top_db=120)(mel)  # [1, 64, T]
    x = F.batch_norm(
        x,
        w["encoder.init_bn.running_mean"],
        w["encoder.init_bn.running_var"],
        w["encoder.init_bn.weight"],
        w["encoder.init_bn.bias"],
        eps=1e-5,
    )
    x = F.conv2d(
        x[:, None], w["encoder.patch_embed.proj.weight"], w["encoder.patch_embed.proj.bias"], stride=16
    )
    t = x.shape[-1]
    x = x + w["encoder.time_pos_embed"][..., :t] + w["encoder.freq_pos_embed"]
    x = x.flatten(2).transpose(1, 2)  # b (f t) c
    d = x.shape[-1]
    i = 0
    while f"encoder.blocks.{i}.norm1.weight" in w:
        p = f"encoder.blocks.{i}."
        h = F.layer_norm(x, (d,), w[p + "norm1.weight"], w[p + "norm1.bias"], 1e-6)
        qkv = F.linear(h, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"]).view(1, -1, 3, heads, d // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (d // heads) ** -0.5).softmax(-1)
        x = x + F.linear(
            (att @ v).transpose(1, 2).reshape(1, -1, d), w[p + "attn.proj.weight"], w[p + "attn.proj.bias"]
        )
        h = F.layer_norm(x, (d,), w[p + "norm2.weight"], w[p + "norm2.bias"], 1e-6)
        h = F.linear(
            F.gelu(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])),
            w[p + "mlp.fc2.weight"],
            w[p + "mlp.fc2.bias"],
        )
        x = x + h
        i += 1
    return F.layer_norm(x, (d,), w["encoder.norm.weight"], w["encoder.norm.bias"], 1e-6)[0]


def test_matches_the_published_forward(tmp_path: Path) -> None:
    """Same numbers as CED's own (frequency-major) forward, re-ordered time-major and pooled over
    frequency."""
    written = write_tiny_ced_checkpoint(tmp_path / "ced", target_length=1012)
    enc = build_ced(CedConfig(checkpoint=str(tmp_path / "ced")), BuildContext()).eval()
    audio = _audio(1.5, seed=3)
    with torch.no_grad():
        ref = _reference_forward(written, audio, heads=2)  # [F'*T', D]
        tokens, cols = enc.backbone(audio[None], torch.tensor([audio.numel()]))
        out = enc(audio[None], torch.tensor([audio.numel()]))
    t = int(cols[0])
    ref_grid = ref.view(4, t, -1).transpose(0, 1)  # (f t) -> t f
    torch.testing.assert_close(tokens[0], ref_grid, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.features[0], ref_grid.mean(1), atol=1e-4, rtol=1e-4)


def test_original_pt_format_gives_the_same_model(tmp_path: Path) -> None:
    written = write_tiny_ced_checkpoint(tmp_path / "hf")
    original = {}
    for k, v in written.items():
        k = k.removeprefix("encoder.").replace("init_bn.", "init_bn.1.")
        original[k] = v
    original["front_end.0.mel_scale.fb"] = torch.zeros(257, 64)  # recomputed, ignored on load
    torch.save({"model": original}, tmp_path / "audiotransformer_tiny.pt")
    a = build_ced(CedConfig(checkpoint=str(tmp_path / "hf")), BuildContext())
    b = build_ced(
        CedConfig(checkpoint=str(tmp_path / "audiotransformer_tiny.pt"), num_heads=2), BuildContext()
    )
    for (ka, va), (kb, vb) in zip(a.backbone.state_dict().items(), b.backbone.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_fingerprint_follows_weights_and_config(tmp_path: Path) -> None:
    write_tiny_ced_checkpoint(tmp_path / "a", seed=0)
    write_tiny_ced_checkpoint(tmp_path / "b", seed=1)
    fa = build_ced(CedConfig(checkpoint=str(tmp_path / "a")), BuildContext()).fingerprint()
    fb = build_ced(CedConfig(checkpoint=str(tmp_path / "b")), BuildContext()).fingerprint()
    fc = build_ced(
        CedConfig(checkpoint=str(tmp_path / "a"), freq_pooling="concat"), BuildContext()
    ).fingerprint()
    assert len({fa, fb, fc}) == 3


def test_modes(tiny) -> None:
    """The core applies the slot's mode (the plugin's build leaves the weights as loaded)."""
    from usam_toolkit.plugins import load_registry

    folder, _ = tiny
    reg = load_registry(entry_points=False)

    def build(**slot):
        slot = {"name": "ced", "checkpoint": str(folder), **slot}
        return reg.build("encoders", slot, BuildContext(), "encoders[0]")

    frozen = build()
    assert not any(p.requires_grad for p in frozen.parameters())
    full = build(mode="trainable")
    assert all(p.requires_grad for p in full.parameters())
    lora = build(mode="lora")
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names) and any("q_proj" in n for n in names)


def test_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ced.checkpoint"):
        build_ced(CedConfig(), BuildContext())
    with pytest.raises(ConfigError, match="does not exist"):
        build_ced(CedConfig(checkpoint=str(tmp_path / "nope")), BuildContext())
    write_tiny_ced_checkpoint(tmp_path / "ok")
    with pytest.raises(ConfigError, match="freq_pooling"):
        build_ced(CedConfig(checkpoint=str(tmp_path / "ok"), freq_pooling="max"), BuildContext())


def test_conformance(tmp_path: Path) -> None:
    enc = build_example("encoders", "ced", tmp_path)
    check_encoder(enc)
    assert ced_example(tmp_path / "again")["checkpoint"].endswith("ced_tiny")
