"""The paper-scale model with random weights of the real shapes, built in code (nothing is downloaded),
and ``usam bench --config paper`` on it (CUDA, bf16, batch 64 with gradient accumulation).

Shapes: Whisper-large-v2 encoder (d_model 1280, 32 layers, 20 heads, FFN 5120, 80 mels), CED-base
(768-d, 12 layers, 12 heads), MERT-v1-330M (1024-d, 24 layers, 16 heads, FFN 4096, layer-norm conv
frontend), the paper's window Q-Former (BERT-base width, 2 layers, one query per 0.33 s window) and TAPM
(3 experts), and a Llama-3.1-8B-shaped decoder (hidden 4096, 32 layers, 32 heads, 8 KV heads,
intermediate 14336, vocab 128256) with LoRA r=8 on q,v. The tokenizer is a tiny BPE one: token ids only
index the embedding table, so its vocabulary size does not change the cost of a step.

Everything trainable (fusion rate, projector chain, ``audio_norm``, LoRA settings, losses, tasks) is read
from ``recipes/usam/paper.yaml`` (or the recipe given), so the bench and the parameter count
(``usam bench --config paper --params``, on the meta device: no GPU, no memory) follow the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError

PAPER_NEEDS = "--config paper needs a CUDA device with ~80 GB"


@dataclass
class PaperShapes:
    """Depths and widths of the paper-scale model (``scaled`` shrinks the depths for a CPU shape check)."""

    whisper_layers: int = 32
    whisper_dim: int = 1280
    whisper_heads: int = 20
    whisper_ffn: int = 5120
    whisper_mels: int = 80
    ced_layers: int = 12
    ced_dim: int = 768
    ced_heads: int = 12
    mert_layers: int = 24
    mert_dim: int = 1024
    mert_heads: int = 16
    mert_ffn: int = 4096
    llm_layers: int = 32
    llm_hidden: int = 4096
    llm_heads: int = 32
    llm_kv_heads: int = 8
    llm_intermediate: int = 14336
    llm_vocab: int = 128256
    qformer_layers: int = 2

    @classmethod
    def scaled(cls, layers: int = 1, llm_hidden: int = 256, llm_vocab: int = 512) -> PaperShapes:
        """Every stack at ``layers`` deep; the LLM narrowed (the encoders keep their real widths)."""
        return cls(
            whisper_layers=layers,
            ced_layers=layers,
            mert_layers=layers,
            llm_layers=layers,
            llm_hidden=llm_hidden,
            llm_heads=8,
            llm_kv_heads=2,
            llm_intermediate=4 * llm_hidden,
            llm_vocab=llm_vocab,
            qformer_layers=1,
        )


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    # Built directly in the target dtype: an 8B model in fp32 first would need 32 GB more.
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _whisper(shapes: PaperShapes) -> Any:
    from transformers import WhisperConfig as HFWhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    from usam_plugins.encoders.whisper import WhisperEncoderConfig, WhisperEncoderWrapper

    config = HFWhisperConfig(
        d_model=shapes.whisper_dim,
        encoder_layers=shapes.whisper_layers,
        encoder_attention_heads=shapes.whisper_heads,
        encoder_ffn_dim=shapes.whisper_ffn,
        num_mel_bins=shapes.whisper_mels,
        max_source_positions=1500,
        decoder_layers=1,
    )
    encoder = WhisperEncoder(config).eval()
    encoder.requires_grad_(False)
    return WhisperEncoderWrapper(encoder, WhisperEncoderConfig(mode="frozen"))


def _ced(shapes: PaperShapes) -> Any:
    from usam_plugins.encoders.ced import CedBackbone, CedConfig, CedEncoder, CedHyper

    backbone = CedBackbone(
        CedHyper(embed_dim=shapes.ced_dim, depth=shapes.ced_layers, num_heads=shapes.ced_heads)
    )
    backbone.requires_grad_(False)
    return CedEncoder(backbone.eval(), CedConfig(checkpoint="random"))


def _mert(shapes: PaperShapes) -> Any:
    from usam_plugins.encoders.mert import MertBackbone, MertConfig, MertEncoder, MertHyper

    hp = MertHyper(
        hidden_size=shapes.mert_dim,
        num_hidden_layers=shapes.mert_layers,
        num_attention_heads=shapes.mert_heads,
        intermediate_size=shapes.mert_ffn,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_bias=True,
    )
    backbone = MertBackbone(hp)
    backbone.requires_grad_(False)
    return MertEncoder(backbone.eval(), MertConfig(checkpoint="random", weighted_sum=True))


def _llm(shapes: PaperShapes, work_dir: Path, lora: Any) -> Any:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from usam_plugins.llms.hf_causal_lm import HFCausalLM
    from usam_plugins.llms.tiny import write_tiny_tokenizer

    from ..model.train_mode import apply_train_mode

    folder = work_dir / "paper-tokenizer"
    if not (folder / "tokenizer.json").is_file():
        write_tiny_tokenizer(folder, vocab_size=min(512, shapes.llm_vocab))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    config = LlamaConfig(
        hidden_size=shapes.llm_hidden,
        num_hidden_layers=shapes.llm_layers,
        num_attention_heads=shapes.llm_heads,
        num_key_value_heads=shapes.llm_kv_heads,
        intermediate_size=shapes.llm_intermediate,
        vocab_size=shapes.llm_vocab,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    llm = HFCausalLM(model, tokenizer)
    llm.model = apply_train_mode(llm.model, "lora", lora, where="llm")
    return llm


def paper_recipe(path: str | Path | None = None) -> Any:
    """The validated recipe (default: the shipped ``recipes/usam/paper.yaml``); no weights are read."""
    from ..config.loader import load_recipe

    if path is None:
        from usam_plugins.recipe_dirs import shipped_recipes_dir

        shipped = shipped_recipes_dir()
        if shipped is None:
            raise ConfigError(
                "bench: no recipes/ folder beside the installed toolkit; pass the paper recipe's path"
            )
        path = shipped / "usam" / "paper.yaml"
    return load_recipe(path)


def build_paper_model(
    device: str = "cuda",
    dtype: torch.dtype = torch.bfloat16,
    shapes: PaperShapes | None = None,
    work_dir: str | Path = ".",
    recipe: Any = None,
) -> Any:
    """An :class:`~usam_toolkit.model.audio_llm.AudioLLM` of the paper's shapes with random weights.

    ``AudioLLM.from_recipe`` on the recipe, with its encoder and LLM slots built by ``builders`` at the
    paper's shapes from their configs (no checkpoint files); tasks, fusion, projectors, ``audio_norm``,
    losses and every connecting width come from the recipe through the registry, as for any run, and the
    LLM's LoRA settings from its ``llm.lora``.

    Args:
        device: where the weights are created (``cuda``; ``meta`` to count parameters without memory;
            ``cpu`` with ``PaperShapes.scaled()`` for tests).
        dtype: the LLM's parameter dtype (bf16, as the paper recipe's ``llm.dtype``); encoders, projectors
            and losses stay fp32 and run under bf16 autocast, as the trainer's ``precision: bf16`` does.
        shapes: depths and widths (default: the paper's).
        work_dir: where the tiny tokenizer is written.
        recipe: a loaded recipe or its path (default: the shipped ``recipes/usam/paper.yaml``); its
            encoders must be among whisper, ced and mert.
    """
    from omegaconf import OmegaConf

    from ..model.audio_llm import AudioLLM
    from ..model.lora import LoraSettings

    cfg = recipe if recipe is not None and not isinstance(recipe, (str, Path)) else paper_recipe(recipe)
    shapes = shapes or PaperShapes()
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    makers = {"whisper": _whisper, "ced": _ced, "mert": _mert}

    def encoder(i: int) -> Any:
        def build(fields: dict[str, Any], ctx: Any) -> Any:
            name = str(fields["name"])
            if name not in makers:
                raise ConfigError(
                    f"bench: encoders[{i}] is '{name}'; the paper shapes exist for {', '.join(makers)}"
                )
            # CED computes its mel filterbank with .item() calls, which the meta device cannot do
            where = "cpu" if name == "ced" and torch.device(device).type == "meta" else device
            with torch.device(where):
                return makers[name](shapes).to(device)

        return build

    def llm(fields: dict[str, Any], ctx: Any) -> Any:
        lora = OmegaConf.to_container(OmegaConf.create(dict(fields.get("lora") or {})))
        with _default_dtype(dtype):
            return _llm(shapes, work, LoraSettings(**lora))  # type: ignore[arg-type]

    builders = {f"encoders[{i}]": encoder(i) for i in range(len(cfg.encoders))}
    builders["llm"] = llm
    torch.manual_seed(0)
    # Everything else (tasks, fusion, projector chain, audio_norm, losses) is the recipe's, built as any run.
    with torch.device(device):
        model = AudioLLM.from_recipe(cfg, device=device, builders=builders)
    return model


def check_cuda(device: str, min_gib: float = 75.0) -> None:
    """Raise :class:`ConfigError` unless ``device`` is a CUDA device with about 80 GB."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise ConfigError(
            f"bench: {PAPER_NEEDS} (device '{device}', CUDA available: {torch.cuda.is_available()})"
        )
    total = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
    if total < min_gib:
        raise ConfigError(f"bench: {PAPER_NEEDS}; {torch.cuda.get_device_name(device)} has {total:.0f} GiB")


def run_paper_bench(
    device: str,
    out: Path,
    quick: bool = False,
    log: Callable[[str], None] = print,
    batch: int = 64,
    micro_batch: int = 8,
    clip_seconds: float = 10.0,
) -> dict[str, Any]:
    """Step time, MFU and peak memory of the paper-scale model at ``batch`` (``micro_batch`` x accumulation).

    Compares our encoding (variable length, batched) with the reference's (30 s Whisper input, one
    sample at a time) like the small profile, under bf16 autocast; writes the same report files.
    """
    check_cuda(device)
    import time

    from ..data.cache import CachedEncoder, FeatureCache
    from ..data.config import DataConfig
    from ..data.loader import build_dataloader
    from ..train.config import TrainConfig
    from ..train.optim import build_optimizer, build_scheduler
    from .results import attach_utilisation, baseline_ratios, machine_info, peak_bursts, write_results
    from .sections import feature_cache_epochs, make_batch, step_flops, train_throughput
    from .steps import encode_ours, encode_ours_nocache, encode_reference
    from .timing import memory_snapshot, reset_cuda_peak
    from .world import write_clips

    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "config": "paper",
        "quick": quick,
        "machine": machine_info(device),
        "profile": "paper shapes, random weights, bf16: Whisper-large-v2 + CED-base + "
        "MERT-330M encoders, window Q-Former + TAPM, Llama-3.1-8B shape with LoRA r=8",
    }
    log("[bench] building the paper-scale model (random weights)")
    reset_cuda_peak(device)
    t0 = time.perf_counter()
    model = build_paper_model(device, torch.bfloat16, work_dir=out / "paper-model")
    results["build_seconds"] = time.perf_counter() - t0
    results["parameters"] = model.parameter_summary()
    cache = FeatureCache(out / "feature_cache")
    for i, enc in enumerate(model.encoders):
        model.encoders[i] = CachedEncoder(enc, cache)
    results["cache_wired"] = all(getattr(e, "accepts_hashes", False) for e in model.encoders)

    world = out / "world"
    n_clips = micro_batch * 2
    train = write_clips(world, "train", [clip_seconds] * n_clips, seed=0)
    data_cfg = DataConfig(train=[str(train)], batch_seconds=1e6, max_batch_size=batch)
    loader, _ = build_dataloader(
        [train], model.sample_rates, model.tasks, data_cfg, train=True, task_names=model.task_names
    )
    dataset, collate = loader.dataset, loader.collate_fn
    accumulation = max(1, batch // micro_batch)
    train_cfg = TrainConfig(lr=5e-5, warmup_ratio=0.0, max_steps=100000)

    def make_opt() -> tuple[Any, Any]:
        opt = build_optimizer(model, train_cfg)
        return opt, build_scheduler(opt, train_cfg)

    def reference(m: Any, b: Any) -> Any:
        return encode_reference(m, b, (0,), 30.0)

    def autocast() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16)

    log("[bench] FLOPs of one micro-batch")
    one = make_batch(dataset, collate, list(range(micro_batch)), device)
    with autocast():
        flops = {
            "ours": step_flops(model, one, encode_ours_nocache, make_opt),
            "reference": step_flops(model, one, reference, make_opt),
        }
    for key in ("ours", "reference"):  # a step is `accumulation` micro-batches
        flops[key] = {k: v * accumulation for k, v in flops[key].items()}
    flops.update(
        batch_size=micro_batch * accumulation,
        audio_seconds=one.audio_seconds * accumulation,
        method="FlopCounterMode on one micro-batch forward + backward, times the accumulation",
    )
    results["flops"] = flops

    log(f"[bench] training: batch {batch} = {micro_batch} x {accumulation} accumulation")
    with torch.no_grad():
        encode_ours(model, one)
    bursts = peak_bursts(device, 4.0)  # fp32 and bf16 peaks (MFU is given against each and the best)
    steps = 1 if quick else 3
    variants = {
        "ours_cached": ("ours: variable length, batched, cache warm", encode_ours),
        "ours_no_cache": ("ours: variable length, batched, no cache", encode_ours_nocache),
        "reference": (
            "reference: batch of 1 through the encoders, Whisper padded to 30 s, no cache",
            reference,
        ),
    }
    runs = train_throughput(
        model,
        dataset,
        collate,
        make_opt,
        variants,
        batch_size=micro_batch,
        steps=steps,
        device=device,
        autocast=autocast(),
        accumulation=accumulation,
        between=lambda: bursts.extend(peak_bursts(device, 2.0)),
    )
    for run in runs.values():
        run["precision"] = "bf16"  # LLM weights in bf16, everything under bf16 autocast
    results["matmul_peak"] = attach_utilisation(runs, flops, bursts)
    results["training"] = runs
    results["baseline_ratio"] = baseline_ratios(runs)
    log("[bench] feature cache epochs")
    with autocast():
        results["feature_cache"] = feature_cache_epochs(
            model, dataset, collate, batch_size=micro_batch, device=device
        )
    results["memory"] = memory_snapshot(device)
    results["total_seconds"] = time.perf_counter() - t_start
    return write_results(results, out)
