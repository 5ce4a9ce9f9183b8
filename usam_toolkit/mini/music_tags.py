"""Music tags of a mini-world clip, parsed from its first (canonical) caption.

The builder writes every music clip's first caption from one plain template,
``"a {tempo} {instrument} piece in {tonic} {mode} {with drums|with no drums}"``, with the words of
:mod:`usam_toolkit.mini.music`; so the recipe's instrument, tempo, key, mode and drums are recovered exactly
from the manifest without storing anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import DataError
from .music import INSTRUMENTS, SCALES, TEMPI, TONICS

#: tag name -> its classes, in a fixed order (the tagger's head sizes).
TAG_CLASSES: dict[str, tuple[str, ...]] = {
    "instrument": tuple(sorted(INSTRUMENTS)),
    "tempo": tuple(TEMPI),
    "tonic": tuple(TONICS),
    "mode": tuple(SCALES),
    "drums": ("no", "yes"),
}

_CANONICAL = re.compile(
    r"^a (?P<tempo>\w+) (?P<instrument>.+) piece in (?P<tonic>.+) (?P<mode>major|minor) "
    r"(?P<drums>with drums|with no drums)$"
)


def parse_tags(caption: str, where: str = "caption") -> dict[str, int]:
    """Class index per tag of a canonical music caption.

    Args:
        caption: e.g. ``"a slow organ piece in A minor with no drums"``.
        where: names the example in errors.

    Returns:
        ``{"instrument": i, "tempo": j, "tonic": k, "mode": m, "drums": 0|1}``.

    Raises:
        DataError: when the caption does not follow the canonical template.
    """
    match = _CANONICAL.match(caption.strip())
    if not match:
        raise DataError(
            f"{where}: '{caption}' is not a canonical mini-world music caption "
            "(valid: 'a <tempo> <instrument> piece in <key> with drums|with no drums')"
        )
    words = match.groupdict()
    words["drums"] = "yes" if words["drums"] == "with drums" else "no"
    tags = {}
    for name, classes in TAG_CLASSES.items():
        if words[name] not in classes:
            raise DataError(f"{where}: {name} '{words[name]}' is not one of {list(classes)}")
        tags[name] = classes.index(words[name])
    return tags


def tags_of_targets(target: str | Sequence[str], where: str = "example") -> dict[str, int]:
    """Tags from a manifest ``target`` (the first reference is the canonical caption)."""
    first = target if isinstance(target, str) else target[0]
    return parse_tags(first, where)
