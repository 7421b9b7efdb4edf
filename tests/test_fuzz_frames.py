"""The server's frames mangled at random: never an internal error, every job once.

Issue 17's fuzz proof. Between the real emulator and the client, the proxy of
tests/mangler.py (:class:`~tests.mangler.Fuzz`) mangles each server frame with a
probability: a key dropped, a value replaced by ``"x"``, ``7``, ``null``, ``[]`` or
``{}``, the frame cut short, or sent twice. Hypothesis draws the seed and the rate,
so each run of the suite tries fresh seeds (a failure prints the falsifying seed; a
seed replays exactly on the virtual clock). The run must end with exit 0 or 1, never
an internal error (70) or a run-fatal stop, with every job exactly once in the
result file and no ``completed`` line without an output.

Each example is its own ``trio.run`` on a ``MockClock`` that autojumps: text jobs
only (text, text with audio out, and two-turn conversations), so no worker thread
runs and the virtual clock is exact. A conversation whose later turn fails for good
is ``incomplete`` with the turns it answered. Network rules as in tests/harness.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtbatch.config import RetryPolicy, Timeouts
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from tests.harness import by_id, start_emulator, write_jobs
from tests.mangler import Fuzz, Proxy

JOBS = [
    *({"id": f"text-{i}", "prompt": f"Question {i}?"} for i in range(4)),
    *({"id": f"voice-{i}", "prompt": f"Say {i}", "output_modalities": ["audio"]} for i in range(2)),
    *({"id": f"chat-{i}", "turns": [{"text": f"Hi {i}"}, {"text": "And?"}]} for i in range(2)),
]
RETRY = RetryPolicy(max_attempts=4, initial_s=0.05, max_s=0.5)
TIMEOUTS = Timeouts(job_s=30.0, idle_s=2.0)
#: Examples per run of the suite: about two seconds; hundreds of seeds over the suite's runs.
EXAMPLES = 40


async def _fuzzed_run(tmp: Path, fuzz: Fuzz) -> tuple[Any, list[dict[str, Any]]]:
    async with trio.open_nursery() as nursery:
        h = await start_emulator(nursery, tmp, latency_ms=50)
        port = await nursery.start(Proxy(h.emulator.port, fuzz).serve)
        report, results = await h.run(
            write_jobs(tmp / "jobs.jsonl", JOBS),
            url=f"ws://127.0.0.1:{port}/v1/realtime",
            concurrency=3,
            audio_out=tmp / "answers",
            retry=RETRY,
            timeouts=TIMEOUTS,
        )
        nursery.cancel_scope.cancel()
    return report, results


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.02, 0.05, 0.1]))
def test_randomly_mangled_frames_never_break_the_run(seed: int, rate: float) -> None:
    """Exit 0 or 1, no internal error, each job's one line, no completed line without output."""
    fuzz = Fuzz(seed, rate)
    with tempfile.TemporaryDirectory(prefix="rtbatch-fuzz-") as scratch:
        report, results = trio.run(
            _fuzzed_run,
            Path(scratch),
            fuzz,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    seen = f"seed {seed}, rate {rate}: {fuzz.done}"
    assert report.fatal is None, f"{seen}: {report.fatal!r}"
    assert report.exit_code in (EXIT_OK, EXIT_FAILED), seen
    got = by_id(results)
    assert sorted(got) == sorted(j["id"] for j in JOBS), seen
    for record in results:
        output = record.get("output") or {}
        if record["status"] == "completed":
            assert output.get("text") or output.get("transcript"), f"{seen}: {record}"
            if record["kind"] == "conversation":
                assert [t["turn"] for t in output["turns"]] == [1, 2], f"{seen}: {record}"
        elif record["status"] == "incomplete":
            assert record["kind"] == "conversation", f"{seen}: {record}"
            assert [t["turn"] for t in output["turns"]] == [1], f"{seen}: {record}"
        else:
            assert record["status"] == "failed", f"{seen}: {record}"
