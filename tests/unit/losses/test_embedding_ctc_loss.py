"""embedding_ctc: CTC of audio tokens against the LLM's embeddings of the transcript, values by hand."""

from __future__ import annotations

import math

import pytest
import torch
from usam_plugins.losses.configs import EmbeddingCTCConfig
from usam_plugins.losses.embedding_ctc import build_embedding_ctc

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, LLMOutput, LossInputs

E = torch.tensor([1.0, 0.0])  # the LLM's embedding of token 7
BLANK = torch.tensor([0.0, 1.0])
CTX = BuildContext(llm_dim=2, task_names=("asr", "aac"))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def one_token_inputs(audio: torch.Tensor, task_ids: list[int]) -> LossInputs:
    """Every sample's target is token 7 (then EOS 2); labels ignore the prompt and audio positions."""
    b = audio.shape[0]
    labels = torch.tensor([[-100, -100, 7, 2]] * b)
    text = E.expand(b, 1, 2).clone().requires_grad_(True)
    llm = LLMOutput(
        torch.zeros(b, 4, 9),
        labels,
        audio,
        torch.full((b,), audio.shape[1]),
        text,
        torch.ones(b, dtype=torch.long),
    )
    return LossInputs(llm, task_ids=torch.tensor(task_ids))


def loss_module():  # type: ignore[no-untyped-def]
    loss = build_embedding_ctc(EmbeddingCTCConfig(tasks=["asr"], scale=2.0), CTX)
    with torch.no_grad():
        loss.blank.copy_(BLANK)
    return loss


def test_one_frame_on_the_token() -> None:
    # logits 2·cos: blank 0, token 2 -> loss = −log σ(2) over a target of length 1
    out = loss_module()(one_token_inputs(E.view(1, 1, 2).clone(), [0]))
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-4)
    assert out.logs["vocab"] == 1.0 and out.logs["samples"] == 1.0


def test_two_frames_sum_the_three_alignments() -> None:
    # frame 1 on the token, frame 2 on blank: p(k,k) + p(b,k) + p(k,b) = p2k·(p1k + p1b) + p1k·p2b
    audio = torch.stack([E, BLANK])[None]
    out = loss_module()(one_token_inputs(audio, [0]))
    hi, lo = sigmoid(2.0), sigmoid(-2.0)
    assert out.loss.item() == pytest.approx(-math.log(lo * (hi + lo) + hi * hi), rel=1e-4)


def test_only_the_named_tasks_take_part_and_text_gets_no_gradient() -> None:
    loss = loss_module()
    audio = torch.stack([E.view(1, 2), BLANK.view(1, 2)]).requires_grad_(True)  # sample 1 is aac
    inputs = one_token_inputs(audio, [0, 1])
    out = loss(inputs)
    assert out.logs["samples"] == 1.0
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-4)
    out.loss.backward()
    assert inputs.llm.text_embeds.grad is None
    assert audio.grad is not None and torch.all(audio.grad[1] == 0)
    # no asr sample: a zero still connected to the loss's parameters
    none = loss(one_token_inputs(torch.ones(1, 1, 2), [1]))
    assert none.loss.item() == 0.0 and none.loss.requires_grad and none.logs["samples"] == 0.0


def test_config_errors_name_the_valid_tasks() -> None:
    with pytest.raises(ConfigError, match="valid: asr, aac"):
        build_embedding_ctc(EmbeddingCTCConfig(tasks=["mc"]), CTX)
    with pytest.raises(ConfigError, match="scale"):
        build_embedding_ctc(EmbeddingCTCConfig(scale=0.0), CTX)
