"""``usam serve --checkpoint DIR``: a local web page to try a checkpoint (upload/record, task, answer,
TAPM routing chart) and its JSON API (``POST /api/run``); see :mod:`usam_toolkit.serve.server`."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="a local web page and JSON API to try a checkpoint on your own audio")
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint folder, or a run folder (its latest checkpoint)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest accepted upload (default 20 MB)"
    )
    p.add_argument(
        "--max-decoded-mb",
        type=float,
        default=256.0,
        help="largest decoded size of one upload, computed from its header before decoding "
        "(5 bytes per frame plus a 4 MB block; default 256 MB: about 48 min at 16 kHz, "
        "16 min at 48 kHz)",
    )
    p.add_argument(
        "--max-total-mb",
        type=float,
        default=512.0,
        help="memory of all requests in flight together: bodies being read (twice their size) and "
        "decoded audio; beyond it requests wait up to --read-timeout, then get a 503 "
        "(default 512 MB)",
    )
    p.add_argument(
        "--read-timeout",
        type=float,
        default=30.0,
        help="seconds a connection may stay silent (request line, headers, body) before it is "
        "closed; a body must also arrive within this plus 1 s per 64 KB (default 30)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=16,
        help="connections served at once; more are answered 503 (default 16)",
    )
    p.add_argument(
        "--window-seconds", type=float, default=30.0, help="window length for long clips (default 30)"
    )
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto (default): bf16 where the device computes it natively (a GPU with bf16, a CPU "
                        "with avx512_bf16/amx_bf16), else fp32; fp16 needs CUDA")  # fmt: skip
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from ..api import load
    from ..serve.server import make_server

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    m = load(
        args.checkpoint,
        device=args.device,
        overrides=args.overrides,
        window_seconds=args.window_seconds or None,
        precision=args.precision,
    )
    logging.getLogger(__name__).info(m.engine.precision.describe())
    server = make_server(
        m,
        args.host,
        args.port,
        args.max_upload_mb,
        max_decoded_mb=args.max_decoded_mb,
        max_total_mb=args.max_total_mb,
        read_timeout=args.read_timeout,
        max_connections=args.max_connections,
    )
    # One parseable line: tests and scripts wait for it to know the port.
    print(f"serving {m.checkpoint} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
