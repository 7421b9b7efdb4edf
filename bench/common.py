"""What every benchmark shares: the emulator subprocess, measured children, job files.

Only the standard library is imported here, and the driver (``python -m bench``)
imports nothing heavier: on Linux a child's ``ru_maxrss`` starts from the RSS of
the process that forked it (the pre-``exec`` address space is counted), so a
driver that had loaded trio, the SDK or 1,000 sockets would inflate every peak
RSS it measures. Benchmarks that must import heavy modules run in a child.

CPU placement: where the machine has two cores or more, the emulator is pinned
to core 1 and every measured client to core 0, so the server never steals the
client's CPU and each side's CPU time is its own. The driver pins itself to a
core only for the instant of a spawn (the child inherits the mask).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIB = 1024 * 1024
#: Any non-empty key: the emulator is started without ``--api-key``.
API_KEY = "sk-bench-local"
LISTENING = re.compile(r"listening on (wss?://\S+)")
#: Clock ticks per second, for /proc/<pid>/stat CPU times.
_TICKS = os.sysconf("SC_CLK_TCK")
#: Where children cache bytecode (see :func:`child_env`).
PYCACHE = str(Path(tempfile.gettempdir()) / "rtbatch-bench-pycache")
#: How long a started emulator may take to print its listening line.
EMULATOR_START_S = 20.0


# -- placement -------------------------------------------------------------


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def placement() -> tuple[set[int] | None, set[int] | None]:
    """CPU sets for (client, emulator): cores 0 and 1 apart, or no pinning on one core."""
    cpus = _cpus()
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


@contextlib.contextmanager
def _spawn_affinity(cpus: set[int] | None) -> Iterator[None]:
    """Run the body (a spawn) with this thread pinned to ``cpus``; restore after."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child: the repo on ``PYTHONPATH``, the bench key, no debug."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OPENAI_API_KEY"] = API_KEY
    # Bytecode is cached as it is for an installed package; some sandboxes set
    # PYTHONDONTWRITEBYTECODE, which would make every child compile rtbatch from
    # source. The cache goes to a temporary prefix, never into the repository.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    for noisy in ("PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONTRACEMALLOC", "OPENAI_LOG"):
        env.pop(noisy, None)
    env.update(extra)
    return env


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-file limit (inherited by children) to ``needed`` if allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed)) if hard != resource.RLIM_INFINITY else max(soft, needed)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# -- measured children -------------------------------------------------------


@dataclass
class ChildResult:
    """A finished child: exit code, wall time, CPU time and peak RSS from ``wait4``."""

    argv: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mib: float
    stderr_tail: str = ""
    stdout: str = ""

    @property
    def cpu_s(self) -> float:
        """User plus system CPU seconds."""
        return self.user_s + self.sys_s

    def figures(self) -> dict[str, Any]:
        """The numbers, rounded, for results.json."""
        return {
            "returncode": self.returncode,
            "process_wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "user_s": round(self.user_s, 3),
            "sys_s": round(self.sys_s, 3),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
        }


def self_rss_mib() -> float:
    """This process's current RSS (the floor any child's ``ru_maxrss`` starts from)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def run_child(
    argv: Sequence[str],
    *,
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
    capture_stdout: bool = False,
) -> ChildResult:
    """Run ``argv`` to the end and measure it with ``os.wait4``.

    ``ru_maxrss`` of ``wait4`` is this child's own peak RSS, user/sys its own CPU.
    stderr goes to a temporary file (never a pipe that could fill and stall the
    child); its tail is kept for error messages. Past ``timeout_s`` the child is
    killed and the result says so with returncode -9.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        with _spawn_affinity(cpus):
            started = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out if capture_stdout else subprocess.DEVNULL,
                stderr=err,
                env=env or child_env(),
                cwd=ROOT,
            )
        killer = threading.Timer(timeout_s, _kill, (proc.pid,))
        killer.daemon = True
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: tell Popen
        err.seek(0)
        tail = err.read()[-4000:].decode(errors="replace")
        out.seek(0)
        stdout = out.read().decode(errors="replace") if capture_stdout else ""
    return ChildResult(
        argv=list(argv),
        returncode=proc.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / MIB,
        stderr_tail=tail,
        stdout=stdout,
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def run_python_call(
    module: str, func: str = "run", kwargs: dict[str, Any] | None = None, timeout_s: float = 600.0
) -> Any:
    """Call ``module.func(**kwargs)`` in a fresh interpreter; return its JSON-able result.

    Used for the benchmarks other people wrote: a crash, a missing module or a
    hang costs that section only, and their heavy imports (and their own
    children's RSS) never touch the driver.
    """
    code = (
        "import json, sys, importlib\n"
        f"m = importlib.import_module({module!r})\n"
        f"r = m.{func}(**json.loads({json.dumps(kwargs or {})!r}))\n"
        "sys.stdout.write('\\n@@BENCH@@' + json.dumps(r, default=str))\n"
    )
    res = run_child([PYTHON, "-c", code], timeout_s=timeout_s, capture_stdout=True)
    marker = res.stdout.rfind("@@BENCH@@")
    if res.returncode != 0 or marker < 0:
        why = "timed out" if res.returncode == -9 else f"exit {res.returncode}"
        raise RuntimeError(f"{module}.{func}() failed ({why}): {res.stderr_tail[-1500:]}")
    return json.loads(res.stdout[marker + len("@@BENCH@@") :])


# -- the emulator ------------------------------------------------------------


@dataclass
class Emulator:
    """``rtbatch serve`` in its own process (pinned to the emulator core)."""

    latency_ms: float = 0.0
    token_delay_ms: float = 0.0
    reply_words: int = 12
    extra: list[str] = field(default_factory=list)
    #: What follows the interpreter: another entry point taking ``rtbatch serve``'s options.
    program: tuple[str, ...] = ("-m", "rtbatch", "serve")
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self) -> Emulator:
        """Start it and wait for its listening line."""
        _, emu_cpus = placement()
        # Closed (and deleted) by stop(); a file, not a pipe, so the log never blocks.
        self._log = tempfile.NamedTemporaryFile(prefix="rtbatch-bench-emu-", suffix=".log")  # noqa: SIM115
        argv = [
            PYTHON,
            *self.program,
            "--port",
            "0",
            "--latency-ms",
            f"{self.latency_ms:g}",
            "--token-delay-ms",
            f"{self.token_delay_ms:g}",
            "--reply-words",
            str(self.reply_words),
            *self.extra,
        ]
        env = child_env()
        env.pop("RTBATCH_SERVE_API_KEY", None)
        with _spawn_affinity(emu_cpus):
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                env=env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + EMULATOR_START_S
        while time.monotonic() < deadline:
            text = Path(self._log.name).read_text(errors="replace")
            if match := LISTENING.search(text):
                self.url = match.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited {self.proc.returncode}: {text[-2000:]}")
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("emulator did not print its listening line in time")

    def cpu_s(self) -> float:
        """The emulator's CPU seconds so far (user + system, from /proc)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_mib(self) -> dict[str, float]:
        """Current and peak RSS of the emulator."""
        assert self.proc is not None
        out: dict[str, float] = {}
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = round(int(value.split()[0]) / 1024, 1)
        return out

    def stop(self) -> None:
        """SIGINT, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- rtbatch run -------------------------------------------------------------


def run_rtbatch(
    emulator: Emulator,
    jobs: Path,
    concurrency: int,
    *,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """``rtbatch run`` as a measured child (client core); figures plus its summary.

    ``env`` adds to the child's environment (:func:`child_env`).

    The result file is removed first (a rerun would resume and skip everything).
    ``run_wall_s`` is the summary's ``wall_s``: the run itself, without interpreter
    start-up and without the validation pass over the job file.
    """
    client_cpus, _ = placement()
    out = jobs.with_suffix(".results.jsonl")
    summary = jobs.with_suffix(".summary.json")
    for stale in (out, summary, Path(str(out) + ".lock")):
        stale.unlink(missing_ok=True)
    argv = [
        PYTHON,
        "-m",
        "rtbatch",
        "run",
        str(jobs),
        "-o",
        str(out),
        "--url",
        emulator.url,
        "-c",
        str(concurrency),
        "-q",
        "--summary",
        str(summary),
        *extra,
    ]
    emu_before = emulator.cpu_s()
    res = run_child(argv, cpus=client_cpus, env=child_env(**(env or {})), timeout_s=timeout_s)
    emu_cpu = emulator.cpu_s() - emu_before
    figures = res.figures()
    figures["emulator_cpu_s"] = round(emu_cpu, 3)
    if summary.exists():
        data = json.loads(summary.read_text())
        figures["run_wall_s"] = data.get("wall_s")
        figures["completed"] = data.get("counts", {}).get("completed")
        figures["failed"] = data.get("counts", {}).get("failed")
        figures["not_started"] = data.get("not_started")
        figures["stopped"] = data.get("stopped")
    if res.returncode not in (0, 130) or not summary.exists():
        figures["error"] = res.stderr_tail[-1500:]
    out.unlink(missing_ok=True)
    return figures


# -- job files -----------------------------------------------------------------

_PROMPTS = (
    "Say hello in French.",
    "Name a prime number larger than one hundred.",
    "Give one word that rhymes with light.",
    "What colour is the sky on a clear day?",
)


def write_text_jobs(path: Path, count: int) -> Path:
    """``count`` short text jobs (``{"id", "prompt"}``), written line by line."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            prompt = _PROMPTS[i % len(_PROMPTS)]
            out.write(f'{{"id":"job-{i:07d}","prompt":"{prompt} (#{i})"}}\n')
    return path


# -- statistics and machine --------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "nproc": os.cpu_count(),
        "usable_cpus": len(_cpus()),
    }
    client, emu = placement()
    info["pinning"] = (
        {"client_cpu": sorted(client), "emulator_cpu": sorted(emu)}
        if client and emu
        else "none (fewer than 2 usable cores)"
    )
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
    versions = {}
    for name in ("trio", "trio_websocket", "wsproto", "orjson", "openai", "websockets"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
    info["versions"] = versions
    return info
