"""What a run leaves on disk: the result file and everything written beside it.

One concept per module, imported by its own name (this package re-exports
nothing, so ``rtbatch.output.formats`` stays cheap to import for the CLI):

- :mod:`~rtbatch.output.outcome`: how one job ended, the shape of its result line;
- :mod:`~rtbatch.output.results`: the writer, append-only JSONL flushed per line;
- :mod:`~rtbatch.output.lock`: the one lock on a result file (runs and merges);
- :mod:`~rtbatch.output.resume`: reading an earlier result file, repairing it;
- :mod:`~rtbatch.output.checkpoint`: finished segments of long files and turns of
  conversations not yet settled;
- :mod:`~rtbatch.output.transcript`: a long file's transcript from its segments;
- :mod:`~rtbatch.output.turns`: a conversation's output from its finished turns;
- :mod:`~rtbatch.output.formats`: transcript files (txt, srt, vtt, json);
- :mod:`~rtbatch.output.audio_sink`: a job's spoken answer streamed to a WAV file;
- :mod:`~rtbatch.output.atomic`: the one atomic writer every file above goes through;
- :mod:`~rtbatch.output.writing`: a failed write of any of them, as ``OutputFailed``.
"""
