"""``usam reproduce-table FILE [--rows ...] [--train]``: ours beside the paper's, as markdown and CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce-table", help="train/load and evaluate each row of a paper table, print ours vs paper"
    )
    p.add_argument("table", help="table YAML, e.g. recipes/usam/tables/table3.yaml")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every row's recipe"
    )
    p.add_argument("--rows", nargs="+", help="only these rows (by name)")
    p.add_argument("--train", action="store_true", help="train rows that have no checkpoint yet")
    p.add_argument("--out", default=None, help="output folder (default: runs/tables/<table name>)")
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluate.tables import reproduce

    out = Path(args.out or Path("runs") / "tables" / Path(args.table).stem).resolve()
    reproduce(args.table, out, rows=args.rows, train=args.train, device=args.device, overrides=args.overrides)
    print((out / "table.md").read_text())
    print(f"written: {out / 'table.md'}, {out / 'table.csv'}")
    return 0
