"""``AudioLLM.from_recipe(builders=...)``: one slot built by the caller (random weights of a checkpoint's
shape, as the paper bench does), everything else and all wiring from the recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from usam_toolkit.errors import ConfigError


@pytest.fixture
def smoke_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from usam_toolkit.config.loader import load_recipe
    from usam_toolkit.mini.smoke import SMOKE_RECIPE, write_smoke_world

    monkeypatch.setenv("USAM_SMOKE_DIR", str(write_smoke_world(tmp_path / "smoke")))
    return load_recipe(SMOKE_RECIPE)


def test_a_builder_replaces_one_slot_and_the_chain_is_wired_to_its_width(smoke_cfg) -> None:
    from usam_plugins.encoders.configs import ConvTransformerConfig
    from usam_plugins.encoders.conv_transformer import ConvTransformerEncoder

    from usam_toolkit.model.audio_llm import AudioLLM

    seen = {}

    def wide_encoder(fields, ctx):
        seen["fields"] = fields
        # The recipe's encoder 0 is 16 wide; this one is 24, so fusion must come out at 24 + 8.
        config = {k: v for k, v in fields.items() if k != "name"}
        return ConvTransformerEncoder(ConvTransformerConfig(**{**config, "dim": 24}))

    model = AudioLLM.from_recipe(smoke_cfg, builders={"encoders[0]": wide_encoder})
    assert seen["fields"]["name"] == "conv_transformer" and seen["fields"]["dim"] == 16
    assert model.encoders[0].output_dim == 24
    assert model.fusion.output_dim == 24 + 8
    assert model.projectors[0].input_dim == 24 + 8
    where = {p["slot"]: p for p in model.provenance()}
    assert where["encoders[0]"]["plugin"] == "override"
    assert where["encoders[1]"]["plugin"] != "override"


def test_a_builder_for_a_slot_the_recipe_lacks_is_refused(smoke_cfg) -> None:
    from usam_toolkit.model.audio_llm import AudioLLM

    with pytest.raises(ConfigError, match=r"encoders\[5\]"):
        AudioLLM.from_recipe(smoke_cfg, builders={"encoders[5]": lambda fields, ctx: None})
