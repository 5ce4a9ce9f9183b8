"""``usam serve`` (a real process, the tiny smoke model) against hostile clients on 127.0.0.1, with good
clients in parallel: a short body, a stalled upload, a silent connection, headers trickled line by
line, a FLAC that would decode to hundreds of MB, one whose header lies, an oversized body, garbage,
clients that vanish mid-request.

Asserts every status, that every good client is answered, that nothing is written anywhere the
server could write (checkpoint, corpus, the recipe's feature cache, HOME, TMPDIR, caches), that its
peak RSS stays bounded, that its threads come back, and that its log holds no traceback and no 500.
Bounded: about 30 connections, one process, a few seconds after start-up.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rel_helpers import REPO, usam_cmd

from usam_toolkit.testing import silent_flac_bytes, sine_wav_bytes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status (Linux)"
)

READ_TIMEOUT = 1.0
MAX_DECODED_MB = 16
# A naive decode of the 30 s 8-channel 192 kHz file alone takes 184 MB of float32 (plus its mono copy).
RSS_GROWTH_LIMIT_MB = 64


def _lying_flac(claimed_frames: int) -> bytes:
    """0.01 s of 8-channel 192 kHz audio whose STREAMINFO claims ``claimed_frames`` frames."""
    buf = io.BytesIO()
    sf.write(buf, np.full((1920, 8), 0.1, dtype=np.float32), 192_000, format="FLAC")
    data = bytearray(buf.getvalue())
    # STREAMINFO follows "fLaC" and a 4-byte block header; its bytes 10..17 pack the rate (20 bits),
    # channels-1 (3), bits-1 (5) and the total sample count (the low 36 bits).
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~((1 << 36) - 1)) | claimed_frames
    data[18:26] = packed.to_bytes(8, "big")
    return bytes(data)


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def _files(roots: list[Path]) -> dict[str, tuple[int, int]]:
    found = {}
    for root in roots:
        for p in root.rglob("*") if root.exists() else ():
            if p.is_file():
                st = p.stat()
                found[str(p)] = (st.st_size, st.st_mtime_ns)
    return found


class _Server:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}/"

    def post(self, body: bytes, query: str = "?task=aac", timeout: float = 60) -> tuple[int, dict]:
        req = urllib.request.Request(
            self.url + "api/run" + query,
            data=body,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def raw(
        self, data: bytes, *, half_close: bool = False, close_after: float | None = None
    ) -> tuple[str, float]:
        """Send ``data``; return what came back until the server closed, and how long that took."""
        with socket.create_connection((self.host, self.port), timeout=30) as s:
            s.sendall(data)
            start = time.monotonic()
            if close_after is not None:
                time.sleep(close_after)
                return "", time.monotonic() - start
            if half_close:
                s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out.decode("latin-1"), time.monotonic() - start


def _trickle_headers(host: str, port: int, seconds: float = 6.0) -> float | None:
    """Send a header line every 0.3 s (each well inside the read timeout); when was the connection closed?"""
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"POST /api/run HTTP/1.1\r\n")
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < seconds:
            try:
                s.sendall(f"X-Slow-{k}: 1\r\n".encode())
                s.settimeout(0.3)
                if s.recv(1) == b"":
                    return time.monotonic() - start
            except TimeoutError:
                k += 1
            except OSError:
                return time.monotonic() - start
        return None


def _head(length: int, query: str = "?task=aac") -> bytes:
    return (
        f"POST /api/run{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def checkpoint(rel_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from usam_toolkit.infer.smoke import smoke_checkpoint

    old = os.environ.get("USAM_SMOKE_DIR")
    try:
        return smoke_checkpoint(tmp_path_factory.mktemp("hostile"), steps=1, world=rel_world)
    finally:
        if old is None:
            os.environ.pop("USAM_SMOKE_DIR", None)
        else:
            os.environ["USAM_SMOKE_DIR"] = old


def test_hostile_clients_beside_good_ones(checkpoint: Path, rel_world: Path, tmp_path: Path) -> None:
    home, tmp, xdg, usam_cache, hf = (tmp_path / n for n in ("home", "tmp", "xdg", "usam-cache", "hf"))
    feature_cache = tmp_path / "feature-cache"
    for d in (home, tmp, xdg, usam_cache, hf):
        d.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CACHE_HOME": str(xdg),
        "USAM_CACHE_DIR": str(usam_cache),
        "HF_HOME": str(hf),
        "USAM_SMOKE_DIR": str(rel_world),
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
    }
    cmd = usam_cmd(
        "serve",
        "--checkpoint",
        str(checkpoint),
        "--port",
        "0",
        "--device",
        "cpu",
        "--read-timeout",
        str(READ_TIMEOUT),
        "--max-decoded-mb",
        str(MAX_DECODED_MB),
        "--max-total-mb",
        "64",
        "--max-upload-mb",
        "2",
        "--max-connections",
        "32",
        f"data.feature_cache={feature_cache}",
        "evaluate.max_new_tokens=2",
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True)
    try:
        t0 = time.monotonic()
        line = proc.stdout.readline()  # "serving <checkpoint> at http://127.0.0.1:<port>/"
        m = re.search(r"at http://([\d.]+):(\d+)/", line)
        assert m, (line, log_path.read_text()[-3000:])
        srv = _Server(m.group(1), int(m.group(2)))
        good_clips = [sine_wav_bytes(0.3 + 0.1 * k, 300.0 + 100 * k) for k in range(4)]
        assert srv.post(good_clips[0])[0] == 200  # warm: the first inference allocates its buffers

        watched = [checkpoint.parent.parent, rel_world, feature_cache, home, tmp, xdg, usam_cache, hf]
        before_files = _files(watched)
        base = _status(proc.pid)
        try:  # reset the peak-RSS mark to now (Linux >= 4.0); else the peak counts start-up too
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        except OSError:
            pass

        started = time.monotonic() - t0
        t0 = time.monotonic()
        huge_flac = silent_flac_bytes(30)  # 30 s x 8 ch x 192 kHz: 184 MB as float32
        lying = _lying_flac(192_000 * 3000)  # claims 50 min of 8-channel 192 kHz audio
        assert len(huge_flac) < 100_000 and len(lying) < 1000
        wav = good_clips[1]
        garbage = np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes()
        cases = {
            "short body": lambda: srv.raw(_head(len(wav)) + wav[:500], half_close=True),
            "stalled upload": lambda: srv.raw(_head(len(wav)) + wav[:500]),
            "silent connection": lambda: srv.raw(b""),
            "trickled headers": lambda: _trickle_headers(srv.host, srv.port),
            "decodes to 184 MB": lambda: srv.post(huge_flac),
            "header claims 50 min": lambda: srv.post(lying),
            "8-channel 192 kHz silence, 2 s": lambda: srv.post(silent_flac_bytes(2)),
            "garbage": lambda: srv.post(garbage),
            "3 MB body": lambda: srv.post(b"\0" * (3 * 1024 * 1024)),
            "gone mid-body": lambda: srv.raw(_head(len(wav)) + wav[:500], close_after=0.0),
            "gone after sending": lambda: srv.raw(_head(len(wav)) + wav, close_after=0.0),
        }
        with ThreadPoolExecutor(max_workers=16) as pool:
            good = [pool.submit(srv.post, good_clips[k % 4]) for k in range(16)]
            bad = {name: pool.submit(fn) for name, fn in cases.items()}
            good_answers = [f.result(timeout=60) for f in good]
            bad_answers = {name: f.result(timeout=60) for name, f in bad.items()}

        attacked = time.monotonic() - t0
        assert [s for s, _ in good_answers] == [200] * 16
        assert all(isinstance(a["text"], str) and a["duration"] > 0 for _, a in good_answers)

        text, _ = bad_answers["short body"]
        assert text.startswith("HTTP/1.1 400") and f"ended after 500 of the {len(wav)} bytes" in text
        text, waited = bad_answers["stalled upload"]
        assert text.startswith("HTTP/1.1 408") and waited < READ_TIMEOUT + 3
        text, waited = bad_answers["silent connection"]
        assert text == "" and waited < READ_TIMEOUT + 3
        closed_after = bad_answers["trickled headers"]
        assert closed_after is not None and closed_after < READ_TIMEOUT + 3
        status, answer = bad_answers["decodes to 184 MB"]
        assert status == 413
        assert "decoded_too_large: 5760000 frames x 8 channels at 192000 Hz" in answer["error"]
        status, answer = bad_answers["header claims 50 min"]
        assert status == 413 and "576000000 frames x 8 channels" in answer["error"]
        status, answer = bad_answers["8-channel 192 kHz silence, 2 s"]
        assert status == 422 and "silent" in answer["error"]
        status, answer = bad_answers["garbage"]
        assert status == 415 and "BytesIO" not in answer["error"] and "'upload'" in answer["error"]
        assert bad_answers["3 MB body"][0] == 413

        # Everything closed: the handler threads are gone again (one per connection, none left).
        deadline = time.monotonic() + 5
        while _status(proc.pid)["Threads"] > base["Threads"] and time.monotonic() < deadline:
            time.sleep(0.1)
        after = _status(proc.pid)
        assert after["Threads"] <= base["Threads"], (base, after)
        growth_mb = (after["VmHWM"] - base["VmRSS"]) / 1024
        assert growth_mb < RSS_GROWTH_LIMIT_MB, (base, after)
        assert _files(watched) == before_files
        assert not feature_cache.exists()
        assert proc.poll() is None and srv.post(good_clips[2])[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = log_path.read_text()
    assert "Traceback" not in log and '" 500 ' not in log and " 500 " not in log, log[-3000:]
    assert len(re.findall(r"went away", log)) <= 2, log[-3000:]
    print(
        f"\nserver: started and warm in {started:.1f} s; attack phase {attacked:.1f} s; RSS "
        f"{base['VmRSS'] / 1024:.0f} MB after warm-up, peak +{growth_mb:.1f} MB under attack, threads "
        f"{base['Threads']} -> {after['Threads']}"
    )
