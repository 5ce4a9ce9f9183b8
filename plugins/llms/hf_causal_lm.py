"""``hf_causal_lm``: any transformers causal LM reading audio tokens inside its input sequence.

Layout per sample (no inner padding)::

    [BOS?] prompt_left | audio rows (audio_lengths[b] of them) | prompt_right | target | EOS

- BOS: prepended exactly when the tokenizer itself prepends it to a plain encoding (its post-processor /
  ``add_bos_token`` setting, detected by encoding a probe string); ``add_bos`` in the config overrides.
- Pad token: the tokenizer's own; if it has none, the EOS token is used as pad (padding positions are never
  attended nor scored, since masks and labels are explicit, so no embedding resize is needed). A tokenizer
  without EOS is refused: every target ends with EOS.
- Labels follow the Hugging Face convention: ``labels[b, t]`` is the input token at ``t`` on target and EOS
  positions, -100 elsewhere; a loss predicts ``labels[:, 1:]`` from ``logits[:, :-1]`` (shift by one).
- Generation pads on the left, uses the KV cache, and returns only the new text with special tokens removed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, GenerationConfig, LLMOutput
from usam_toolkit.model.train_mode import LoraSettings, apply_train_mode

from .configs import HFCausalLMConfig
from .packing import IGNORE_INDEX, PackedBatch, pack, pad_rows

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
__all__ = ["HFCausalLM", "HFCausalLMConfig", "build_hf_causal_lm", "hf_causal_lm_example"]
STRATEGIES = ("greedy", "beam", "nucleus")
_BOS_PROBE = "a"


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` prepends its BOS token when encoding plain text with special tokens."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    with_special = tokenizer(_BOS_PROBE, add_special_tokens=True)["input_ids"]
    plain = tokenizer(_BOS_PROBE, add_special_tokens=False)["input_ids"]
    return len(with_special) > len(plain) and with_special[0] == bos


def ensure_pad_token(tokenizer: Any) -> str:
    """Give ``tokenizer`` a pad token; returns where it came from: "own" or "eos".

    Padding positions are never attended nor scored (masks and labels are explicit), so reusing EOS as
    the pad token is safe and avoids resizing the embeddings.

    Raises:
        ConfigError: the tokenizer has no EOS token (targets need one to mark their end).
    """
    if tokenizer.eos_token_id is None:
        raise ConfigError("llm: the tokenizer has no EOS token; targets need one to mark their end")
    if tokenizer.pad_token_id is not None:
        return "own"
    tokenizer.pad_token = tokenizer.eos_token
    return "eos"


class HFCausalLM(nn.Module):
    """A causal LM following :class:`usam_toolkit.interfaces.LanguageModel`.

    Attributes:
        model: the transformers causal LM (with LoRA adapters injected in ``lora`` mode).
        tokenizer: its tokenizer (with a pad token).
        hidden_size: D, width of the input embeddings.
        add_bos: whether BOS is prepended to ``prompt_left``.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        add_bos: bool | None = None,
        detach_prompt_embedding: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.pad_source = ensure_pad_token(tokenizer)
        self.add_bos = tokenizer_adds_bos(tokenizer) if add_bos is None else bool(add_bos)
        if self.add_bos and tokenizer.bos_token_id is None:
            raise ConfigError("llm.add_bos: true, but the tokenizer has no BOS token")
        self.detach_prompt_embedding = detach_prompt_embedding
        self.hidden_size = int(model.get_input_embeddings().embedding_dim)

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def embed_device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def embed_dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens."""
        if not len(texts):
            return []
        return [list(x) for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Input embeddings ``[n_i, D]`` of each id list (one embedding call for the whole batch)."""
        flat = torch.tensor([i for seq in ids for i in seq], dtype=torch.long, device=self.embed_device)
        emb = self.model.get_input_embeddings()(flat)
        return list(torch.split(emb, [len(s) for s in ids], dim=0))

    def _pieces(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        targets: Sequence[str] | None,
    ) -> tuple[list[list[torch.Tensor]], list[torch.Tensor], list[list[int]]]:
        bsz = audio_embeds.shape[0]
        if not (len(prompt_left) == len(prompt_right) == bsz == audio_lengths.shape[0]):
            raise ValueError(
                f"batch sizes differ: prompt_left {len(prompt_left)}, audio {bsz}, "
                f"audio_lengths {audio_lengths.shape[0]}, prompt_right {len(prompt_right)}"
            )
        if targets is not None and len(targets) != bsz:
            raise ValueError(f"batch sizes differ: {len(targets)} targets for {bsz} samples")
        left = self.token_ids(prompt_left)
        if self.add_bos:
            left = [[self.tokenizer.bos_token_id] + x for x in left]
        right = self.token_ids(prompt_right)
        target = self.token_ids(targets) if targets is not None else [[] for _ in range(bsz)]
        eos = [self.tokenizer.eos_token_id] if targets is not None else []
        target_full = [t + eos for t in target]
        emb = self.embed_ids(left + right + target_full)
        e_left, e_right, e_target = emb[:bsz], emb[bsz : 2 * bsz], emb[2 * bsz :]
        audio = audio_embeds.to(device=self.embed_device, dtype=self.embed_dtype)
        pieces, labels = [], []
        for b in range(bsz):
            n_audio = int(audio_lengths[b])
            pieces.append([e_left[b], audio[b, :n_audio], e_right[b], e_target[b]])
            n_prefix = len(left[b]) + n_audio + len(right[b])
            labels.append(
                torch.tensor(
                    [IGNORE_INDEX] * n_prefix + target_full[b], dtype=torch.long, device=self.embed_device
                )
            )
        return pieces, labels, target

    # --------------------------------------------------------------------------------------- interface
    def embedding_rms(self) -> float:
        """RMS of the input-embedding matrix: the scale of the text tokens beside the audio tokens."""
        with torch.no_grad():
            weight = self.model.get_input_embeddings().weight
            return float(weight.float().pow(2).mean().sqrt())

    def prompt_embedding(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` float32 mean of the input embeddings of each prompt's tokens
        (zeros for an empty prompt)."""
        ids = self.token_ids(prompts)
        rows = self.embed_ids(ids)
        out = (
            torch.stack([r.mean(dim=0) if r.shape[0] else r.new_zeros(self.hidden_size) for r in rows])
            if rows
            else torch.zeros(0, self.hidden_size, device=self.embed_device, dtype=self.embed_dtype)
        )
        # float32 whatever the LLM dtype: the router that reads it runs outside the LLM, in float32
        out = out.float()
        return out.detach() if self.detach_prompt_embedding else out

    def pack_inputs(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        targets: Sequence[str] | None = None,
        side: str = "right",
    ) -> PackedBatch:
        """Build the padded packed batch (right padding for training, left for generation).

        Args:
            prompt_left: ``B`` texts before the audio.
            audio_embeds: ``[B, T_a, D]``; rows at index >= ``audio_lengths[b]`` are ignored.
            audio_lengths: ``[B]`` valid audio rows.
            prompt_right: ``B`` texts after the audio.
            targets: ``B`` target texts (EOS appended), or None for generation.
            side: padding side.
        """
        pieces, labels, _ = self._pieces(prompt_left, audio_embeds, audio_lengths, prompt_right, targets)
        return pack(pieces, labels, side=side)

    def forward_packed(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        targets: Sequence[str],
    ) -> LLMOutput:
        """Teacher-forced pass; see the module docstring for the layout and the label convention.

        Args:
            prompt_left: ``B`` texts before the audio.
            audio_embeds: ``[B, T_a, D]`` projected audio tokens.
            audio_lengths: ``[B]`` valid audio tokens.
            prompt_right: ``B`` texts after the audio.
            targets: ``B`` target texts.

        Returns:
            :class:`LLMOutput` with ``logits`` ``[B, L, V]``, ``labels`` ``[B, L]``, ``text_embeds``
            ``[B, T_t, D]`` (input embeddings of the target tokens, EOS excluded, zero-padded) and
            ``text_lengths`` ``[B]``, ``audio_embeds`` / ``audio_lengths`` as given, and the last hidden
            state ``[B, L, D]``.
        """
        pieces, labels, target_ids = self._pieces(
            prompt_left, audio_embeds, audio_lengths, prompt_right, targets
        )
        batch = pack(pieces, labels, side="right")
        out = self.model(
            inputs_embeds=batch.embeds,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
            output_hidden_states=True,
        )
        text_rows = [p[3][: len(t)] for p, t in zip(pieces, target_ids)]
        text_embeds, text_lengths = pad_rows(text_rows, self.hidden_size, batch.embeds)
        return LLMOutput(
            logits=out.logits,
            labels=batch.labels,
            audio_embeds=audio_embeds,
            audio_lengths=audio_lengths,
            text_embeds=text_embeds,
            text_lengths=text_lengths,
            hidden_states=out.hidden_states[-1],
        )

    def _hf_generation_config(self, config: GenerationConfig) -> Any:
        from transformers import GenerationConfig as HFGenerationConfig

        if config.strategy not in STRATEGIES:
            raise ConfigError(
                f"generation.strategy: '{config.strategy}' is not valid; choose one of {STRATEGIES}"
            )
        if config.max_new_tokens < 1:
            raise ConfigError(f"generation.max_new_tokens must be >= 1, got {config.max_new_tokens}")
        # stop on the EOS that ends every training target, plus any the model's own config declares
        declared = self.model.generation_config.eos_token_id
        declared = [] if declared is None else [declared] if isinstance(declared, int) else list(declared)
        eos = [self.tokenizer.eos_token_id] + [i for i in declared if i != self.tokenizer.eos_token_id]
        beam = config.strategy == "beam"
        sample = config.strategy == "nucleus"
        return HFGenerationConfig(
            max_new_tokens=int(config.max_new_tokens),
            do_sample=sample,
            num_beams=int(config.num_beams) if beam else 1,
            length_penalty=float(config.length_penalty) if beam else None,
            early_stopping=True if beam else None,
            top_p=float(config.top_p) if sample else None,
            top_k=0 if sample else None,  # pure nucleus: no hidden top-k cut
            temperature=float(config.temperature) if sample else None,
            repetition_penalty=float(config.repetition_penalty),
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.tokenizer.bos_token_id,
            use_cache=True,
        )

    @torch.no_grad()
    def generate_ids(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        config: GenerationConfig,
    ) -> torch.Tensor:
        """New token ids ``[B, N]`` (``N <= config.max_new_tokens``; finished rows padded with pad id).

        Left padding, KV cache. ``repetition_penalty`` acts on the tokens generated so far (the prompt is
        given as embeddings). Nucleus sampling is seeded with ``config.seed`` without touching the global
        RNG state.
        """
        gen = self._hf_generation_config(config)
        batch = self.pack_inputs(prompt_left, audio_embeds, audio_lengths, prompt_right, None, side="left")
        was_training = self.training
        self.eval()
        try:
            dev = self.embed_device
            devices = (
                [dev.index if dev.index is not None else torch.cuda.current_device()]
                if dev.type == "cuda"
                else []
            )
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(config.seed))
                with warnings.catch_warnings():
                    # documented above: the penalty sees generated tokens only
                    warnings.filterwarnings("ignore", message=".*repetition_penalty.*inputs_embeds.*")
                    # with only inputs_embeds, decoder-only generate returns just the new tokens
                    return self.model.generate(
                        inputs_embeds=batch.embeds, attention_mask=batch.attention_mask, generation_config=gen
                    )
        finally:
            self.train(was_training)

    def generate_packed(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        config: GenerationConfig,
    ) -> list[str]:
        """Decode each sample's continuation (see :meth:`generate_ids`); special tokens are stripped."""
        out = self.generate_ids(prompt_left, audio_embeds, audio_lengths, prompt_right, config)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def build_hf_causal_lm(cfg: HFCausalLMConfig, ctx: BuildContext) -> HFCausalLM:
    """Any transformers causal LM (HF folder, GGUF file or packaged model), frozen / LoRA / trainable."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .loading import resolve_model_folder

    if cfg.dtype not in DTYPES:
        raise ConfigError(f"llm.dtype: '{cfg.dtype}' is not valid; choose one of {', '.join(DTYPES)}")
    folder = resolve_model_folder(cfg, ctx, where="llm")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=DTYPES[cfg.dtype], local_files_only=True)
    lora = cfg.lora if isinstance(cfg.lora, LoraSettings) else LoraSettings(**dict(cfg.lora))
    llm = HFCausalLM(
        model, tokenizer, add_bos=cfg.add_bos, detach_prompt_embedding=cfg.detach_prompt_embedding
    )
    llm.model = apply_train_mode(llm.model, cfg.mode, lora, where="llm")
    if cfg.gradient_checkpointing:
        # transformers 5 renamed the switch; keep working with 4.x
        if hasattr(llm.model, "activation_checkpointing_enable"):
            llm.model.activation_checkpointing_enable(
                activation_checkpointing_kwargs={"use_reentrant": False}
            )
        else:
            llm.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return llm.to(ctx.device)


def hf_causal_lm_example(tmp_dir: Any) -> dict[str, Any]:
    """Config overrides building a tiny random Llama (hidden 32, 2 layers) written under ``tmp_dir``."""
    from pathlib import Path

    from .tiny import write_tiny_causal_lm

    folder = Path(tmp_dir) / "tiny_causal_lm"
    if not (folder / "config.json").is_file():
        write_tiny_causal_lm(folder)
    return {"path": str(folder), "mode": "lora"}
