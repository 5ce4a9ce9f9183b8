"""Shape checks shared by the metrics: one hypothesis per item, one or more references per item."""

from __future__ import annotations

from collections.abc import Sequence

from usam_toolkit.errors import DataError


def reference_lists(
    hypotheses: Sequence[str], references: Sequence[Sequence[str] | str], metric: str
) -> list[list[str]]:
    """Validate the inputs of ``Metric.compute`` and return the references as lists of strings.

    A bare string in ``references`` is taken as a single reference (a common slip when scoring ASR).

    Raises:
        DataError: when the counts differ, an item has no reference, or a value is not a string.
    """
    if len(hypotheses) != len(references):
        raise DataError(
            f"metric '{metric}': {len(hypotheses)} hypotheses but {len(references)} reference lists "
            "(valid: one reference list per hypothesis)"
        )
    out: list[list[str]] = []
    for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
        if not isinstance(hyp, str):
            raise DataError(f"metric '{metric}': hypothesis #{i} is {type(hyp).__name__} (valid: str)")
        refs_list = [refs] if isinstance(refs, str) else list(refs)
        if not refs_list or not all(isinstance(r, str) for r in refs_list):
            raise DataError(
                f"metric '{metric}': references of item #{i} are {refs!r} (valid: a non-empty list of str)"
            )
        out.append(refs_list)
    return out
