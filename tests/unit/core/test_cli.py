"""The `usam` CLI: list-plugins JSON, validate errors, python -m equivalence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from usam_toolkit.cli import main


def test_list_plugins_json_is_valid_and_has_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all({"kind", "name", "distribution", "version", "status"} <= set(r) for r in rows)
    assert {r["kind"] for r in rows if r["status"] == "ok"} >= {"encoders", "projectors", "llms", "losses"}


def test_list_plugins_filters_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-plugins", "--kind", "losses", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["kind"] for r in rows} == {"losses"}


def test_validate_reports_misspelled_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("# usam validate bad.yaml\nbase: mini/smoke.yaml\ntrain:\n  max_stpes: 3\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{bad.resolve()}:4: 'train.max_stpes' is not a key of section 'train'. Did you mean 'max_steps'?"
        in err
    )
    assert "Valid keys: lr, weight_decay" in err


def test_validate_unknown_component_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: mini/smoke.yaml\nprojectors:\n  - {name: window_qformerr}\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "projectors[0]: unknown projector 'window_qformerr'. Did you mean 'window_qformer'?" in err


def test_python_dash_m_is_the_same_command() -> None:
    res = subprocess.run([sys.executable, "-m", "usam_toolkit", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("usam_toolkit ")
