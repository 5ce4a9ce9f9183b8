"""Data layer: manifest schema, dataset, dynamic batching, feature cache and corpus preparation.

Heavy modules (torch) are imported by the submodules that need them; import them directly, e.g.
``from usam_toolkit.data.loader import build_dataloader``.
"""

from .config import DataConfig

__all__ = ["DataConfig"]
