"""The checksum test vectors published for agent authors are the ones the code computes."""

from __future__ import annotations

from pathlib import Path

from restosync.agent.catalog import range_checksum

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent-integration.md"
VECTORS = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": [],
    "aff3c7bf9bdddad753f85f09ef7c03d03c01160ce2c8ecd78e24b034a7a39792": [("SKU-1", "aaa")],
    "7a888c94f25ee65bf3dc41576559d572f7d4abe8125468de74c26e1cdb3b3c79": [
        ("b", "h2"),
        ("B", "h1"),
        ("é", "h3"),
    ],
    "3965c603565e8b29aa94aef432119c4253f91869430fdd87b49d1a229e3c1c80": [
        ("SKU-1|WH-01", "x1"),
        ("SKU-1|WH-02", "x2"),
    ],
}


def test_the_documented_vectors_are_computed_by_the_reference_checksum() -> None:
    text = DOC.read_text()
    for checksum, rows in VECTORS.items():
        assert checksum in text
        assert range_checksum(rows) == checksum
