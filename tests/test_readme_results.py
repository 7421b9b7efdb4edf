"""README.md's table of result-line fields against the fields a line can have."""

from __future__ import annotations

from pathlib import Path

import orjson

from rtbatch.output.outcome import Outcome
from rtbatch.output.resume import INVALID_KIND

README = Path(__file__).resolve().parent.parent / "README.md"


def _table_fields() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    first = lines.index("| field | meaning |", lines.index("## Results"))
    fields = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        fields.append(line.split("|")[1].strip().strip("`"))
    return fields


def test_the_results_table_lists_every_field_a_line_can_have() -> None:
    """Every key of a line (the optional ``line`` and ``wer`` included) has a row, in order."""
    invalid = Outcome(job_id="x", status="failed", kind=INVALID_KIND, line=3)
    scored = Outcome(job_id="y", status="completed", kind="transcribe", line=4, has_reference=True)
    keys = list(orjson.loads(invalid.to_json())) + [
        k for k in orjson.loads(scored.to_json()) if k not in orjson.loads(invalid.to_json())
    ]
    table = _table_fields()
    assert sorted(table) == sorted(keys)
