"""The ``usam`` command; ``python -m usam_toolkit`` is the same.

Each verb lives in :mod:`usam_toolkit.commands` as a module with ``add_parser(subparsers)`` and
``run(args) -> int``; verbs load their heavy imports inside ``run`` so ``usam --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from . import __version__, commands
from .errors import UsamError


class _IntermixedParser(argparse.ArgumentParser):
    """A verb's parser that takes positionals anywhere: ``usam train r.yaml --out X key=value``.

    Plain argparse stops filling ``overrides`` (``nargs="*"``) at the first option, and then refuses
    what follows as unrecognised. Parsers that hold sub-verbs keep the plain parsing (argparse's
    intermixed mode cannot hold them); their own verbs get this class again.
    """

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        nested = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        if nested or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls back into parse_known_args
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usam", description="U-SAM toolkit: recipes, plugins, training and evaluation of audio LLMs."
    )
    parser.add_argument("--version", action="version", version=f"usam_toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_IntermixedParser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def _show_warning(
    message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    # One readable line per warning for people at a terminal; no source line dump.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; a :class:`UsamError` prints as one clear line and exits with status 2."""
    warnings.showwarning = _show_warning
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
