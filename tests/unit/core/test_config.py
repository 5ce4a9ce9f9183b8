"""Recipe loading: merge order, struct mode with file:line errors, slot rules, overrides, resolvers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from usam_toolkit.config.loader import compose, load_recipe, recipe_path
from usam_toolkit.errors import ConfigError, UnknownComponentError
from usam_toolkit.registry import Provider, Registry


@dataclass
class EncCfg:
    layer: int = -1
    path: str | None = None


@dataclass
class OtherEncCfg:
    depth: int = 2


@dataclass
class LlmCfg:
    path: str = "x"
    rank: int = 8


@dataclass
class LossCfg:
    margin: float = 0.2


def _registry() -> Registry:
    reg = Registry()
    p = Provider("test", "test", "0")
    reg.register_fn("encoders", p)("whisper", lambda c, x: c, EncCfg)
    reg.register_fn("encoders", p)("tiny", lambda c, x: c, OtherEncCfg)
    reg.register_fn("llms", p)("hf_causal_lm", lambda c, x: c, LlmCfg)
    reg.register_fn("losses", p)("saclm", lambda c, x: c, LossCfg)
    return reg


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BASE = """\
experiment: base
encoders:
  - {name: whisper, layer: -2}
llm: {name: hf_causal_lm, path: base.bin, rank: 4}
losses:
  - {name: saclm, weight: 0.5, margin: 0.3}
train: {lr: 1.0e-4, max_steps: 10}
"""


def test_merge_order_schema_base_recipe_cli(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", BASE)
    recipe = _write(tmp_path / "r.yaml", "base: base.yaml\nexperiment: child\ntrain: {max_steps: 20}\n")
    cfg = load_recipe(recipe, ["train.max_steps=30", "llm.rank=16"], registry=_registry())
    assert cfg.experiment == "child"  # recipe over base
    assert cfg.train.max_steps == 30  # CLI over recipe
    assert cfg.train.lr == 1e-4  # base over schema
    assert cfg.train.weight_decay == 1e-6  # schema default (paper)
    assert cfg.llm.rank == 16 and cfg.llm.path == "base.bin"
    assert cfg.output_dir == "runs/child"  # interpolation resolved after merging
    assert recipe_path(cfg) == recipe.resolve()


def test_unknown_top_level_key_names_file_line_and_valid_keys(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", "experiment: x\n\nencoderz: []\n")
    with pytest.raises(ConfigError) as err:
        compose(recipe)
    msg = str(err.value)
    assert msg.startswith(f"{recipe.resolve()}:3: 'encoderz' is not a key of a recipe.")
    assert "Did you mean 'encoders'?" in msg and "Valid keys: experiment," in msg


def test_misspelled_section_key_names_line_and_valid_keys(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", "train:\n  lr: 1.0\n  wieght_decay: 0.1\n")
    with pytest.raises(ConfigError) as err:
        compose(recipe)
    msg = str(err.value)
    assert f"{recipe.resolve()}:3: 'train.wieght_decay' is not a key of section 'train'." in msg
    assert "Did you mean 'weight_decay'?" in msg and "warmup_ratio" in msg


def test_misspelled_slot_field_lists_plugin_fields(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", BASE)
    recipe = _write(tmp_path / "r.yaml", "base: base.yaml\nllm: {rnak: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(recipe, registry=_registry())
    assert (
        "llm: 'rnak' is not a field of llm 'hf_causal_lm'. Did you mean 'rank'? Valid fields: path, rank."
        in str(err.value)
    )


def test_unknown_component_gets_did_you_mean(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", "encoders: [{name: whisperr}]\nllm: {name: hf_causal_lm}\n")
    with pytest.raises(
        UnknownComponentError, match=r"encoders\[0\]: unknown encoder 'whisperr'. Did you mean 'whisper'"
    ):
        load_recipe(recipe, registry=_registry())


def test_changing_a_slot_name_replaces_the_slot(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", "encoders: []\nllm: {name: hf_causal_lm, path: a, rank: 4}\n")
    recipe = _write(
        tmp_path / "r.yaml", "base: base.yaml\nencoders: [{name: tiny}]\nllm: {name: hf_causal_lm}\n"
    )
    cfg = load_recipe(recipe, registry=_registry())
    assert cfg.llm.rank == 4  # same name: merged
    reg = _registry()
    reg.register_fn("llms", Provider("t", "t", "0"))("other_lm", lambda c, x: c, LossCfg)
    cfg2 = load_recipe(recipe, ["llm.name=other_lm"], registry=reg)
    assert dict(cfg2.llm) == {"name": "other_lm"}  # stale path/rank dropped, not merged
    child = _write(
        tmp_path / "c.yaml", "base: base.yaml\nencoders: [{name: tiny}]\nllm: {name: other_lm, margin: 1.0}\n"
    )
    assert dict(load_recipe(child, registry=reg).llm) == {"name": "other_lm", "margin": 1.0}


def test_list_item_override_and_bad_override(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", BASE)
    recipe = _write(tmp_path / "r.yaml", "base: base.yaml\n")
    cfg = load_recipe(recipe, ["encoders.0.layer=5", "losses.0.weight=0.25"], registry=_registry())
    assert cfg.encoders[0].layer == 5 and cfg.losses[0].weight == 0.25
    with pytest.raises(ConfigError, match="expected key=value"):
        compose(recipe, ["train.lr"])
    with pytest.raises(ConfigError, match="override 'trian.lr': unknown key 'trian'. Did you mean 'train'"):
        compose(recipe, ["trian.lr=1"])
    with pytest.raises(ConfigError, match="override 'train.lr=abc'"):
        compose(recipe, ["train.lr=abc"])


def test_base_cycle_and_missing_base(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="forms a cycle"):
        compose(tmp_path / "a.yaml")
    _write(tmp_path / "c.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="base recipe 'nowhere.yaml' not found"):
        compose(tmp_path / "c.yaml")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", "experiment: x\ntrain: {lr: 1\n")
    with pytest.raises(ConfigError, match=r"r.yaml:\d+: invalid YAML"):
        compose(recipe)


def test_env_resolver_works_and_no_code_resolvers_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAM_TEST_CKPT", "/models/llama")
    _write(tmp_path / "base.yaml", BASE)
    recipe = _write(tmp_path / "r.yaml", "base: base.yaml\nllm: {path: '${oc.env:USAM_TEST_CKPT}'}\n")
    assert load_recipe(recipe, registry=_registry()).llm.path == "/models/llama"
    evil = _write(tmp_path / "e.yaml", 'base: base.yaml\nexperiment: "${eval:os.getcwd}"\n')
    with pytest.raises(ConfigError, match="cannot resolve 'experiment'.*Unsupported interpolation type eval"):
        load_recipe(evil, registry=_registry())


def test_recipe_without_encoders_or_llm_is_rejected(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", "llm: {name: hf_causal_lm}\n")
    with pytest.raises(ConfigError, match="'encoders' is empty"):
        load_recipe(recipe, registry=_registry())
