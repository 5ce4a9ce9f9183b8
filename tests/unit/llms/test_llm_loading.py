"""Locating model files: HF folders, GGUF cache keys, packages, and the errors users see."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from usam_plugins.llms.configs import HFCausalLMConfig
from usam_plugins.llms.loading import (
    convert_gguf,
    default_cache_dir,
    find_in_package,
    gguf_key,
    resolve_model_folder,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext


def test_gguf_key_follows_content_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 3_000_000)
    k1 = gguf_key(f)
    assert gguf_key(f) == k1
    f.write_bytes(b"x" * 2_999_999 + b"y")  # same size, tail differs
    os.utime(f, ns=(1, 1))
    k2 = gguf_key(f)
    assert k2 != k1
    os.utime(f, ns=(2, 2))
    assert gguf_key(f) != k2


def test_cached_conversion_is_reused_without_loading(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"not really a gguf")
    entry = tmp_path / "cache" / "llm_gguf" / f"model-{gguf_key(f)}"
    entry.mkdir(parents=True)
    (entry / "config.json").write_text("{}")
    assert convert_gguf(f, tmp_path / "cache") == entry  # a real load of this file would fail


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("USAM_CACHE_DIR", str(tmp_path))
    assert default_cache_dir(None) == tmp_path
    assert default_cache_dir(tmp_path / "x") == tmp_path / "x"


def _fake_package(root: Path, name: str, files: dict[str, bytes]) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('model packages must never be imported')\n")
    for rel, data in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    return pkg


def test_find_in_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = _fake_package(tmp_path, "usam_fake_llm_pkg", {"sub/a.Q4.gguf": b"1", "b.txt": b"2"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_in_package("usam_fake_llm_pkg", "*.gguf", "llm") == pkg / "sub" / "a.Q4.gguf"
    with pytest.raises(ConfigError, match="matched: none"):
        find_in_package("usam_fake_llm_pkg", "*.bin", "llm")
    with pytest.raises(ConfigError, match="exactly one"):
        find_in_package("usam_fake_llm_pkg", "*", "llm")
    with pytest.raises(ConfigError, match="not installed"):
        find_in_package("usam_no_such_pkg_xyz", "*.gguf", "llm")


def test_package_holding_an_hf_folder_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_folders
) -> None:
    from usam_plugins.llms.hf_causal_lm import build_hf_causal_lm

    pkg = tmp_path / "usam_fake_hf_pkg"
    shutil.copytree(tiny_folders["default"], pkg / "model")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = HFCausalLMConfig(package="usam_fake_hf_pkg", package_file="config.json", mode="frozen")
    llm = build_hf_causal_lm(cfg, BuildContext())
    assert llm.hidden_size == 32


def test_path_is_resolved_against_base_dir(tiny_folders) -> None:
    folder = tiny_folders["default"]
    ctx = BuildContext(base_dir=folder.parent)
    assert resolve_model_folder(HFCausalLMConfig(path=folder.name), ctx) == folder


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    ctx = BuildContext(base_dir=tmp_path, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="set one of 'path'"):
        resolve_model_folder(HFCausalLMConfig(), ctx)
    with pytest.raises(ConfigError, match=r"llm\.path: .*\(no config\.json\)"):
        resolve_model_folder(HFCausalLMConfig(path="nowhere"), ctx)
    with pytest.raises(ConfigError, match=r"llm\.gguf_file: no such file"):
        resolve_model_folder(HFCausalLMConfig(gguf_file="m.gguf"), ctx)
    with pytest.raises(ConfigError, match="not both"):
        resolve_model_folder(HFCausalLMConfig(package="x", path="y"), ctx)


def test_registered_and_conformant(tmp_path: Path) -> None:
    from usam_toolkit.testing import check_component

    llm = check_component("llms", "hf_causal_lm", tmp_path)
    assert llm.hidden_size == 32
