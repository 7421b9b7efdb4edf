"""Process exit codes, defined once; ``--help`` and the README list them from here."""

from __future__ import annotations

EXIT_OK = 0
"""Every job completed (or was already complete)."""
EXIT_FAILED = 1
"""The run finished, but some jobs ended failed (or, with --fail-on-check, a check failed)."""
EXIT_USAGE = 2
"""Bad usage or bad input: nothing was sent."""
EXIT_FATAL = 3
"""A run-fatal error (bad key, a model the service refuses, quota, dialect) stopped the run."""
EXIT_BUDGET = 4
"""--max-cost was reached: no new jobs were started; rerun with a larger budget to go on."""
EXIT_INTERNAL = 70
"""An internal error of rtbatch (a bug, sysexits' EX_SOFTWARE); what finished is written."""
EXIT_TRY_LATER = 75
"""A limit resets later than the run could wait (sysexits' EX_TEMPFAIL); rerun later."""
EXIT_INTERRUPTED = 130
"""Stopped by SIGINT/SIGTERM or by --deadline; rerun the same command to continue."""

#: Every code with what ``--help`` says of it, in order.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "all jobs completed"),
    (EXIT_FAILED, "some jobs failed, or with --fail-on-check a line failed its checks"),
    (EXIT_USAGE, "bad usage or bad input (nothing sent)"),
    (
        EXIT_FATAL,
        "stopped by a run-fatal error (bad key, a model the service refuses, quota,"
        " no endpoint, an untrusted certificate)",
    ),
    (EXIT_BUDGET, "stopped at --max-cost"),
    (EXIT_INTERNAL, "internal error"),
    (EXIT_TRY_LATER, "try later (a rate limit resets later than --max-wait; rerun to resume)"),
    (EXIT_INTERRUPTED, "interrupted by a signal or --deadline (rerun to resume)"),
)

EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES) + "."
