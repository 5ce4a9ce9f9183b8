"""Plugins that fail on import, at registration or when a recipe builds their component are reported
with their name and distribution, and every other plugin keeps working: through ``usam list-plugins``,
``AudioLLM.from_recipe`` and ``usam train``. The three plugins are installed the way pip would leave
them (a ``*.dist-info`` with ``entry_points.txt`` on ``sys.path``), written by the test."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest

from usam_toolkit.cli import main as usam
from usam_toolkit.errors import PluginError
from usam_toolkit.mini.smoke import SMOKE_RECIPE

DIST, VERSION = "usam-faulty-plugins", "1.2.0"

MODULES = {
    "faulty_import_plugin": "raise ImportError('no module named imaginary_dependency')\n",
    "faulty_register_plugin": textwrap.dedent("""
        from usam_toolkit.hookspecs import hookimpl

        @hookimpl
        def usam_register_encoders(register):
            raise RuntimeError("registration exploded")
    """),
    "faulty_build_plugin": textwrap.dedent("""
        from dataclasses import dataclass, field
        from typing import List
        from usam_toolkit.hookspecs import hookimpl

        @dataclass
        class ExplodingConfig:
            sample_rate: int = 16000
            n_mels: int = 40
            strides: List[int] = field(default_factory=lambda: [2])
            dim: int = 16
            layers: int = 1
            heads: int = 2
            seed: int = 0

        def build_exploding(cfg, ctx):
            raise RuntimeError("the build exploded")

        def example(tmp_dir):
            return {}

        @hookimpl
        def usam_register_encoders(register):
            register("exploding", build_exploding, ExplodingConfig, example=example)
    """),
}
NAMES = {"faulty_import_plugin": "imp", "faulty_register_plugin": "reg", "faulty_build_plugin": "bld"}


@pytest.fixture
def faulty_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rel_world: Path):
    site = tmp_path / "site"
    site.mkdir()
    for mod, text in MODULES.items():
        (site / f"{mod}.py").write_text(text)
    info = site / f"{DIST.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n")
    (info / "entry_points.txt").write_text(
        "[usam_toolkit]\n" + "".join(f"{NAMES[m]} = {m}\n" for m in MODULES)
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("USAM_SMOKE_DIR", str(rel_world))
    monkeypatch.delenv("USAM_STRICT_PLUGINS", raising=False)
    from usam_toolkit import plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = plugins.load_registry()
    plugins.reset_registry(registry)
    yield registry, [str(w.message) for w in caught]
    plugins.reset_registry(None)


def test_import_and_registration_failures_are_named_and_the_rest_loads(faulty_site, capsys) -> None:
    registry, messages = faulty_site
    failed = {(f.plugin, f.distribution, f.version, f.stage) for f in registry.failures}
    assert ("imp", DIST, VERSION, "import") in failed
    assert ("reg", DIST, VERSION, "register") in failed
    for name in ("imp", "reg"):
        assert any(f"plugin '{name}' from {DIST} {VERSION} failed" in m for m in messages)
    assert registry.get("encoders", "exploding", "test").provider.distribution == DIST
    assert registry.get("encoders", "conv_transformer", "test")  # built-ins untouched
    assert usam(["list-plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["plugin"], r["status"]) for r in rows if r["distribution"] == DIST} >= {
        ("imp", "failed"),
        ("reg", "failed"),
        ("bld", "ok"),
    }


def test_build_failure_names_slot_component_plugin_and_distribution(faulty_site) -> None:
    from usam_toolkit.config.loader import load_recipe
    from usam_toolkit.model.audio_llm import AudioLLM

    registry, _ = faulty_site
    cfg = load_recipe(SMOKE_RECIPE, ["encoders.0.name=exploding"], registry=registry)
    with pytest.raises(PluginError) as info:
        AudioLLM.from_recipe(cfg, registry=registry)
    msg = str(info.value)
    assert "encoders[0]" in msg and "'exploding'" in msg and DIST in msg and VERSION in msg
    assert "the build exploded" in msg
    # The same registry still builds the recipe without the broken component.
    model = AudioLLM.from_recipe(load_recipe(SMOKE_RECIPE, registry=registry), registry=registry)
    assert model.sample_rates


def test_usam_train_reports_a_build_failure_in_one_line(faulty_site, tmp_path: Path, capsys) -> None:
    rc = usam(
        [
            "train",
            str(SMOKE_RECIPE),
            "encoders.0.name=exploding",
            "--out",
            str(tmp_path / "run"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error: ")]
    assert rc == 2 and len(lines) == 1, err[-2000:]
    assert "'exploding'" in lines[0] and f"{DIST} {VERSION}" in lines[0] and "the build exploded" in lines[0]
    assert "Traceback" not in err
