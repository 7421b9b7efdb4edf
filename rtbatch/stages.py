"""The names of the latency stages a result line records (:mod:`rtbatch.latency`).

Plain constants, so that a job file's ``expect`` can name a stage at read time
(:mod:`rtbatch.jobs.expect`) without the job layer importing the session's.
"""

from __future__ import annotations

#: The stages of a response, in the order they happen.
RESPONSE_STAGES = ("created", "first_text", "first_audio", "done")
#: A transcribe job's only stage: from a commit to its transcript.
TRANSCRIPT_STAGE = "transcript"
#: Every stage a line can record.
STAGES = (*RESPONSE_STAGES, TRANSCRIPT_STAGE)
