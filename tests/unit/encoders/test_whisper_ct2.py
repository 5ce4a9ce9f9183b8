"""The CTranslate2 reader/converter and the ``whisper`` encoder on tiny random models written in the real
format."""

from __future__ import annotations

import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from usam_plugins.encoders.common import fingerprint, whisper_log_mel
from usam_plugins.encoders.ct2_fixtures import tiny_whisper_state, write_tiny_whisper_ct2
from usam_plugins.encoders.ct2_format import Ct2Model, read_model_bin, write_model_bin
from usam_plugins.encoders.ct2_lookup import find_model_parts
from usam_plugins.encoders.whisper import WhisperEncoderConfig, build_whisper, hf_folder_for, load_hf_whisper
from usam_plugins.encoders.whisper_ct2_convert import whisper_hf_folder
from usam_plugins.encoders.whisper_ct2_names import count_layers, whisper_ct2_to_hf_state, whisper_hf_to_ct2

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("tiny_whisper")
    state, config = tiny_whisper_state(seed=3)
    model_bin = write_tiny_whisper_ct2(root / "ct2", seed=3)
    ctx = BuildContext(cache_dir=root / "cache")
    enc = build_whisper(WhisperEncoderConfig(ct2_path=str(model_bin.parent)), ctx)
    return {"root": root, "state": state, "config": config, "bin": model_bin, "ctx": ctx, "enc": enc}


# --------------------------------------------------------------------------------------------------
# Binary format
# --------------------------------------------------------------------------------------------------
def test_header_is_ct2_binary_layout(tmp_path: Path) -> None:
    model = Ct2Model(
        "WhisperSpec",
        3,
        {"a/b": np.arange(6, dtype=np.float16).reshape(2, 3), "n": np.array(8, dtype=np.int16)},
        {"c": "a/b"},
    )
    path = tmp_path / "model.bin"
    write_model_bin(path, model)
    raw = path.read_bytes()
    # version 6, name "WhisperSpec" (length 12 incl. NUL), revision 3, 2 variables, first "a/b" (len 4)
    assert struct.unpack_from("<I", raw, 0) == (6,)
    assert struct.unpack_from("<H", raw, 4) == (12,) and raw[6:18] == b"WhisperSpec\0"
    assert struct.unpack_from("<II", raw, 18) == (3, 2)
    assert struct.unpack_from("<H", raw, 26) == (4,) and raw[28:32] == b"a/b\0"
    rank, d0, d1, dtype_id, nbytes = struct.unpack_from("<BIIBI", raw, 32)
    assert (rank, d0, d1, dtype_id, nbytes) == (2, 2, 3, 4, 12)  # float16 has id 4
    back = read_model_bin(path)
    assert back.spec == "WhisperSpec" and back.revision == 3
    np.testing.assert_array_equal(back.get("c"), model.variables["a/b"])
    assert back.get("n").dtype == np.int16 and int(back.get("n")) == 8


def test_truncated_file_is_a_data_error(tmp_path: Path, tiny: dict) -> None:
    from usam_toolkit.errors import DataError

    cut = tmp_path / "model.bin"
    cut.write_bytes(tiny["bin"].read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated"):
        read_model_bin(cut)


def test_split_parts_in_sibling_packages_are_joined(tmp_path: Path, tiny: dict) -> None:
    raw = tiny["bin"].read_bytes()
    for i, chunk in enumerate((raw[: len(raw) // 3], raw[len(raw) // 3 :]), start=1):
        folder = tmp_path / f"fake_whisper_part{i}" / "data"
        folder.mkdir(parents=True)
        (folder / f"model.bin.part{i}").write_bytes(chunk)
    parts = find_model_parts(tmp_path / "fake_whisper_part1" / "data")
    assert [p.name for p in parts] == ["model.bin.part1", "model.bin.part2"]
    joined, single = read_model_bin(parts), read_model_bin(tiny["bin"])
    assert joined.variables.keys() == single.variables.keys()
    for k in single.variables:
        np.testing.assert_array_equal(joined.variables[k], single.variables[k])


# --------------------------------------------------------------------------------------------------
# Name mapping, fused projections, quantisation
# --------------------------------------------------------------------------------------------------
def test_fused_layout_matches_ctranslate2(tiny: dict) -> None:
    m = read_model_bin(tiny["bin"])
    s = tiny["state"]
    qkv = m.get("encoder/layer_1/self_attention/linear_0/weight")
    d = s["model.encoder.layers.1.self_attn.q_proj.weight"].shape[0]
    np.testing.assert_array_equal(qkv[d : 2 * d], s["model.encoder.layers.1.self_attn.k_proj.weight"].numpy())
    bias = m.get("encoder/layer_1/self_attention/linear_0/bias")
    assert np.all(bias[d : 2 * d] == 0)  # Whisper's k has no bias: CTranslate2 stores zeros
    kv = m.get("decoder/layer_0/attention/linear_1/weight")  # cross-attention: k | v
    np.testing.assert_array_equal(kv[d:], s["model.decoder.layers.0.encoder_attn.v_proj.weight"].numpy())
    assert m.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_weights_round_trip_exactly(tiny: dict) -> None:
    back = whisper_ct2_to_hf_state(read_model_bin(tiny["bin"]))
    assert set(back) == set(tiny["state"])
    for k, v in tiny["state"].items():
        np.testing.assert_array_equal(back[k], v.numpy(), err_msg=k)


def test_int8_dequantised_with_scales(tmp_path: Path, tiny: dict) -> None:
    model = whisper_hf_to_ct2(tiny["state"], 2, 2, quantization="int8")
    write_model_bin(tmp_path / "model.bin", model)
    m = read_model_bin(tmp_path / "model.bin")
    assert m.get("encoder/layer_0/ffn/linear_0/weight").dtype == np.int8
    back = whisper_ct2_to_hf_state(m)
    for k in (
        "model.encoder.layers.0.fc1.weight",
        "model.encoder.conv1.weight",
        "model.decoder.layers.1.self_attn.v_proj.weight",
    ):
        w = tiny["state"][k].numpy()
        step = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0  # one quantisation step per row
        err = np.abs(back[k] - w).reshape(w.shape[0], -1).max(axis=1)
        assert np.all(err <= step / 2 + 1e-7), k
        assert np.any(err > 0), k  # really quantised


# --------------------------------------------------------------------------------------------------
# Reference encoder computed straight from the CTranslate2 variables
# --------------------------------------------------------------------------------------------------
def _reference_encoder(m: Ct2Model, audio: torch.Tensor, n_layers: int | None = None) -> torch.Tensor:
    """Whisper encoder written from the CTranslate2 layout (fused q|k|v), for one clip; ``[T, D]``."""

    def w(name: str) -> torch.Tensor:
        return torch.from_numpy(m.float_weight(name))

    def ln(x: torch.Tensor, p: str) -> torch.Tensor:
        return torch.nn.functional.layer_norm(x, x.shape[-1:], w(f"{p}/gamma"), w(f"{p}/beta"), eps=1e-5)

    heads = int(m.get("encoder/num_heads"))
    mel = whisper_log_mel(audio)[None]
    x = torch.nn.functional.gelu(
        torch.nn.functional.conv1d(mel, w("encoder/conv1/weight"), w("encoder/conv1/bias"), padding=1)
    )
    x = torch.nn.functional.gelu(
        torch.nn.functional.conv1d(x, w("encoder/conv2/weight"), w("encoder/conv2/bias"), stride=2, padding=1)
    )
    x = x[0].t()
    t, d = x.shape
    x = x + w("encoder/position_encodings/encodings")[:t]
    layers = count_layers(m, "encoder")
    for i in range(layers if n_layers is None else n_layers):
        p = f"encoder/layer_{i}"
        h = ln(x, f"{p}/self_attention/layer_norm")
        qkv = h @ w(f"{p}/self_attention/linear_0/weight").t() + w(f"{p}/self_attention/linear_0/bias")
        q, k, v = (z.view(t, heads, d // heads).transpose(0, 1) for z in qkv.chunk(3, dim=-1))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d // heads), dim=-1) @ v
        att = att.transpose(0, 1).reshape(t, d)
        x = x + att @ w(f"{p}/self_attention/linear_1/weight").t() + w(f"{p}/self_attention/linear_1/bias")
        h = ln(x, f"{p}/ffn/layer_norm")
        h = torch.nn.functional.gelu(h @ w(f"{p}/ffn/linear_0/weight").t() + w(f"{p}/ffn/linear_0/bias"))
        x = x + h @ w(f"{p}/ffn/linear_1/weight").t() + w(f"{p}/ffn/linear_1/bias")
    if n_layers is None:
        x = ln(x, "encoder/layer_norm")
    return x


def _speechy(seconds: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * 16000)
    t = torch.arange(n) / 16000
    return 0.3 * torch.sin(2 * math.pi * 220 * t * (1 + 0.2 * t)) + 0.05 * torch.randn(n, generator=g)


def test_converted_model_matches_ct2_reference(tiny: dict) -> None:
    enc = tiny["enc"]
    audio = _speechy(0.5, 1)
    with torch.no_grad():
        out = enc(audio[None], torch.tensor([audio.numel()]))
    ref = _reference_encoder(read_model_bin(tiny["bin"]), audio)
    assert out.features.shape == (1, 25, tiny["config"]["d_model"]) and out.lengths.tolist() == [25]
    torch.testing.assert_close(out.features[0], ref, atol=1e-4, rtol=1e-4)
    enc1 = build_whisper(WhisperEncoderConfig(ct2_path=str(tiny["bin"]), layer=1), tiny["ctx"])
    with torch.no_grad():
        mid = enc1(audio[None], torch.tensor([audio.numel()])).features[0]
    torch.testing.assert_close(
        mid, _reference_encoder(read_model_bin(tiny["bin"]), audio, n_layers=1), atol=1e-4, rtol=1e-4
    )


def test_hf_loader_sees_every_weight(tiny: dict) -> None:
    from transformers import WhisperForConditionalGeneration

    folder = hf_folder_for(WhisperEncoderConfig(ct2_path=str(tiny["bin"])), tiny["ctx"])
    model, info = WhisperForConditionalGeneration.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    torch.testing.assert_close(model.proj_out.weight, tiny["state"]["model.decoder.embed_tokens.weight"])


def test_matches_hf_encoder_on_a_full_30s_window(tiny: dict) -> None:
    """At 30 s no bypass is needed: our path must equal transformers' own WhisperEncoder.forward."""
    folder = hf_folder_for(WhisperEncoderConfig(ct2_path=str(tiny["bin"])), tiny["ctx"])
    hf_encoder = load_hf_whisper(folder).eval()
    enc = build_whisper(WhisperEncoderConfig(path=str(folder)), tiny["ctx"])
    audio = torch.zeros(480000)
    audio[:8000] = _speechy(0.5, 2)
    with torch.no_grad():
        ours = enc(audio[None], torch.tensor([480000])).features
        theirs = hf_encoder(whisper_log_mel(audio)[None]).last_hidden_state
    assert ours.shape == theirs.shape == (1, 1500, tiny["config"]["d_model"])
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_lengths_and_padding_invariance(tiny: dict) -> None:
    enc = tiny["enc"]
    short, long = _speechy(3.0, 4), _speechy(7.0, 5)
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()] = short
    batch[1] = long
    with torch.no_grad():
        both = enc(batch, torch.tensor([short.numel(), long.numel()]))
        alone = enc(short[None], torch.tensor([short.numel()]))
    assert both.lengths.tolist() == [150, 350] and both.frame_rate == 50.0
    assert enc.output_lengths(torch.tensor([160 * 301, 159, 16000])).tolist() == [151, 0, 50]
    torch.testing.assert_close(both.features[0, :150], alone.features[0], atol=1e-4, rtol=0)
    assert torch.all(both.features[0, 150:] == 0)


def test_conversion_is_cached_and_keyed_by_source(tmp_path: Path, tiny: dict) -> None:
    src = tmp_path / "m"
    shutil.copytree(tiny["bin"].parent, src)
    cache = tmp_path / "cache"
    first = whisper_hf_folder(src, cache)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert whisper_hf_folder(src / "model.bin", cache) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    write_tiny_whisper_ct2(src, seed=9)
    os.utime(src / "model.bin", ns=(1, 1))
    second = whisper_hf_folder(src, cache)
    assert second != first and len(list((cache / "whisper_ct2").iterdir())) == 2


def test_modes_and_fingerprint(tiny: dict) -> None:
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)
    slot = {"name": "whisper", "ct2_path": str(tiny["bin"])}
    frozen = reg.build("encoders", slot, tiny["ctx"], "encoders[0]")  # the core applies mode (default frozen)
    assert not any(p.requires_grad for p in frozen.parameters())
    lora = reg.build("encoders", {**slot, "mode": "lora"}, tiny["ctx"], "encoders[0]")
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("q_proj.lora_A" in n for n in trainable)
    fp = frozen.fingerprint()
    assert fp == fingerprint(frozen, frozen.cfg, refresh=True) and len(fp) == 64
    assert fp != fingerprint(frozen, WhisperEncoderConfig(ct2_path=str(tiny["bin"]), layer=1), refresh=True)
    fingerprint(frozen, frozen.cfg, refresh=True)
    with pytest.raises(ConfigError, match="layer"):
        build_whisper(WhisperEncoderConfig(ct2_path=str(tiny["bin"]), layer=7), tiny["ctx"])
    with pytest.raises(ConfigError, match="ct2_path"):
        build_whisper(WhisperEncoderConfig(), tiny["ctx"])


def test_log_mel_matches_whisper_feature_extractor() -> None:
    from transformers import WhisperFeatureExtractor

    audio = _speechy(1.3, 6).numpy().astype(np.float32)
    ref = WhisperFeatureExtractor(feature_size=80)(
        audio, sampling_rate=16000, padding=False, return_tensors="pt"
    )
    torch.testing.assert_close(
        whisper_log_mel(torch.from_numpy(audio)), ref.input_features[0], atol=1e-5, rtol=0
    )
