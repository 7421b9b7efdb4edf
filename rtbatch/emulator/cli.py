"""``rtbatch serve``: run the emulator from the shell.

Importing this module must stay cheap (``rtbatch --help`` < 150 ms): trio and the
server are imported inside the command.
"""

from __future__ import annotations

import datetime as dt

import click

from rtbatch.emulator.defaults import (
    ACCOUNT_FATAL_CODES,
    DEFAULT_ACCOUNT_FATAL_CODE,
    DEFAULT_CLI_PORT,
    DEFAULT_HOST,
    DEFAULT_REPLY_WORDS,
    DEFAULT_SESSION_MAX_S,
    FAULT_KINDS,
)


def _parse_fault(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    faults: dict[str, float] = {}
    for value in values:
        kind, sep, rate_text = value.partition("=")
        if not sep or kind not in FAULT_KINDS:
            raise click.BadParameter(
                f"{value!r}: expected KIND=RATE with KIND one of {', '.join(sorted(FAULT_KINDS))}"
            )
        try:
            rate = float(rate_text)
        except ValueError:
            raise click.BadParameter(f"{value!r}: RATE must be a number in 0..1") from None
        if not 0.0 <= rate <= 1.0:
            raise click.BadParameter(f"{value!r}: RATE must be within 0..1")
        faults[kind] = rate
    return faults


def _parse_shutdown(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, dt.date | None]:
    dates: dict[str, dt.date | None] = {}
    for value in values:
        model, sep, date_text = value.partition("=")
        if not sep or not model:
            raise click.BadParameter(f"{value!r}: expected MODEL=YYYY-MM-DD (or MODEL=none)")
        try:
            dates[model] = None if date_text == "none" else dt.date.fromisoformat(date_text)
        except ValueError:
            raise click.BadParameter(f"{value!r}: the date must be YYYY-MM-DD or none") from None
    return dates


@click.command(context_settings={"auto_envvar_prefix": "RTBATCH_SERVE"})
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=DEFAULT_CLI_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port; 0 picks a free one (printed on stderr).",
)
@click.option(
    "--api-key",
    default=None,
    show_default=True,
    envvar="RTBATCH_SERVE_API_KEY",
    help="The only key accepted (prefer the RTBATCH_SERVE_API_KEY variable). "
    "Unset: any non-empty key.",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Delay before a response's first output event.",
)
@click.option(
    "--token-delay-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Delay between streamed deltas.",
)
@click.option(
    "--reply-words",
    default=DEFAULT_REPLY_WORDS,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Words per generated reply.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_parse_fault,
    metavar="KIND=RATE",
    show_default=True,
    help="Inject a fault with probability RATE (repeatable); KIND: "
    + ", ".join(sorted(FAULT_KINDS))
    + ".",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault dice.")
@click.option(
    "--session-max-seconds",
    default=DEFAULT_SESSION_MAX_S,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Session lifetime before session_expired.",
)
@click.option(
    "--rpm",
    default=None,
    show_default=True,
    type=click.IntRange(1),
    help="Requests per minute, all connections together (unset: generous).",
)
@click.option(
    "--tpm",
    default=None,
    show_default=True,
    type=click.IntRange(1),
    help="Tokens per minute, all connections together (unset: generous).",
)
@click.option(
    "--rpd",
    default=None,
    show_default=True,
    type=click.IntRange(1),
    help="Requests per day, all connections together (unset: no daily limit).",
)
@click.option(
    "--max-inflight",
    default=None,
    show_default=True,
    type=click.IntRange(1),
    help="Responses and transcriptions in flight at once; more are refused with "
    "inference_rate_limit_exceeded (unset: no limit).",
)
@click.option(
    "--account-fatal-code",
    default=DEFAULT_ACCOUNT_FATAL_CODE,
    show_default=True,
    type=click.Choice(ACCOUNT_FATAL_CODES),
    help="The code the account_fatal fault ends the account with.",
)
@click.option(
    "--certfile",
    default=None,
    show_default=True,
    type=click.Path(exists=True, dir_okay=False),
    help="TLS certificate: serve wss://.",
)
@click.option(
    "--keyfile",
    default=None,
    show_default=True,
    type=click.Path(exists=True, dir_okay=False),
    help="TLS private key.",
)
@click.option(
    "--accept-beta",
    is_flag=True,
    default=False,
    show_default=True,
    help="Serve the beta dialect and beta-era models, as a compatible server would. "
    "Off: refuse beta as api.openai.com does (error, close 4000).",
)
@click.option(
    "--shutdown-date",
    "shutdown_dates",
    multiple=True,
    callback=_parse_shutdown,
    metavar="MODEL=DATE",
    help="The shutdown date GET /v1/models gives MODEL instead of the catalogue's "
    "(YYYY-MM-DD, or none), to rehearse an announcement; repeatable.",
)
def serve(
    host: str,
    port: int,
    api_key: str | None,
    latency_ms: float,
    token_delay_ms: float,
    reply_words: int,
    faults: dict[str, float],
    seed: int,
    session_max_seconds: float,
    rpm: int | None,
    tpm: int | None,
    rpd: int | None,
    max_inflight: int | None,
    account_fatal_code: str,
    certfile: str | None,
    keyfile: str | None,
    accept_beta: bool,
    shutdown_dates: dict[str, dt.date | None],
) -> None:
    """Serve a local OpenAI Realtime API emulator at ws://HOST:PORT/v1/realtime."""
    from rtbatch.emulator.main import run_forever

    if keyfile and not certfile:
        raise click.BadParameter("--keyfile needs --certfile", param_hint="--keyfile")
    run_forever(
        host=host,
        port=port,
        api_key=api_key or None,
        latency_ms=latency_ms,
        token_delay_ms=token_delay_ms,
        reply_words=reply_words,
        faults=faults,
        seed=seed,
        session_max_seconds=session_max_seconds,
        rpm=rpm,
        tpm=tpm,
        rpd=rpd,
        max_inflight=max_inflight,
        account_fatal_code=account_fatal_code,
        certfile=certfile,
        keyfile=keyfile,
        accept_beta=accept_beta,
        shutdown_dates=shutdown_dates,
    )
