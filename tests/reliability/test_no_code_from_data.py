"""No code runs from data: checkpoints, recipes and plugin weight files are loaded without executing
anything they contain. Every payload below would write a marker file; each test asserts it never did."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch
import yaml

from usam_toolkit.errors import ConfigError, UsamError
from usam_toolkit.train import checkpoint as ck

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = (REPO / "usam_toolkit", REPO / "plugins")


class _Payload:
    """Pickles to a call of ``os.system`` that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_pickle(path: Path, marker: Path, wrap=lambda p: {"state": p}) -> Path:
    torch.save(wrap(_Payload(marker)), path)
    return path


def _complete_checkpoint(out: Path) -> Path:
    return ck.save_checkpoint(
        out,
        2,
        model_state={"w": torch.ones(3)},
        optimizer_state={"state": {}},
        scheduler_state={},
        trainer_state={"step": 2},
    )


def test_payload_really_runs_when_unpickled_unsafely(tmp_path: Path) -> None:
    """The payload is live (so the tests below can fail): a plain unpickler executes it."""
    marker = tmp_path / "ran"
    f = _evil_pickle(tmp_path / "x.pt", marker)
    torch.load(f, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("name", [ck.OPTIMIZER_FILE, ck.SCHEDULER_FILE])
def test_malicious_optimizer_or_scheduler_state_is_refused(tmp_path: Path, name: str) -> None:
    ckpt = _complete_checkpoint(tmp_path / "run")
    marker = tmp_path / "pwned"
    _evil_pickle(ckpt / name, marker)
    with pytest.raises(Exception) as info:
        ck.load_state_file(ckpt, name)
    assert not marker.exists()
    assert isinstance(info.value, ck.CheckpointError), f"refused, but not with a clear error: {info.value!r}"
    assert name in str(info.value) and "weights_only" in str(info.value)


def test_trainer_loads_optimizer_state_only_through_the_safe_loader() -> None:
    trainer = (REPO / "usam_toolkit" / "train" / "trainer.py").read_text()
    assert "torch.load" not in trainer
    assert "load_state_file(resume_from, ckpt_io.OPTIMIZER_FILE)" in trainer


def test_pickle_posing_as_safetensors_is_refused(tmp_path: Path) -> None:
    ckpt = _complete_checkpoint(tmp_path / "run")
    marker = tmp_path / "pwned"
    _evil_pickle(ckpt / ck.MODEL_FILE, marker)
    from safetensors import SafetensorError

    with pytest.raises(SafetensorError):
        ck.load_model_state(ckpt)
    assert not marker.exists()


def test_malicious_bert_pytorch_model_bin_is_refused(tmp_path: Path) -> None:
    pytest.importorskip(
        "usam_plugins.projectors.bert_checkpoint", reason="usam_plugins.projectors (bert_checkpoint)"
    )
    from usam_plugins.projectors.bert_checkpoint import load_bert_checkpoint

    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 16}')
    marker = tmp_path / "pwned"
    _evil_pickle(folder / "pytorch_model.bin", marker)
    with pytest.raises(pickle.UnpicklingError):
        load_bert_checkpoint(folder, "projectors[0].bert")
    assert not marker.exists()


def test_malicious_sound_cnn_checkpoint_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("usam_plugins.encoders.sound_cnn", reason="usam_plugins.encoders (sound_cnn)")
    from usam_plugins.encoders.sound_cnn import read_checkpoint

    marker = tmp_path / "pwned"
    f = _evil_pickle(tmp_path / "checkpoint.pth", marker, wrap=lambda p: (p, {}))
    with pytest.raises(pickle.UnpicklingError):
        read_checkpoint(f)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------
# Source scan
# --------------------------------------------------------------------------------------------------
def _sources() -> list[Path]:
    return [
        p
        for d in SOURCE_DIRS
        for p in d.rglob("*")
        if p.is_file() and p.suffix in {".py", ".yaml", ".yml", ".json", ".toml", ".cfg"}
    ]


def test_no_trust_remote_code_anywhere_in_the_source() -> None:
    hits = [
        str(p.relative_to(REPO)) for p in _sources() if "trust_remote_code" in p.read_text(errors="replace")
    ]
    assert not hits, f"trust_remote_code appears in {hits}"


def test_every_torch_load_is_weights_only_and_no_unsafe_deserialiser() -> None:
    bad = []
    for p in _sources():
        if p.suffix != ".py":
            continue
        text = p.read_text(errors="replace")
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start() : text.find(")", text.find("\n", m.start())) + 1 or m.start() + 400]
            if "weights_only=True" not in text[m.start() : m.start() + 300]:
                bad.append(f"{p.relative_to(REPO)}: {call.strip()[:80]}")
        for pattern in (
            r"\bpickle\.loads?\(",
            r"\byaml\.load\(",
            r"yaml\.unsafe_load",
            r"yaml\.(Unsafe|Full)?Loader\b",
            r"(?<![.\w])eval\(",
            r"(?<![.\w])exec\(",
            r"weights_only=False",
            r"\bdill\b",
            r"\bjoblib\.load",
        ):
            for m in re.finditer(pattern, text):
                bad.append(f"{p.relative_to(REPO)}: {text[m.start() : m.start() + 60]!r}")
    assert not bad, "unsafe loading in the source:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# Recipes and resolvers
# --------------------------------------------------------------------------------------------------
def test_only_omegaconf_builtin_resolvers_after_loading_every_plugin() -> None:
    import importlib
    import pkgutil

    import usam_plugins
    from omegaconf.basecontainer import BaseContainer

    from usam_toolkit.plugins import load_registry

    registry = load_registry()
    for entry in (e for kind in registry.entries_by_kind for e in registry.entries_by_kind[kind].values()):
        importlib.import_module(entry.build_fn.__module__)  # the lazily imported component modules too
    for mod in pkgutil.walk_packages(usam_plugins.__path__, "usam_plugins."):
        try:
            importlib.import_module(mod.name)
        except ImportError:
            continue
    extra = sorted(k for k in BaseContainer._resolvers if not k.startswith("oc."))
    assert not extra, f"resolvers outside OmegaConf's oc.* set are registered: {extra}"


def _recipe(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "evil.yaml"
    p.write_text("experiment: evil\n" + body)
    return p


@pytest.mark.parametrize(
    "body",
    [
        "description: !!python/object/apply:os.system ['touch {marker}']\n",
        "description: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
        "vars: !!python/name:os.system\n",
    ],
)
def test_yaml_python_tags_in_a_recipe_are_refused(tmp_path: Path, body: str) -> None:
    from usam_toolkit.config.loader import load_recipe

    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError) as info:
        load_recipe(_recipe(tmp_path, body.format(marker=marker)))
    assert not marker.exists()
    assert "evil.yaml" in str(info.value)


def test_eval_resolver_in_a_recipe_is_refused(tmp_path: Path) -> None:
    from usam_toolkit.config.loader import load_recipe

    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    with pytest.raises(UsamError) as info:
        load_recipe(_recipe(tmp_path, f'description: "${{eval:{code}}}"\n'))
    assert not marker.exists()
    assert "eval" in str(info.value)


def test_python_tag_in_a_command_line_override_stays_a_string(tmp_path: Path) -> None:
    from usam_toolkit.config.loader import _parse_override

    marker = tmp_path / "pwned"
    try:
        _key, value = _parse_override(f"description=!!python/object/apply:os.system ['touch {marker}']")
    except UsamError:
        value = None
    assert not marker.exists()
    assert value is None or isinstance(value, str)


def test_python_tag_in_a_checkpoint_recipe_is_refused(tmp_path: Path) -> None:
    """``usam evaluate`` rebuilds a model from the checkpoint's own recipe.yaml: same safe loader."""
    ckpt = _complete_checkpoint(tmp_path / "run")
    marker = tmp_path / "pwned"
    (ckpt / ck.RECIPE_FILE).write_text(
        f"experiment: x\ndescription: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    from usam_toolkit.pipeline import load_for_evaluation

    with pytest.raises(UsamError):
        load_for_evaluation(ckpt, device="cpu")
    with pytest.raises(yaml.YAMLError):
        ck.read_recipe(ckpt)
    assert not marker.exists()
