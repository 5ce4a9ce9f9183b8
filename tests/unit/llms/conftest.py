"""Shared tiny causal LMs for the ``hf_causal_lm`` tests (written once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random Llama folders: default (BOS added, own pad), no pad token, no BOS."""
    from usam_plugins.llms.tiny import write_tiny_causal_lm

    root = tmp_path_factory.mktemp("tiny_llms")
    return {
        "default": write_tiny_causal_lm(root / "default"),
        "nopad": write_tiny_causal_lm(root / "nopad", with_pad=False),
        "nobos": write_tiny_causal_lm(root / "nobos", add_bos=False),
    }


@pytest.fixture(scope="session")
def make_llm(tiny_folders: dict[str, Path]) -> Callable[..., Any]:
    """``make_llm(which="default", **config_fields)`` builds ``hf_causal_lm`` through its real loader."""
    from usam_plugins.llms.configs import HFCausalLMConfig
    from usam_plugins.llms.hf_causal_lm import build_hf_causal_lm

    from usam_toolkit.interfaces import BuildContext

    def make(which: str = "default", **fields: Any) -> Any:
        torch.manual_seed(0)
        cfg = HFCausalLMConfig(path=str(tiny_folders[which]), **fields)
        llm = build_hf_causal_lm(cfg, BuildContext(cache_dir=tiny_folders[which].parent / "cache"))
        return llm.eval()

    return make


@pytest.fixture(scope="session")
def tiny_llm(make_llm: Callable[..., Any]) -> Any:
    """The default tiny LLM in ``lora`` mode (do not modify it in tests)."""
    return make_llm()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matrices run fastest on one thread; oversubscribed threads on a busy machine cost 10x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
