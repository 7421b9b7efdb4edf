"""idindex.py: the compact id index behaves as a set with first lines."""

from __future__ import annotations

from rtbatch.idindex import IdIndex


def test_first_line_is_remembered_through_growth() -> None:
    """100,000 ids (many resizes): each reports its own first line, duplicates the first."""
    index = IdIndex()
    for i in range(100_000):
        assert index.setdefault(f"job-{i}", i + 1) == i + 1
    assert len(index) == 100_000
    assert index.setdefault("job-77", 999_999) == 78
    assert "job-99999" in index and "job-100000" not in index
    assert len(index) == 100_000


def test_membership_and_add() -> None:
    """add records an id; other ids and non-strings are absent."""
    index = IdIndex()
    index.add("line:3")
    assert "line:3" in index
    assert "line:4" not in index
    assert 3 not in index
    assert "" not in index


def test_memory_is_a_few_dozen_bytes_per_id() -> None:
    """The arrays stay within 36 bytes an id at the worst fill (just after a resize)."""
    index = IdIndex()
    for i in range(50_000):
        index.add(f"id-{i}")
    size = index._keys.buffer_info()[1] * 8 + index._lines.buffer_info()[1] * 4
    assert size / len(index) <= 36
