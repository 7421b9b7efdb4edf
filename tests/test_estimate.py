"""estimate.py: the expected cost of a job file, its range and its method."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.errors import BadAudio
from rtbatch.estimate import Assumptions, Estimator, estimate, message_tokens, text_tokens
from rtbatch.jobs import Job, JobProblem, Message, ResponseOptions, TranscriptionOptions
from rtbatch.models import PRICES_AS_OF

# gpt-realtime-1.5: text 4.00 in / 16.00 out, audio 32.00 in / 64.00 out, USD per million.
MODEL = "gpt-realtime-1.5"
PROMPT = "abcd" * 10  # 40 bytes: 10 tokens
AUDIO = Path("/audio/clip.wav")


def _probe(seconds: float) -> Any:
    def probe(path: Path) -> float:
        assert path == AUDIO
        return seconds

    return probe


def _estimator(seconds: float = 0.0, **kw: Any) -> Estimator:
    kw.setdefault("transcription_model", "whisper-1")
    return Estimator(MODEL, probe=_probe(seconds), **kw)


def _text(**kw: Any) -> Job:
    return Job(id=kw.pop("id", "t"), line=kw.pop("line", 1), kind="text", **kw)


def test_text_tokens_are_utf8_bytes_over_four() -> None:
    """Four bytes a token, rounded up; a message adds two; accents count their bytes."""
    assert (text_tokens(""), text_tokens("abc"), text_tokens("abcde")) == (0, 1, 2)
    assert text_tokens("café") == 2  # 5 bytes
    assert message_tokens(PROMPT) == 12


def test_text_job_expected_low_and_high() -> None:
    """Session instructions + prompt in; the assumed reply out; ±25 % in, ÷3..×3 out."""
    job = _estimator().job(_text(prompt=PROMPT))
    # in: 100 session instructions + 2, prompt 10 + 2 = 114; out: 150
    assert (job.tokens.text_in, job.tokens.text_out, job.tokens.audio_out) == (114, 150, 0)
    assert job.usd is not None
    assert job.usd.expected == pytest.approx((114 * 4 + 150 * 16) / 1e6, abs=1e-15)
    assert job.usd.low == pytest.approx((86 * 4 + 50 * 16) / 1e6, abs=1e-15)
    assert job.usd.high == pytest.approx((143 * 4 + 450 * 16) / 1e6, abs=1e-15)


def test_instructions_come_from_the_job_then_the_run_then_the_session() -> None:
    """The job's instructions win; then the run's; only then the session's assumed length."""
    own = _text(prompt=PROMPT, instructions="x" * 8)
    assert _estimator(instructions="y" * 40).job(own).tokens.text_in == 4 + 12
    assert _estimator(instructions="y" * 40).job(_text(prompt=PROMPT)).tokens.text_in == 12 + 12
    quiet = Assumptions(session_instructions_tokens=0)
    assert _estimator(assumptions=quiet).job(_text(prompt=PROMPT)).tokens.text_in == 2 + 12


def test_messages_each_carry_their_overhead() -> None:
    """Every message of a multi-turn job is counted with its own two tokens."""
    turns = (Message("user", PROMPT), Message("assistant", "ab"), Message("user", "abcdefgh"))
    job = _estimator(instructions="").job(_text(messages=turns))
    assert job.tokens.text_in == 2 + 12 + 3 + 4


def test_a_lower_cap_bounds_the_reply() -> None:
    """max_output_tokens below the assumption is the expected and the high reply alike."""
    job = _estimator().job(_text(prompt=PROMPT, options=ResponseOptions(max_output_tokens=60)))
    assert job.tokens.text_out == 60
    assert job.usd is not None and job.usd.high == pytest.approx((143 * 4 + 60 * 16) / 1e6)


def test_an_unbounded_reply_is_capped_by_the_model() -> None:
    """'inf' means the model's own maximum: the high estimate stays at it (4,096)."""
    unbounded = _text(prompt=PROMPT, options=ResponseOptions(max_output_tokens="inf"))
    job = _estimator(assumptions=Assumptions(reply_tokens=3000)).job(unbounded)
    assert job.tokens.text_out == 3000
    assert job.usd is not None
    assert job.usd.high == pytest.approx((143 * 4 + 4096 * 16) / 1e6)


def test_a_spoken_reply_adds_audio_and_shares_the_cap() -> None:
    """Spoken: 20 audio tokens/s at 3.3 text tokens/s; a cap covers text and audio together."""
    spoken = ResponseOptions(output_modalities=("audio",))
    free = _estimator().job(_text(prompt=PROMPT, options=spoken))
    assert (free.tokens.text_out, free.tokens.audio_out) == (150, 910)  # 150 x 20 / 3.3
    capped = ResponseOptions(output_modalities=("audio",), max_output_tokens=700)
    cut = _estimator().job(_text(prompt=PROMPT, options=capped))
    assert (cut.tokens.text_out, cut.tokens.audio_out) == (99, 601)


def test_respond_job_bills_its_audio_at_ten_tokens_a_second() -> None:
    """A respond job: probed seconds x 10 audio tokens, its item's overhead, the reply."""
    job = Job(id="r", line=1, kind="respond", audio=AUDIO, instructions="abcdefgh")
    estimated = _estimator(4.55).job(job)
    assert (estimated.tokens.audio_in, estimated.tokens.text_in) == (46, 4 + 2)
    assert estimated.audio_s == 4.55
    assert estimated.usd is not None
    assert estimated.usd.expected == pytest.approx((6 * 4 + 46 * 32 + 150 * 16) / 1e6)


def test_transcription_by_the_minute_is_exact() -> None:
    """A per-minute model: the probed duration at its price, no range."""
    job = Job(id="w", line=1, kind="transcribe", audio=AUDIO, transcription=TranscriptionOptions())
    estimated = _estimator(90.0).job(job)
    assert estimated.model == "whisper-1"
    assert estimated.usd is not None
    assert (estimated.usd.low, estimated.usd.expected, estimated.usd.high) == (0.009,) * 3


def test_transcription_by_tokens_prices_audio_and_transcript() -> None:
    """A token-billed model: audio at 10/s in, 3.3 transcript tokens/s out, ±50 %."""
    options = TranscriptionOptions(model="gpt-4o-mini-transcribe")
    job = Job(id="m", line=1, kind="transcribe", audio=AUDIO, transcription=options)
    estimated = _estimator(10.0).job(job)
    assert (estimated.tokens.audio_in, estimated.tokens.text_out) == (100, 33)
    assert estimated.usd is not None  # audio 3.00, text out 5.00 per million
    assert estimated.usd.expected == pytest.approx((100 * 3 + 33 * 5) / 1e6)
    assert estimated.usd.low == pytest.approx((100 * 3 + 17 * 5) / 1e6)
    assert estimated.usd.high == pytest.approx((100 * 3 + 50 * 5) / 1e6)
    long = _estimator(1000.0).job(job)
    assert long.tokens.text_out == 2000  # the model's transcript cap


def _items() -> Iterator[Job | JobProblem]:
    yield _text(id="a", prompt=PROMPT)
    yield JobProblem(path="j.jsonl", line=2, field=None, message="not JSON")
    yield Job(id="w", line=3, kind="transcribe", audio=AUDIO, transcription=TranscriptionOptions())
    yield Job(id="bad", line=4, kind="respond", audio=Path("/audio/missing.wav"))
    yield _text(id="b", line=5, prompt=PROMPT)


def _probe_file(path: Path) -> float:
    if path != AUDIO:
        raise BadAudio(f"{path}: no such file")
    return 90.0


def test_estimate_adds_up_models_and_leaves_out_what_it_cannot_price() -> None:
    """Per-model figures add up to the total; invalid lines and unreadable audio are counted."""
    result = estimate(_items(), model=MODEL, transcription_model="whisper-1", probe=_probe_file)
    assert (result.jobs, result.invalid, result.unprobed, result.unpriced) == (4, 1, 1, 0)
    assert [(m.model, m.jobs) for m in result.by_model] == [(MODEL, 2), ("whisper-1", 1)]
    text = (114 * 4 + 150 * 16) / 1e6
    assert result.usd.expected == pytest.approx(2 * text + 0.009, abs=1e-12)
    assert result.usd.expected == pytest.approx(
        sum(m.usd.expected for m in result.by_model if m.usd), abs=1e-12
    )
    assert result.notes == ("line 4 (bad): /audio/missing.wav: no such file",)


def test_a_model_without_prices_is_counted_not_priced() -> None:
    """Jobs of an unknown model get tokens but no cost, and are counted as unpriced."""
    result = estimate(
        [_text(prompt=PROMPT)],
        model="my-deployment",
        transcription_model="whisper-1",
        probe=_probe_file,
    )
    assert (result.unpriced, result.usd.expected) == (1, 0.0)
    assert result.by_model[0].usd is None and result.by_model[0].tokens.text_in == 114
    assert "unknown (no prices in the catalogue)" in result.render()


def test_json_and_text_forms_state_the_method() -> None:
    """Both forms give the total, its range, the date of the prices and the method."""
    result = estimate(_items(), model=MODEL, transcription_model="whisper-1", probe=_probe_file)
    data = orjson.loads(orjson.dumps(result.to_dict()))
    assert data["prices_as_of"] == PRICES_AS_OF
    assert data["low_usd"] < data["expected_usd"] < data["high_usd"]
    assert data["by_model"][1] == {
        "model": "whisper-1",
        "jobs": 1,
        "tokens": {"input_text": 0, "input_audio": 0, "output_text": 0, "output_audio": 0},
        "audio_s": 90.0,
        "low_usd": 0.009,
        "expected_usd": 0.009,
        "high_usd": 0.009,
    }
    assert any("bytes / 4" in rule for rule in data["method"])
    text = result.render()
    assert text.startswith(f"estimate: $0.0147 for 4 job(s) at the prices of {PRICES_AS_OF}")
    assert "left out: 1 invalid line(s), 1 job(s) whose audio could not be probed" in text
    assert "method:" in text and "±25%" in text


def test_assumptions_are_checked() -> None:
    """A reply of no tokens or a non-positive speech rate is refused by name."""
    with pytest.raises(ValueError, match="reply_tokens"):
        Assumptions(reply_tokens=0)
    with pytest.raises(ValueError, match="speech_tokens_per_s"):
        Assumptions(speech_tokens_per_s=0)


def test_text_only_files_never_load_the_audio_stack(tmp_path: Path) -> None:
    """The default probe is imported at the first audio job, so text jobs never load PyAV."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(orjson.dumps({"id": "a", "prompt": "hello"}) + b"\n")
    code = (
        "import sys; from rtbatch.estimate import estimate; from rtbatch.jobs import read_jobs;"
        f"e = estimate(read_jobs({str(jobs)!r}), model='gpt-realtime-1.5',"
        " transcription_model='whisper-1');"
        "assert e.jobs == 1 and e.usd.expected > 0;"
        "assert 'av' not in sys.modules and 'rtbatch.audio' not in sys.modules, 'loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _conversation(*said: str, **kw: Any) -> Job:
    from rtbatch.jobs import Turn

    turns = tuple(Turn(audio=AUDIO) if s == "<audio>" else Turn(text=s) for s in said)
    return Job(id="c", line=1, kind="conversation", turns=turns, **kw)


def test_each_turn_of_a_conversation_rereads_the_earlier_turns_and_answers() -> None:
    """Turn k reads the instructions, turns 1..k and the k-1 answers (each a message)."""
    job = _estimator(instructions="").job(_conversation(PROMPT, PROMPT, PROMPT))
    # Every turn: 12 more in; every answer: 150 out, read again by later turns with its 2.
    first, second, third = 2 + 12, 2 + 12 + 152 + 12, 2 + 12 + 152 + 12 + 152 + 12
    assert job.tokens.text_in == first + second + third
    assert job.tokens.text_out == 3 * 150
    single = _estimator(instructions="").job(_text(prompt=PROMPT))
    assert job.usd is not None and single.usd is not None
    assert job.usd.expected > 3 * single.usd.expected  # later turns cost more


def test_an_audio_turn_is_read_by_every_later_turn() -> None:
    """A 10 s audio turn: 100 audio tokens in its own response and in each later one."""
    job = _estimator(10.0, instructions="").job(_conversation("<audio>", PROMPT))
    assert (job.tokens.audio_in, job.audio_s) == (200, 10.0)


def test_a_tool_job_is_priced_by_its_rounds_up_to_the_bound() -> None:
    """One response (low), one round (expected), every round the bound allows (high)."""
    from rtbatch.jobs import ScriptedOutput, Tools

    tools = Tools(
        definitions=({"type": "function", "name": "f"},),
        outputs={"f": (ScriptedOutput(output="x" * 400),)},  # 402 bytes JSON-encoded: 101 tokens
    )
    plain = _estimator(instructions="").job(_text(prompt=PROMPT))
    job = _estimator(instructions="").job(_text(prompt=PROMPT, tools=tools))
    # Expected: the call's response, then the answer reading the call and its output.
    call = 2 * 2 + 101
    assert job.tokens.text_in == 2 * (2 + 12) + call
    assert job.tokens.text_out == 2 * 150
    assert plain.usd is not None and job.usd is not None
    assert job.usd.low == pytest.approx(plain.usd.low)
    few = _estimator(instructions="", max_tool_rounds=2).job(_text(prompt=PROMPT, tools=tools))
    many = _estimator(instructions="", max_tool_rounds=8).job(_text(prompt=PROMPT, tools=tools))
    assert few.usd is not None and many.usd is not None
    assert few.usd.expected == job.usd.expected
    assert many.usd.high > few.usd.high > job.usd.expected


async def test_a_resumed_conversation_is_priced_for_the_turns_left_to_ask() -> None:
    """--max-cost: two of three turns answered, the third still reads them both."""
    from rtbatch.run.lines import expected_cost

    estimator = _estimator(instructions="")
    job = _conversation(PROMPT, PROMPT, PROMPT)
    whole = await expected_cost(estimator, job)
    left = await expected_cost(estimator, job, done_turns=2)
    two = estimator.job(_conversation(PROMPT, PROMPT)).usd
    third = estimator.job(_conversation(PROMPT, PROMPT, PROMPT)).usd
    assert two is not None and third is not None
    assert left == pytest.approx(third.expected - two.expected)
    assert 0 < left < whole / 2  # the dearest turn, but one of three
    assert await expected_cost(estimator, job, done_turns=3) == pytest.approx(0.0)
