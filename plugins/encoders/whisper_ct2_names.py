"""Whisper weights between CTranslate2's ``WhisperSpec`` names and Hugging Face's
``WhisperForConditionalGeneration`` state-dict names, both ways.

Whisper layout (``specs/whisper_spec.py`` + ``converters/transformers.py`` ``WhisperLoader``):
self-attention ``linear_0`` is the row-wise concatenation of q, k, v; cross-attention ``linear_0`` is q and
``linear_1`` the concatenation of k, v; the last linear is the output projection. k has no bias in Whisper
(CTranslate2 fills zeros when fusing). ``ffn/linear_0`` = fc1, ``ffn/linear_1`` = fc2. LayerNorm
``gamma``/``beta`` are ``weight``/``bias``.
"""

from __future__ import annotations

import numpy as np

from usam_toolkit.errors import DataError

from .ct2_format import Ct2Model, quantize_int8

_LN = (("gamma", "weight"), ("beta", "bias"))


def count_layers(model: Ct2Model, prefix: str) -> int:
    """Number of ``<prefix>/layer_<i>/`` blocks (``prefix`` ``encoder`` or ``decoder``)."""
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
    for i in range(count_layers(model, "encoder")):
        s, d = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        attention(f"{d}.self_attn", f"{s}/self_attention", cross=False)
        norm(f"{d}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        linear(f"{d}.fc1", f"{s}/ffn/linear_0")
        linear(f"{d}.fc2", f"{s}/ffn/linear_1")
        norm(f"{d}.final_layer_norm", f"{s}/ffn/layer_norm")
    out[f"{dec}.embed_tokens.weight"] = w("decoder/embeddings/weight")
    out[f"{dec}.embed_positions.weight"] = w("decoder/position_encodings/encodings")
    norm(f"{dec}.layer_norm", "decoder/layer_norm")
    for i in range(count_layers(model, "decoder")):
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
