"""``usam list-plugins``: every registered component, where it came from, and what failed to load."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..registry import KINDS


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list-plugins", help="list registered encoders, projectors, llms, losses, ...")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def rows(kind: str | None = None) -> list[dict[str, Any]]:
    """One dict per component and per load failure (``status`` ``ok`` or ``failed``)."""
    from ..plugins import get_registry

    reg = get_registry()
    out: list[dict[str, Any]] = []
    for e in reg.entries(kind):
        out.append(
            {
                "kind": e.kind,
                "name": e.name,
                "aliases": list(e.aliases),
                "plugin": e.provider.plugin,
                "distribution": e.provider.distribution,
                "version": e.provider.version,
                "doc": e.doc,
                "missing_requirements": e.missing_requirements,
                "status": "ok",
            }
        )
    if kind is None:
        for f in reg.failures:
            out.append(
                {
                    "kind": None,
                    "name": f.plugin,
                    "aliases": [],
                    "plugin": f.plugin,
                    "distribution": f.distribution,
                    "version": f.version,
                    "doc": f"failed at {f.stage}: {f.error}",
                    "missing_requirements": [],
                    "status": "failed",
                }
            )
    return out


def format_table(items: list[dict[str, Any]]) -> str:
    """A plain-text table: kind, name, aliases, provider, status / missing requirements, doc."""
    header = ("KIND", "NAME", "ALIASES", "PROVIDED BY", "STATUS", "DESCRIPTION")
    body = []
    for r in items:
        status = r["status"]
        if r["missing_requirements"]:
            status = "needs " + ",".join(r["missing_requirements"])
        body.append(
            (
                r["kind"] or "-",
                r["name"],
                ",".join(r["aliases"]) or "-",
                f"{r['distribution']} {r['version']}",
                status,
                r["doc"][:70],
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)] if body else [len(h) for h in header]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *body)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    items = rows(args.kind)
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        print(format_table(items))
    return 0
