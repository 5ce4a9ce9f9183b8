"""A tiny random causal LM written in the real Hugging Face format (for examples, tests and smoke runs).

The folder holds ``config.json`` + ``model.safetensors`` (a Llama with random weights) and a byte-level
BPE tokenizer trained offline on a few sentences, so it loads through ``AutoModelForCausalLM`` /
``AutoTokenizer`` exactly like a real checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DEFAULT_TEXTS: tuple[str, ...] = (
    "transcribe the speech into text",
    "translate the speech into french",
    "describe the sound you hear",
    "describe the music in one sentence",
    "a dog barks while a car passes by",
    "the quick brown fox jumps over the lazy dog",
    "hello world, this is a tiny model",
    "bonjour le monde, ceci est un petit modele",
    "<a> </a> say hi there",
)

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"


def write_tiny_tokenizer(
    folder: Path,
    vocab_texts: Sequence[str] = DEFAULT_TEXTS,
    vocab_size: int = 320,
    add_bos: bool = True,
    with_pad: bool = True,
) -> Path:
    """Train a byte-level BPE tokenizer on ``vocab_texts`` and save it as a ``PreTrainedTokenizerFast``.

    Args:
        folder: output folder (created).
        vocab_texts: sentences the BPE merges are learnt from; any text still encodes (byte level).
        vocab_size: target vocabulary size (at least the 256 bytes + special tokens).
        add_bos: whether the tokenizer's post-processor prepends ``<s>`` (like Llama's tokenizers).
        with_pad: whether a ``<pad>`` token is declared; False mimics models shipped without one.

    Returns:
        ``folder``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = [BOS, EOS, UNK] + ([PAD] if with_pad else [])
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(vocab_texts), trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    kwargs = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK}
    if with_pad:
        kwargs["pad_token"] = PAD
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    fast.save_pretrained(str(folder))
    return folder


def write_tiny_causal_lm(
    folder: Path,
    vocab_texts: Sequence[str] = DEFAULT_TEXTS,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
    add_bos: bool = True,
    with_pad: bool = True,
) -> Path:
    """Write a tiny random Llama causal LM + tokenizer to ``folder`` (safetensors, HF layout).

    Args:
        folder: output folder (created).
        vocab_texts: sentences for the tokenizer's BPE merges.
        hidden: hidden width D.
        layers: decoder layers.
        heads: attention heads (``hidden`` must be divisible by it).
        seed: torch seed of the random weights.
        add_bos: tokenizer prepends ``<s>``.
        with_pad: tokenizer declares a pad token.

    Returns:
        ``folder``, loadable with ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer``.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    write_tiny_tokenizer(folder, vocab_texts, add_bos=add_bos, with_pad=with_pad)
    tok = AutoTokenizer.from_pretrained(str(folder))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        # a larger init than the default 0.02 gives peaked logits, so greedy ties cannot hide bugs
        initializer_range=0.2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder
