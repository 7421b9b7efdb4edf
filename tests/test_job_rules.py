"""Tests for rtbatch.jobs.rules: each dialect's and model's rules, as read_jobs applies them.

One row per rule and dialect: the run (JobRules), the line, and the exact field and
message of its problem, or the job it becomes. Every run is pinned to a date so that
the catalogue's shutdowns fall where the row says.
"""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch import defaults
from rtbatch.errors import BadAudio
from rtbatch.jobs import (
    Job,
    JobProblem,
    JobRules,
    ResponseOptions,
    TranscriptionOptions,
    model_problem,
    read_jobs,
    shutdown_warning,
    usable_models,
)
from rtbatch.jobs.rules import CONTEXT_MARGIN_TOKENS, AudioLimit, audio_limit

TODAY = dt.date(2026, 12, 1)
AFTER_REALTIME = dt.date(2027, 1, 20)  # gpt-realtime's shutdown day
AFTER_TRANSCRIBE = dt.date(2027, 3, 1)  # after whisper-1 and the gpt-4o-transcribe family

GA = JobRules(today=TODAY)
GA_2 = JobRules(model="gpt-realtime-2", today=TODAY)
BETA = JobRules("beta", "gpt-realtime", "whisper-1", today=TODAY)
AZURE = JobRules(model="my-deployment", known_endpoint=False, today=TODAY)
WHISPERING = JobRules(transcription_model="gpt-realtime-whisper", today=TODAY)

GA_TRANSCRIBE = (
    "whisper-1, gpt-transcribe, gpt-live-transcribe, gpt-4o-mini-transcribe, "
    "gpt-4o-mini-transcribe-2025-12-15, gpt-4o-transcribe, gpt-4o-transcribe-diarize, "
    "gpt-realtime-whisper"
)
BETA_TRANSCRIBE = "whisper-1, gpt-4o-mini-transcribe, gpt-4o-transcribe"
PROMPT_TAKERS = (
    "whisper-1, gpt-transcribe, gpt-live-transcribe, gpt-4o-mini-transcribe, "
    "gpt-4o-mini-transcribe-2025-12-15, gpt-4o-transcribe"
)
REASONERS = "gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini"
EFFORTS = "minimal, low, medium, high, xhigh"


def text(**fields: Any) -> dict[str, Any]:
    """A text job with id "a"."""
    return {"id": "a", "prompt": "x", **fields}


def transcribe(**transcription: Any) -> dict[str, Any]:
    """A transcribe job with id "a" and the given transcription settings."""
    return {"id": "a", "audio": "a.wav", "task": "transcribe", "transcription": transcription}


def read_one(
    tmp_path: Path, obj: dict[str, Any], rules: JobRules, **kwargs: Any
) -> Job | JobProblem:
    """The one item read_jobs yields for a one-line file."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(orjson.dumps(obj) + b"\n")
    (item,) = read_jobs(path, rules=rules, **kwargs)
    return item


# (run, line, field, message)
REFUSED: list[tuple[JobRules, dict[str, Any], str, str]] = [
    # temperature: beta only, in its range
    (
        GA,
        text(temperature=0.8),
        "temperature",
        "the GA interface has no temperature; drop the field, or run with --beta",
    ),
    (BETA, text(temperature=2), "temperature", "expected a number 0.6..1.2, got 2 (integer)"),
    (BETA, text(temperature=0.5), "temperature", "expected a number 0.6..1.2, got 0.5 (number)"),
    (
        BETA,
        text(temperature="0.8"),
        "temperature",
        'expected a number 0.6..1.2, got "0.8" (string)',
    ),
    (BETA, text(temperature=True), "temperature", "expected a number 0.6..1.2, got true (boolean)"),
    # max_output_tokens: the run model's maximum
    (
        GA,
        text(max_output_tokens=4097),
        "max_output_tokens",
        'expected 1..4096 or "inf" for gpt-realtime-1.5, got 4097 (integer)',
    ),
    (
        GA_2,
        text(max_output_tokens=32_001),
        "max_output_tokens",
        'expected 1..32000 or "inf" for gpt-realtime-2, got 32001 (integer)',
    ),
    (
        BETA,
        text(max_output_tokens=4097),
        "max_output_tokens",
        'expected 1..4096 or "inf" for gpt-realtime, got 4097 (integer)',
    ),
    (
        AZURE,
        text(max_output_tokens=0),
        "max_output_tokens",
        'expected a positive integer or "inf" for my-deployment, got 0 (integer)',
    ),
    (
        JobRules(model="gpt-realtime-2", known_endpoint=False, today=TODAY),
        text(max_output_tokens=32_001),
        "max_output_tokens",
        'expected 1..32000 or "inf" for gpt-realtime-2, got 32001 (integer)',
    ),
    # reasoning: GA, and only the models that take it
    (
        GA,
        text(reasoning={"effort": "low"}),
        "reasoning",
        f"gpt-realtime-1.5 does not take reasoning (models that do: {REASONERS})",
    ),
    (
        BETA,
        text(reasoning={"effort": "low"}),
        "reasoning",
        "the beta interface has no reasoning (it is GA only)",
    ),
    (
        GA_2,
        text(reasoning="low"),
        "reasoning",
        'expected an object such as {"effort": "low"}, got "low" (string)',
    ),
    (GA_2, text(reasoning={}), "reasoning.effort", "required"),
    (
        GA_2,
        text(reasoning={"effort": "max"}),
        "reasoning.effort",
        f'expected one of {EFFORTS}, got "max" (string)',
    ),
    (
        GA_2,
        text(reasoning={"effort": "low", "summary": "auto"}),
        "reasoning.summary",
        "unknown field (expected one of: effort)",
    ),
    (
        GA_2,
        {"id": "a", "audio": "a.wav", "task": "transcribe", "reasoning": {"effort": "low"}},
        "reasoning",
        "not allowed with task transcribe (it produces no response)",
    ),
    # transcription.model: a catalogue transcription model the dialect reaches, not shut down
    (
        GA,
        transcribe(model="gpt-4"),
        "transcription.model",
        f'expected one of {GA_TRANSCRIBE}, got "gpt-4" (string)',
    ),
    (
        BETA,
        transcribe(model="gpt-4"),
        "transcription.model",
        f'expected one of {BETA_TRANSCRIBE}, got "gpt-4" (string)',
    ),
    (
        BETA,
        transcribe(model="gpt-transcribe"),
        "transcription.model",
        "gpt-transcribe is not available in the beta interface (it is GA only)",
    ),
    (
        GA,
        transcribe(model="gpt-realtime"),
        "transcription.model",
        "gpt-realtime is a realtime model, not a transcription model",
    ),
    (
        AZURE,
        transcribe(model="gpt-realtime"),
        "transcription.model",
        "gpt-realtime is a realtime model, not a transcription model",
    ),
    (
        JobRules(today=AFTER_TRANSCRIBE),
        transcribe(model="whisper-1"),
        "transcription.model",
        "whisper-1 was shut down on 2027-02-26; use gpt-transcribe",
    ),
    (
        JobRules(today=AFTER_TRANSCRIBE),
        transcribe(model="gpt-4"),
        "transcription.model",
        'expected one of gpt-transcribe, gpt-live-transcribe, gpt-realtime-whisper, got "gpt-4" '
        "(string)",
    ),
    (
        GA,
        transcribe(model=5),
        "transcription.model",
        "expected a non-empty string, got 5 (integer)",
    ),
    # transcription.prompt: not for gpt-realtime-whisper and gpt-4o-transcribe-diarize
    (
        GA,
        transcribe(model="gpt-realtime-whisper", prompt="names"),
        "transcription.prompt",
        f"gpt-realtime-whisper does not take a prompt (models that do: {PROMPT_TAKERS})",
    ),
    (
        GA,
        transcribe(model="gpt-4o-transcribe-diarize", prompt="names"),
        "transcription.prompt",
        f"gpt-4o-transcribe-diarize does not take a prompt (models that do: {PROMPT_TAKERS})",
    ),
    (
        WHISPERING,
        transcribe(prompt="names"),
        "transcription.prompt",
        "gpt-realtime-whisper (the run's transcription model) does not take a prompt "
        f"(models that do: {PROMPT_TAKERS})",
    ),
    # transcription.languages: ISO-639-1 codes, for the models that take them
    (
        GA,
        transcribe(model="gpt-4o-transcribe", languages=["en"]),
        "transcription.languages",
        "gpt-4o-transcribe does not take languages "
        "(models that do: gpt-transcribe, gpt-live-transcribe)",
    ),
    (
        BETA,
        transcribe(languages=["en"]),
        "transcription.languages",
        "whisper-1 (the run's transcription model) does not take languages "
        "(models that do: none in the beta interface)",
    ),
    (
        GA,
        transcribe(languages="en"),
        "transcription.languages",
        'expected a non-empty array of codes such as ["en", "fr"], got "en" (string)',
    ),
    (
        GA,
        transcribe(languages=[]),
        "transcription.languages",
        'expected a non-empty array of codes such as ["en", "fr"], got [] (array)',
    ),
    (
        GA,
        transcribe(languages=["en", "eng"]),
        "transcription.languages[1]",
        'expected an ISO-639-1 code such as "en", got "eng" (string)',
    ),
    (
        GA,
        transcribe(languages=["en", 7]),
        "transcription.languages[1]",
        'expected an ISO-639-1 code such as "en", got 7 (integer)',
    ),
]


@pytest.mark.parametrize(
    ("rules", "obj", "field", "message"),
    REFUSED,
    ids=[f"{n:02d}-{rules.dialect}-{field}" for n, (rules, _, field, _) in enumerate(REFUSED)],
)
def test_refused(
    tmp_path: Path, rules: JobRules, obj: dict[str, Any], field: str, message: str
) -> None:
    """Each rule refuses its line with the exact field and message, naming file and line."""
    path = tmp_path / "jobs.jsonl"
    assert read_one(tmp_path, obj, rules) == JobProblem(str(path), 1, field, message, "a")


# (run, line, the job's options or transcription settings)
ACCEPTED: list[tuple[JobRules, dict[str, Any], ResponseOptions | TranscriptionOptions]] = [
    (BETA, text(temperature=0.6), ResponseOptions(temperature=0.6)),
    (BETA, text(max_output_tokens=4096), ResponseOptions(max_output_tokens=4096)),
    (GA, text(max_output_tokens="inf"), ResponseOptions(max_output_tokens="inf")),
    (GA_2, text(max_output_tokens=32_000), ResponseOptions(max_output_tokens=32_000)),
    (AZURE, text(max_output_tokens=100_000), ResponseOptions(max_output_tokens=100_000)),
    (GA_2, text(reasoning={"effort": "xhigh"}), ResponseOptions(reasoning_effort="xhigh")),
    (
        JobRules(model="gpt-realtime-2.1-mini", today=TODAY),
        text(reasoning={"effort": "minimal"}),
        ResponseOptions(reasoning_effort="minimal"),
    ),
    (AZURE, text(reasoning={"effort": "low"}), ResponseOptions(reasoning_effort="low")),
    (GA, transcribe(), TranscriptionOptions()),
    (BETA, transcribe(model="gpt-4o-transcribe"), TranscriptionOptions("gpt-4o-transcribe")),
    (AZURE, transcribe(model="my-whisper"), TranscriptionOptions("my-whisper")),
    (
        JobRules(known_endpoint=False, today=AFTER_TRANSCRIBE),
        transcribe(model="whisper-1"),
        TranscriptionOptions("whisper-1"),
    ),
    (
        JobRules(today=dt.date(2027, 2, 25)),
        transcribe(model="gpt-4o-transcribe"),
        TranscriptionOptions("gpt-4o-transcribe"),
    ),
    (
        GA,
        transcribe(model="whisper-1", prompt="Ada, Grace"),
        TranscriptionOptions("whisper-1", prompt="Ada, Grace"),
    ),
    (GA, transcribe(prompt="jargon"), TranscriptionOptions(prompt="jargon")),
    (
        GA,
        transcribe(languages=["en", "fr"], language="en"),
        TranscriptionOptions(language="en", languages=("en", "fr")),
    ),
    (
        GA,
        transcribe(model="gpt-transcribe", languages=["de"]),
        TranscriptionOptions("gpt-transcribe", languages=("de",)),
    ),
    (
        JobRules(transcription_model="my-whisper", known_endpoint=False, today=TODAY),
        transcribe(prompt="p", languages=["en"]),
        TranscriptionOptions(prompt="p", languages=("en",)),
    ),
]


@pytest.mark.parametrize(
    ("rules", "obj", "expected"),
    ACCEPTED,
    ids=[f"{n:02d}-{rules.dialect}-{rules.model}" for n, (rules, *_) in enumerate(ACCEPTED)],
)
def test_accepted(
    tmp_path: Path,
    rules: JobRules,
    obj: dict[str, Any],
    expected: ResponseOptions | TranscriptionOptions,
) -> None:
    """What each rule lets through becomes the job's options as given."""
    job = read_one(tmp_path, obj, rules)
    assert isinstance(job, Job)
    assert (job.options if isinstance(expected, ResponseOptions) else job.transcription) == expected


def test_default_rules_are_the_defaults() -> None:
    """JobRules() is a GA run of the default models on OpenAI's endpoint, today."""
    rules = JobRules()
    assert (rules.dialect, rules.model, rules.transcription_model, rules.known_endpoint) == (
        "ga",
        defaults.DEFAULT_MODEL,
        defaults.DEFAULT_TRANSCRIPTION_MODEL,
        True,
    )
    assert rules.today == dt.date.today()


def test_read_jobs_defaults_to_a_ga_run(tmp_path: Path) -> None:
    """Without rules, read_jobs checks for GA: a temperature is refused."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(orjson.dumps(text(temperature=0.8)) + b"\n")
    (item,) = read_jobs(path)
    assert isinstance(item, JobProblem) and item.field == "temperature"


# --- respond audio and the model's context ----------------------------------------------------

LIMIT_15 = (32_000 - 4096 - CONTEXT_MARGIN_TOKENS) / 10  # 2,764.8 s
LIMIT_2 = (128_000 - 32_000 - CONTEXT_MARGIN_TOKENS) / 10  # 9,574.4 s


def respond(**fields: Any) -> dict[str, Any]:
    """A respond job with id "a" on a.wav."""
    return {"id": "a", "audio": "a.wav", "task": "respond", **fields}


def test_audio_limits() -> None:
    """The limit is the context less the answer's cap (the job's, else the model's) and a margin."""
    assert audio_limit(None, GA) == AudioLimit("gpt-realtime-1.5", 32_000, 4096 + 256)
    assert audio_limit("inf", GA_2) == AudioLimit("gpt-realtime-2", 128_000, 32_000 + 256)
    assert audio_limit(1000, GA) == AudioLimit("gpt-realtime-1.5", 32_000, 1256)
    assert audio_limit(None, AZURE) is None
    assert audio_limit(None, JobRules(model="gpt-audio-1.5", today=TODAY)) is None  # no figure
    assert (LIMIT_15, LIMIT_2) == (2764.8, 9574.4)


@pytest.mark.parametrize(
    ("rules", "obj", "duration_s", "message"),
    [
        (GA, respond(), LIMIT_15, None),
        (
            GA,
            respond(),
            LIMIT_15 + 0.1,
            "2,764.9 s of audio is more than gpt-realtime-1.5 can take in one item (2,764.8 s: "
            "a context of 32,000 tokens at 10 tokens per second of audio, less 4,352 kept for "
            "the answer); split the file, or use task transcribe",
        ),
        (GA, respond(max_output_tokens=1000), 3074.4, None),
        (
            GA,
            respond(max_output_tokens=1000),
            3074.5,
            "3,074.5 s of audio is more than gpt-realtime-1.5 can take in one item (3,074.4 s: "
            "a context of 32,000 tokens at 10 tokens per second of audio, less 1,256 kept for "
            "the answer); split the file, or use task transcribe",
        ),
        (GA_2, respond(), LIMIT_2, None),
        (
            BETA,
            respond(),
            3600.0,
            "3,600.0 s of audio is more than gpt-realtime can take in one item (2,764.8 s: "
            "a context of 32,000 tokens at 10 tokens per second of audio, less 4,352 kept for "
            "the answer); split the file, or use task transcribe",
        ),
    ],
    ids=["ga-at-limit", "ga-over", "ga-capped-at", "ga-capped-over", "ga-reasoning", "beta-over"],
)
def test_respond_audio_must_fit_the_context(
    tmp_path: Path, rules: JobRules, obj: dict[str, Any], duration_s: float, message: str | None
) -> None:
    """A respond job's audio longer than the model's context allows is a problem of its audio."""
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    probed: list[Path] = []

    def probe(path: Path) -> float:
        probed.append(path)
        return duration_s

    item = read_one(tmp_path, obj, rules, check_files=True, probe=probe)
    assert probed == [tmp_path / "a.wav"]
    if message is None:
        assert isinstance(item, Job)
    else:
        assert item == JobProblem(str(tmp_path / "jobs.jsonl"), 1, "audio", message, "a")


def refuse(path: Path) -> float:
    """A probe that fails the test: the file should not have been probed."""
    raise AssertionError(f"probed {path}")


def test_audio_is_probed_only_where_it_counts(tmp_path: Path) -> None:
    """No probe without check_files, for transcribe jobs, nor where the model has no figure."""
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert isinstance(read_one(tmp_path, respond(), GA, probe=refuse), Job)
    assert isinstance(read_one(tmp_path, transcribe(), GA, check_files=True, probe=refuse), Job)
    assert isinstance(read_one(tmp_path, respond(), AZURE, check_files=True, probe=refuse), Job)


def test_missing_audio_is_reported_before_probing(tmp_path: Path) -> None:
    """A respond job whose file is missing says so, without probing it."""
    item = read_one(tmp_path, respond(), GA, check_files=True, probe=refuse)
    assert isinstance(item, JobProblem)
    assert item.message == f"file not found: {tmp_path / 'a.wav'}"


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("not an audio file", "cannot measure the duration: {path}: not an audio file"),
        (
            "audio file {path} has no audio stream",
            "cannot measure the duration: audio file {path} has no audio stream",
        ),
    ],
    ids=["reason-without-path", "reason-naming-the-file"],
)
def test_unprobeable_audio_names_the_file(tmp_path: Path, reason: str, message: str) -> None:
    """A file whose duration cannot be read is a problem of its audio, naming the file once."""
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")

    def broken(path: Path) -> float:
        raise BadAudio(reason.format(path=path), code="bad_audio")

    item = read_one(tmp_path, respond(), GA, check_files=True, probe=broken)
    expected = message.format(path=audio)
    assert item == JobProblem(str(tmp_path / "jobs.jsonl"), 1, "audio", expected, "a")


def test_default_probe_is_rtbatch_audio(tmp_path: Path) -> None:
    """Without a probe, rtbatch.audio.duration_s measures files: 1 s and the examples fit."""
    from rtbatch import audio

    if not hasattr(audio, "duration_s"):
        pytest.skip("rtbatch.audio.duration_s is not there yet (the audio branch adds it)")
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(b"\x00\x00" * 24_000)
    assert isinstance(read_one(tmp_path, respond(), GA, check_files=True), Job)
    examples = Path(__file__).resolve().parent.parent / "jobs" / "audio.jsonl"
    assert all(isinstance(item, Job) for item in read_jobs(examples, check_files=True))


# --- the run's own models ---------------------------------------------------------------------

BETA_TODAY = JobRules("beta", today=TODAY)


@pytest.mark.parametrize(
    ("model", "rules", "kind", "message"),
    [
        ("gpt-realtime-1.5", GA, "realtime", None),
        ("gpt-realtime", BETA_TODAY, "realtime", None),
        (
            "gpt-realtime-15",
            GA,
            "realtime",
            "unknown realtime model 'gpt-realtime-15'; did you mean 'gpt-realtime-1.5'? "
            "(expected one of: gpt-realtime, gpt-realtime-2025-08-28, gpt-realtime-1.5, "
            "gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini, gpt-realtime-mini, "
            "gpt-realtime-mini-2025-10-06, gpt-realtime-mini-2025-12-15, gpt-audio-1.5, "
            "gpt-audio-mini, gpt-audio-mini-2025-10-06, gpt-audio-mini-2025-12-15)",
        ),
        (
            "zz",
            BETA_TODAY,
            "realtime",
            "unknown realtime model 'zz' (expected one of: gpt-realtime, gpt-realtime-2025-08-28)",
        ),
        (
            "zz",
            JobRules("beta", today=AFTER_REALTIME),
            "realtime",
            "unknown realtime model 'zz' (expected one of: none in the beta interface)",
        ),
        ("my-deployment", AZURE, "realtime", None),
        (
            "gpt-4o-transcribe",
            GA,
            "realtime",
            "gpt-4o-transcribe is a transcription model, not a realtime model",
        ),
        (
            "gpt-realtime-2",
            BETA_TODAY,
            "realtime",
            "gpt-realtime-2 is not available in the beta interface (it is GA only)",
        ),
        (
            "gpt-4o-realtime-preview",
            GA,
            "realtime",
            "gpt-4o-realtime-preview was shut down; use gpt-realtime-2.1",
        ),
        (
            "gpt-4o-realtime-preview-2024-12-17",
            JobRules("beta", known_endpoint=False, today=TODAY),
            "realtime",
            None,
        ),
        (
            "gpt-realtime",
            JobRules(today=AFTER_REALTIME),
            "realtime",
            "gpt-realtime was shut down on 2027-01-20; use gpt-realtime-2.1",
        ),
        ("gpt-realtime", JobRules(today=dt.date(2027, 1, 19)), "realtime", None),
        ("gpt-live-transcribe", GA, "transcription", None),
        (
            "gpt-live-transcribe",
            BETA_TODAY,
            "transcription",
            "gpt-live-transcribe is not available in the beta interface (it is GA only)",
        ),
        (
            "whisper-1",
            JobRules(today=AFTER_TRANSCRIBE),
            "transcription",
            "whisper-1 was shut down on 2027-02-26; use gpt-transcribe",
        ),
        (
            "gpt-realtime",
            GA,
            "transcription",
            "gpt-realtime is a realtime model, not a transcription model",
        ),
    ],
)
def test_model_problem(model: str, rules: JobRules, kind: Any, message: str | None) -> None:
    """The run model is refused when unknown (on OpenAI), of the wrong kind or dialect, or shut."""
    assert model_problem(model, rules, kind=kind) == message


@pytest.mark.parametrize(
    ("model", "today", "warning"),
    [
        ("gpt-realtime", TODAY, "gpt-realtime shuts down on 2027-01-20; use gpt-realtime-2.1"),
        (
            "gpt-realtime-mini-2025-12-15",
            TODAY,
            "gpt-realtime-mini-2025-12-15 shuts down on 2027-01-20; use gpt-realtime-2.1-mini",
        ),
        ("whisper-1", TODAY, "whisper-1 shuts down on 2027-02-26; use gpt-transcribe"),
        ("gpt-realtime", AFTER_REALTIME, None),
        ("gpt-realtime-1.5", TODAY, None),
        ("gpt-realtime-mini-2025-10-06", TODAY, None),
        ("gpt-4o-realtime-preview", TODAY, None),
        ("my-deployment", TODAY, None),
    ],
)
def test_shutdown_warning(model: str, today: dt.date, warning: str | None) -> None:
    """Only a model with a shutdown still ahead is warned about, with its date and successor."""
    assert shutdown_warning(model, today) == warning


def test_shutdown_warning_defaults_to_today() -> None:
    """Without a date, today is used: the same answer as passing date.today()."""
    assert shutdown_warning("gpt-realtime") == shutdown_warning("gpt-realtime", dt.date.today())


def test_usable_models() -> None:
    """Each dialect reaches its own transcription models; shut-down models drop out on OpenAI."""
    assert ", ".join(usable_models("transcription", GA)) == GA_TRANSCRIBE
    assert ", ".join(usable_models("transcription", BETA)) == BETA_TRANSCRIBE
    assert usable_models("transcription", JobRules("beta", today=AFTER_TRANSCRIBE)) == ()
    assert usable_models("realtime", JobRules("beta", today=AFTER_REALTIME)) == ()
    assert "gpt-realtime" in usable_models(
        "realtime", JobRules("beta", known_endpoint=False, today=AFTER_REALTIME)
    )
