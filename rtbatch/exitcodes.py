"""Process exit codes, defined once; the CLI's --help and the README list them."""

EXIT_OK = 0
"""Every job completed (or was already complete)."""
EXIT_FAILED = 1
"""The run finished, but some jobs ended failed."""
EXIT_USAGE = 2
"""Bad usage or bad input: nothing was sent."""
EXIT_FATAL = 3
"""A run-fatal error (bad key, unknown model, quota, refused dialect) stopped the run."""
EXIT_BUDGET = 4
"""--max-cost was reached: no new jobs were started; rerun with a larger budget to go on."""
EXIT_INTERNAL = 70
"""An internal error of rtbatch (a bug, sysexits' EX_SOFTWARE); what finished is written."""
EXIT_TRY_LATER = 75
"""A limit resets later than the run could wait (sysexits' EX_TEMPFAIL); rerun later."""
EXIT_INTERRUPTED = 130
"""Stopped by SIGINT/SIGTERM or by --deadline; rerun the same command to continue."""

EPILOG = (
    "Exit codes: 0 all jobs completed; 1 some jobs failed; 2 bad usage or bad input; "
    "3 stopped by a run-fatal error (bad key, unknown model, quota); "
    "4 stopped at --max-cost; 70 internal error; "
    "75 try later (a rate limit resets later than --max-wait; rerun to resume); "
    "130 interrupted by a signal or --deadline (rerun to resume)."
)
