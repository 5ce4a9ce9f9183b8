"""The plugin contract, end to end: a third-party package installed into a temporary path appears in
``usam list-plugins``, is used from a recipe, and a package whose import raises is reported, not fatal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install both test plugin packages (no deps) into a fresh folder, as pip would for a user."""
    target = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("src")
    for pkg in ("usam-example-plugin", "usam-broken-plugin"):
        # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
        shutil.copytree(HERE / pkg, sources / pkg)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--target",
                str(target),
                str(sources / pkg),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return target


def _usam(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    if "USAM_STRICT_PLUGINS" not in env:
        environ.pop("USAM_STRICT_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", "usam_toolkit", *args], capture_output=True, text=True, env=environ
    )


def test_installed_plugin_is_listed_and_broken_one_is_a_warning(site: Path) -> None:
    res = _usam(site, "list-plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    mine = [r for r in rows if r["name"] == "frame_energy"]
    assert mine == [
        {
            "kind": "encoders",
            "name": "frame_energy",
            "aliases": ["energy"],
            "plugin": "example",
            "distribution": "usam-example-plugin",
            "version": "0.3.1",
            "doc": (
                "Log energy + zero-crossing rate per frame, randomly projected (a toy third-party encoder)."
            ),
            "missing_requirements": [],
            "status": "ok",
        }
    ]
    failed = [r for r in rows if r["status"] == "failed"]
    assert [(r["plugin"], r["distribution"], r["version"]) for r in failed] == [
        ("broken", "usam-broken-plugin", "9.9.9")
    ]
    assert "imaginary_dep" in failed[0]["doc"]
    assert "plugin 'broken' from usam-broken-plugin 9.9.9 failed at import" in res.stderr
    table = _usam(site, "list-plugins")
    assert "frame_energy" in table.stdout and "failed" in table.stdout


def test_strict_mode_turns_the_broken_plugin_into_an_error(site: Path) -> None:
    res = _usam(site, "list-plugins", USAM_STRICT_PLUGINS="1")
    assert res.returncode == 2 and "usam-broken-plugin" in res.stderr


def test_plugin_is_usable_from_a_recipe_and_passes_conformance(site: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "third_party.yaml"
    recipe.write_text(
        "# usam validate third_party.yaml\n"
        "base: mini/smoke.yaml\n"
        "encoders:\n  - {name: energy, dim: 4, hop_ms: 10}\n"
    )
    res = _usam(site, "validate", str(recipe), "--print")
    assert res.returncode == 0, res.stderr
    assert "name: energy" in res.stdout and "hop_ms: 10" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: mini/smoke.yaml\nencoders:\n  - {name: energy, hop: 10}\n")
    res = _usam(site, "validate", str(bad))
    assert res.returncode == 1 and "Did you mean 'hop_ms'?" in res.stderr
    code = (
        "import pathlib, sys\n"
        "from usam_toolkit.testing import check_component\n"
        "check_component('encoders', 'frame_energy', pathlib.Path(sys.argv[1]))\n"
        "print('conformant')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert res.returncode == 0 and "conformant" in res.stdout, res.stderr
