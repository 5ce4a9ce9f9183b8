"""``usam new-plugin KIND NAME``: the package it writes has the entry point the toolkit loads, registers
its component, and passes its own generated conformance test as written (run here in-process, on a
registry holding the generated package; nothing is pip-installed)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from usam_toolkit import plugins
from usam_toolkit.cli import main

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: read the few lines checked below by hand
    tomllib = None  # type: ignore[assignment]


@pytest.fixture
def clean_imports() -> Iterator[None]:
    before = set(sys.modules)
    yield
    plugins.reset_registry(None)
    for name in set(sys.modules) - before:
        if name.startswith(("usam_my_", "generated_conformance_")):
            del sys.modules[name]


@pytest.mark.parametrize(
    ("kind", "name", "registry_kind"),
    [
        ("encoder", "my_enc", "encoders"),
        ("projector", "my_proj", "projectors"),
        ("losses", "my_loss", "losses"),
    ],
)
def test_the_generated_package_passes_its_own_conformance_test(
    kind: str,
    name: str,
    registry_kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_imports: None,
) -> None:
    root = tmp_path / name
    assert main(["new-plugin", kind, name, "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pip install -e ." in out and "python -m pytest" in out and f"--kind {registry_kind}" in out
    pkg = f"usam_{name}"
    for rel in (
        "pyproject.toml",
        "README.md",
        "tests/test_conformance.py",
        f"{pkg}/__init__.py",
        f"{pkg}/configs.py",
        f"{pkg}/{name}.py",
    ):
        assert (root / rel).is_file(), rel

    text = (root / "pyproject.toml").read_text()
    if tomllib is not None:
        meta = tomllib.loads(text)
        assert meta["project"]["entry-points"][plugins.ENTRY_POINT_GROUP] == {name: pkg}
        assert meta["tool"]["setuptools"]["packages"] == [pkg]
        assert "usam-toolkit" in meta["project"]["dependencies"]
    assert f'[project.entry-points.{plugins.ENTRY_POINT_GROUP}]\n{name} = "{pkg}"' in text
    readme = (root / "README.md").read_text()
    assert f"usam list-plugins --kind {registry_kind}" in readme and "pip install -e ." in readme

    # The shape: configs.py imports no torch; the hookimpl module does not import the model module.
    assert "torch" not in (root / pkg / "configs.py").read_text().replace("no torch", "")
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module(pkg)
    assert f"{pkg}.{name}" not in sys.modules, "the model module must load only when a recipe builds it"

    monkeypatch.delenv(plugins.STRICT_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.PluginLoadWarning)  # a built-in mid-change elsewhere
        registry = plugins.load_registry([module], entry_points=False)
    plugins.reset_registry(registry)
    assert registry.get(registry_kind, name).doc.endswith("(the usam new-plugin skeleton).")

    spec = importlib.util.spec_from_file_location(
        f"generated_conformance_{name}", root / "tests/test_conformance.py"
    )
    assert spec and spec.loader
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    generated.test_registered()
    generated.test_conformance(tmp_path / "conformance")


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-plugin", "encoder", "my_enc", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["new-plugin", "encoder", "my_enc", "--dir", str(empty)]) == 0
    assert (empty / "usam_my_enc" / "my_enc.py").is_file()


def test_default_folder_is_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "loss", "my_loss"]) == 0
    assert (tmp_path / "my_loss" / "usam_my_loss" / "__init__.py").is_file()
    assert main(["new-plugin", "loss", "my_loss"]) == 2  # never overwrites


@pytest.mark.parametrize("bad", ["MyEnc", "1enc", "my-enc", "class", "my enc", "énc"])
def test_refuses_names_that_are_not_lower_snake_identifiers(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", "encoder", bad, "--dir", str(tmp_path / "out")]) == 2
    assert "is not a valid name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
