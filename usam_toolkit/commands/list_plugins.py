"""``usam list-plugins``: every registered component, where it came from, and what failed to load."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..registry import KINDS


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list-plugins", help="list registered encoders, projectors, llms, losses, ...")
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="only this kind (plugins that failed to load are always shown, marked failed)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def rows(kind: str | None = None) -> list[dict[str, Any]]:
    """One dict per component and per load failure (``status`` ``ok`` or ``failed``).

    With ``kind``, load failures are listed too (their ``kind`` is None when the registry cannot tell
    which kinds the plugin would have registered): a plugin must never vanish from its kind's list.
    """
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
    for f in reg.failures:
        # A plugin that failed at import never said which kinds it holds, so it shows under every
        # ``--kind``: a recipe's "unknown encoder" may be this failure. A failure that does know its
        # kind (a ``kind`` attribute, where the registry records one) shows under that kind only.
        failed_kind = getattr(f, "kind", None)
        if kind is not None and failed_kind not in (None, kind):
            continue
        out.append(
            {
                "kind": failed_kind,
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
                r["doc"] if r["status"] == "failed" else r["doc"][:70],  # the reason, whole
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *body)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    items = rows(args.kind)
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        print(format_table(items))
    return 0
