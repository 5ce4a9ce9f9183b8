"""``usam serve``: a small local web page and JSON API around a checkpoint (standard library only)."""

from .server import make_server

__all__ = ["make_server"]
