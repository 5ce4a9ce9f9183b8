"""``usam prepare CORPUS --root DIR --out DIR [--set key=value ...]``: write manifests for a corpus."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="write JSONL manifests for a corpus from its distribution layout",
        description="Run a dataset plugin's preparer (librispeech, covost2, audiocaps, clotho, wavcaps, "
        "musiccaps, or any registered dataset). Options of the preparer are given as --set key=value "
        "(e.g. --set target_langs=[de] --set splits=[test]). Examples without usable audio are listed in "
        "OUT/<corpus>_skipped.jsonl.",
    )
    p.add_argument("corpus", help="dataset plugin name (see `usam list-plugins`)")
    p.add_argument("--root", required=True, help="folder holding the corpus as distributed")
    p.add_argument("--out", required=True, help="folder for the manifests")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a preparer config field, repeatable (e.g. --set splits=[dev-clean])",
    )
    p.set_defaults(run=run)


def _parse_overrides(items: list[str]) -> dict:
    import yaml

    from ..errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"prepare: '{item}' is not key=value (e.g. splits=[dev-clean])")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from ..errors import DataError
    from ..interfaces import BuildContext
    from ..plugins import get_registry

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    root, out = Path(args.root).expanduser().resolve(), Path(args.out).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"--root {root} is not a folder (valid: the folder holding the corpus)")
    slot = {"name": args.corpus, **_parse_overrides(args.overrides)}
    preparer = get_registry().build(
        "datasets", slot, BuildContext(base_dir=Path.cwd()), f"prepare {args.corpus}"
    )
    written = preparer.prepare(root, out)
    for path in written:
        with open(path, encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip())
        print(f"{path}\t{n} examples")
    if not written:
        print(f"no manifest written for {args.corpus}; see {out}")
        return 1
    return 0
