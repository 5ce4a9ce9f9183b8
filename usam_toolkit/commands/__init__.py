"""One module per ``usam`` verb; each defines ``add_parser(subparsers)`` and ``run(args) -> int``.

:mod:`usam_toolkit.cli` discovers the modules here, so adding a verb means adding one file.
"""
