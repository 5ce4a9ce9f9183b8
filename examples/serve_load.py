"""Measure ``usam serve`` under load: latency of good clients with hostile ones mixed in, and its memory.

    python examples/serve_load.py [CHECKPOINT_OR_RUN_DIR] [--clients 8] [--requests 5] [--hostile]
        [-- extra usam serve arguments]

Starts ``usam serve`` on 127.0.0.1 (a free port), warms it with one request, then ``--clients`` threads
each post ``--requests`` clips (0.5-4 s tones, ``--task`` aac by default); with ``--hostile``, one more
thread per hostile case (short body, stalled body, a FLAC decoding to 184 MB, garbage, a client gone
after sending) keeps sending it meanwhile.
Prints the latency percentiles of the good requests (wall time from connect to the whole answer), the
status counts, and the server's RSS after warm-up and at its peak (``/proc``, Linux). Without a
checkpoint a 1-step smoke model is trained into a temporary folder first; it measures the server, not a
model worth serving.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from usam_toolkit.testing import silent_flac_bytes, sine_wav_bytes


def _post(url: str, body: bytes, task: str) -> int:
    req = urllib.request.Request(
        f"{url}api/run?task={task}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1


def _raw(host: str, port: int, data: bytes, *, half_close: bool = False, close_at_once: bool = False) -> int:
    try:
        with socket.create_connection((host, port), timeout=120) as s:
            s.sendall(data)
            if close_at_once:
                return 0
            if half_close:
                s.shutdown(socket.SHUT_WR)
            head = s.recv(64)
            return int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    except OSError:
        return -1


def _proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", nargs="?", help="checkpoint or run folder (default: a 1-step smoke model)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=5, help="requests per client")
    ap.add_argument("--task", default="aac")
    ap.add_argument(
        "--hostile", action="store_true", help="hostile clients send meanwhile (one thread per case)"
    )
    args, serve_args = ap.parse_known_args()
    serve_args = [a for a in serve_args if a != "--"]

    checkpoint = args.checkpoint
    if checkpoint is None:
        from usam_toolkit.infer.smoke import smoke_checkpoint

        checkpoint = str(smoke_checkpoint(Path(tempfile.mkdtemp(prefix="usam-serve-load-")), steps=1))
        serve_args = [*serve_args, "evaluate.max_new_tokens=2"]
    cmd = [
        sys.executable,
        "-m",
        "usam_toolkit",
        "serve",
        "--checkpoint",
        checkpoint,
        "--port",
        "0",
        *serve_args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        m = re.search(r"at http://([\d.]+):(\d+)/", proc.stdout.readline())
        if not m:
            raise SystemExit("usam serve did not start")
        host, port = m.group(1), int(m.group(2))
        url = f"http://{host}:{port}/"
        clips = [sine_wav_bytes(s, 300 + 150 * k) for k, s in enumerate((0.5, 1.0, 2.0, 4.0))]
        assert _post(url, clips[0], args.task) == 200
        rss0 = _proc_kb(proc.pid, "VmRSS")
        try:
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # the peak from here on
        except OSError:
            pass

        stop = threading.Event()
        hostile_codes: Counter[str] = Counter()

        def hostile() -> None:
            wav = clips[1]
            head = (
                f"POST /api/run?task={args.task} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(wav)}\r\n\r\n"
            ).encode()
            huge = silent_flac_bytes(30)
            cases = {
                "short body": lambda: _raw(host, port, head + wav[:500], half_close=True),
                "stalled body": lambda: _raw(host, port, head + wav[:500]),
                "decodes to 184 MB": lambda: _post(url, huge, args.task),
                "garbage": lambda: _post(url, bytes(range(256)) * 32, args.task),
                "gone after sending": lambda: _raw(host, port, head + wav, close_at_once=True),
            }

            def loop(name: str) -> None:
                while not stop.is_set():
                    code = cases[name]()
                    hostile_codes[f"{name}: {code}"] += 1

            threads = [threading.Thread(target=loop, args=(name,), daemon=True) for name in cases]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        latencies: list[float] = []
        codes: Counter[int] = Counter()

        def client(k: int) -> None:
            for r in range(args.requests):
                start = time.monotonic()
                code = _post(url, clips[(k + r) % len(clips)], args.task)
                latencies.append(time.monotonic() - start)
                codes[code] += 1

        bad_thread = threading.Thread(target=hostile, daemon=True)
        if args.hostile:
            bad_thread.start()
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        wall = time.monotonic() - start
        stop.set()
        if args.hostile:
            bad_thread.join(120)
        peak = _proc_kb(proc.pid, "VmHWM")
        lat = np.array(latencies)
        print(
            f"{args.clients} clients x {args.requests} requests ({len(lat)} in {wall:.1f} s, "
            f"{len(lat) / wall:.2f}/s); statuses {dict(codes)}"
        )
        print(
            f"latency p50 {np.percentile(lat, 50):.2f} s, p95 {np.percentile(lat, 95):.2f} s, "
            f"max {lat.max():.2f} s"
        )
        print(
            f"server RSS {rss0 / 1024:.0f} MB after warm-up, peak {peak / 1024:.0f} MB "
            f"(+{(peak - rss0) / 1024:.1f} MB)"
        )
        if args.hostile:
            print("hostile: " + json.dumps(dict(sorted(hostile_codes.items()))))
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
