"""How a job's try becomes its line: result lines, transcript files, expected costs.

Pure builders of :class:`~rtbatch.output.outcome.Outcome` from a reply or a final
failure (a long file's finished segments make it ``incomplete``), with the job's
checks evaluated on the line, the transcript
files of a transcribe job, and a job's expected cost for ``--max-cost``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import trio

from rtbatch import errors
from rtbatch.config import RunConfig
from rtbatch.cost import outcome_cost, priced_turns
from rtbatch.estimate import Estimator
from rtbatch.evals.checks import all_passed, answer_of, evaluate, not_run
from rtbatch.evals.wer import word_errors
from rtbatch.jobs import Job
from rtbatch.output.outcome import Outcome
from rtbatch.output.transcript import sum_usage, transcript_output
from rtbatch.output.turns import conversation_output, conversation_usage
from rtbatch.output.writing import writing
from rtbatch.run.ledger import Attempt
from rtbatch.session import JobReply

#: ``output.reason`` of a conversation that failed for good after some of its turns.
TURN_FAILED = "turn_failed"


def model_of(config: RunConfig, job: Job) -> str:
    """The model that does a job's work: the run's, or its transcription model."""
    if job.kind != "transcribe":
        return config.model
    named = job.transcription.model if job.transcription else None
    return named or config.transcription_model


def scored(job: Job, output: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``wer`` of a job with a reference: its transcript scored, None without one."""
    transcript = (output or {}).get("transcript")
    if job.reference is None or not isinstance(transcript, str):
        return None
    return word_errors(job.reference, transcript).to_dict()


def success_outcome(
    config: RunConfig, attempt: Attempt, reply: JobReply, started: float
) -> Outcome:
    """The line of a job that completed (or ended incomplete by the service's word)."""
    job = attempt.job
    model = model_of(config, job)
    return checked(
        job,
        Outcome(
            job_id=job.id,
            status=reply.status,
            kind=job.kind,
            line=job.line,
            attempts=attempt.attempts,
            output=reply.output,
            usage=reply.usage,
            model=model,
            cost_usd=attempt.cost_usd,
            response_id=reply.response_id,
            latency_ms=round((trio.current_time() - started) * 1000),
            latency=reply.latency,
            metadata=job.metadata,
            has_reference=job.reference is not None,
            wer=scored(job, reply.output),
        ),
    )


def checked(job: Job, outcome: Outcome) -> Outcome:
    """The line with its ``checks`` and ``passed`` when the job has an ``expect``.

    Evaluated once the job's fate is decided, from the line alone: checks never
    make a job retried, nor spare it a retry. A line with output (completed, or
    incomplete with what it produced) is checked; a failed job's checks are not run.
    """
    if job.expect is None:
        return outcome
    if outcome.status == "failed":
        results = not_run(job.expect, "the job failed")
    else:
        answer = answer_of(outcome.output, outcome.latency, outcome.latency_ms, outcome.cost_usd)
        results = evaluate(job.expect, answer)
    outcome.checks = [dict(r) for r in results]
    outcome.passed = all_passed(results)
    return outcome


def failed_outcome(config: RunConfig, attempt: Attempt, failure: errors.RtbatchError) -> Outcome:
    """A job's last word after its last try: ``failed``, or ``incomplete`` with the
    segments of a long file that were transcribed or the turns of a conversation that
    were answered (the error names what failed)."""
    from rtbatch.audio import sample_rate_of

    job = attempt.job
    done = attempt.done_segments()
    turns = attempt.done_turns()
    model = model_of(config, job)
    output: dict[str, Any] | None = None
    usage = None
    cost_usd = None
    if done:
        output = transcript_output(
            done, sample_rate_of(config.audio_format), reason="segment_failed"
        )
        usage = sum_usage(s.usage for s in done)
        cost_usd = outcome_cost(model, usage) if usage else None
    elif turns:
        output = conversation_output(turns, reason=TURN_FAILED)
        usage = conversation_usage(turns)
        cost_usd = priced_turns(model, output["turns"])
    return checked(
        job,
        Outcome(
            job_id=job.id,
            status="incomplete" if output is not None else "failed",
            kind=job.kind,
            line=job.line,
            attempts=attempt.attempts,
            output=output,
            usage=usage,
            model=model,
            cost_usd=cost_usd,
            error=failure.to_result(),
            metadata=job.metadata,
            has_reference=job.reference is not None,
            wer=scored(job, output),
        ),
    )


async def write_transcripts(
    config: RunConfig, job: Job, output: dict[str, Any], usage: object
) -> None:
    """The job's transcript files (``--transcripts``), written whole in a thread.

    Raises:
        OutputFailed: a file cannot be written (run-fatal, never retried).
    """
    directory = config.transcripts
    if directory is None or job.kind != "transcribe" or not config.formats:
        return
    from rtbatch.output.formats import write_transcripts as write

    with writing(f"transcripts of {job.id}"):
        await trio.to_thread.run_sync(
            partial(
                write,
                directory,
                job.id,
                str(output.get("transcript") or ""),
                output.get("segments") or [],
                usage if isinstance(usage, dict) else None,
                config.formats,  # type: ignore[arg-type]
            )
        )


async def expected_cost(estimator: Estimator | None, job: Job, done_turns: int = 0) -> float:
    """A job's expected cost in USD, for ``--max-cost`` (0 when it cannot be priced).

    ``done_turns``: a conversation's turns answered already (a retry or a rerun asks
    only the rest): what is left is the whole conversation's price less that of its
    first ``done_turns`` turns, since each later turn still reads them.
    """
    if estimator is None:
        return 0.0
    whole = await _expected(estimator, job)
    if not done_turns or job.turns is None:
        return whole
    return max(0.0, whole - await _expected(estimator, replace(job, turns=job.turns[:done_turns])))


async def _expected(estimator: Estimator, job: Job) -> float:
    try:
        if job.audio is None and not any(t.audio for t in job.turns or ()):
            found = estimator.job(job)
        else:  # probing may decode (a conversation's audio turns too): never in the event loop
            found = await trio.to_thread.run_sync(estimator.job, job)
    except (errors.BadAudio, OSError):
        return 0.0  # the job fails on its own audio, and costs nothing
    return found.usd.expected if found.usd is not None else 0.0
