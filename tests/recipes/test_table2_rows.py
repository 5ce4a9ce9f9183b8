"""Table 2 quotes every peer of the paper's main comparison, with the paper's numbers."""

from __future__ import annotations

from pathlib import Path

from usam_toolkit.evaluate.tables import load_table

TABLE2 = Path(__file__).resolve().parents[2] / "recipes/usam/tables/table2.yaml"


def test_table2_holds_the_peers_the_paper_compares_with():
    spec, _ = load_table(TABLE2)
    paper = {row.name: row.paper for row in spec.rows}
    assert paper["MT-Rev"] == {"en_zh": 38.9}
    assert paper["HTSAT-BART"] == {"aac_meteor": 25.0, "aac_spider": 48.5}
    assert paper["AudioGPT"] == {"aac_meteor": 22.5, "aac_spider": 38.0}
    assert list(paper)[-1] == "U-SAM"
