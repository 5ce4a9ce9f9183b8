"""The ``usam serve`` page in headless Chromium: upload a wav, pick a task, run, see the answer and the
routing chart. Needs Debian's ``chromium`` + ``chromium-driver`` and ``selenium`` (PyPI); skips naming
whichever is missing. Selenium Manager never downloads anything: the driver and browser paths are given.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if not CHROMIUM.exists():
        pytest.skip("Debian package 'chromium' is not installed (/usr/bin/chromium)")
    if not CHROMEDRIVER.exists():
        pytest.skip("Debian package 'chromium-driver' is not installed (/usr/bin/chromedriver)")
    pytest.importorskip("selenium", reason="PyPI package 'selenium' is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never fetch drivers or browsers
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=900,1100",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    yield driver
    driver.quit()


def _wav(path: Path) -> Path:
    import soundfile as sf

    t = np.arange(24000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * (300 + 200 * (t > 0.7)) * t)).astype(np.float32), 16000)
    return path


def _drive(driver, url: str, wav: Path, shot: Path) -> tuple[str, list[str]]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#task option")) == 4)
    driver.find_element(By.ID, "file").send_keys(str(wav))
    Select(driver.find_element(By.ID, "task")).select_by_value("aac")
    driver.find_element(By.ID, "run").click()
    wait.until(
        lambda d: (
            d.find_element(By.ID, "answer").text.strip()
            and len(d.find_elements(By.CSS_SELECTOR, "#routing-chart rect.bar")) == 3
        )
    )
    assert driver.find_element(By.ID, "error").text == ""
    answer = driver.find_element(By.ID, "answer").text
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#routing-chart text")]
    driver.save_screenshot(str(shot))
    return answer, labels


def _check(answer: str, labels: list[str], shot: Path) -> None:
    assert answer.strip()
    values = [float(x) for x in labels if re.fullmatch(r"\d\.\d\d", x)]
    assert len(values) == 3 and abs(sum(values) - 1.0) < 0.02
    assert [x for x in labels if x.startswith("expert")] == ["expert 0", "expert 1", "expert 2"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_page_in_browser(browser, infer_checkpoint: Path, tmp_path: Path):
    """The page against the server object ``usam serve`` runs, in this process (fast)."""
    from usam_toolkit.api import load
    from usam_toolkit.serve.server import make_server

    srv = make_server(load(infer_checkpoint, device="cpu"), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        shot = tmp_path / "serve.png"
        answer, labels = _drive(browser, srv.url, _wav(tmp_path / "clip.wav"), shot)
        _check(answer, labels, shot)
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow
def test_usam_serve_command_in_browser(browser, infer_checkpoint: Path, tmp_path: Path, smoke_world: Path):
    """The real ``usam serve`` process on a free port (slow: a fresh interpreter loads torch and the
    model)."""
    env = {**os.environ, "USAM_SMOKE_DIR": str(smoke_world), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "usam_toolkit",
            "serve",
            "--checkpoint",
            str(infer_checkpoint),
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline, url = time.time() + 240, None
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        assert url, "usam serve did not report its address"
        shot = tmp_path / "serve-command.png"
        answer, labels = _drive(browser, url, _wav(tmp_path / "clip.wav"), shot)
        _check(answer, labels, shot)
    finally:
        proc.terminate()
        proc.wait(30)


class _NoTapmEngine:
    has_routing = False

    @staticmethod
    def run(clips, request, generation=None):
        from usam_toolkit.infer.engine import Result, WindowResult

        c = clips[0]
        return [Result(c.name, request.task, "a tone", [WindowResult(0.0, c.seconds, "a tone")], c.seconds)]


class _NoTapm:
    """A stand-in for a model without TAPM (the server only needs ``tasks``, ``engine``, ``checkpoint``)."""

    tasks = ("aac", "mc", "asr", "s2tt")
    checkpoint = None
    engine = _NoTapmEngine()


def test_page_says_when_there_is_no_tapm(browser, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from usam_toolkit.serve.server import make_server

    srv = make_server(_NoTapm(), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        browser.get(srv.url)
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "no TAPM" in d.find_element(By.ID, "chart").text)
        browser.find_element(By.ID, "file").send_keys(str(_wav(tmp_path / "clip.wav")))
        browser.find_element(By.ID, "run").click()
        wait.until(lambda d: d.find_element(By.ID, "answer").text == "a tone")
        assert "no TAPM" in browser.find_element(By.ID, "chart").text
        assert not browser.find_elements(By.CSS_SELECTOR, "#routing-chart")
    finally:
        srv.shutdown()
        srv.server_close()
