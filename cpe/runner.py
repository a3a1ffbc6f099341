"""One child process per activity task, and the parent's supervision of it.

The parent has already imported every handler, so a Python task is a plain ``fork()``: the
child starts from a clean copy of a process that does nothing but poll (no threads, no open
task), which costs a few milliseconds where ``spawn`` costs a whole interpreter start-up (see
``benchmarks/task_overhead.py`` and docs/activities.md). A command task is ``fork()+exec``.

Every child leads its own session and process group, so one ``killpg`` takes the whole tree,
works in a private temporary directory that is removed afterwards, and has its stdout and
stderr captured to files whose tail goes into failure details. It talks to the parent with
JSON lines over a pipe (a Python child) or its stderr (a command):

    {"progress": 42}   {"preparing": true}   {"finishing": true}   {"heartbeat": "any JSON"}
    {"result": <JSON>} (Python only)          {"error": {"reason": "...", "details": "..."}}

:func:`supervise` is the parent's side: it relays those lines to :class:`Hooks` (the poller
turns them into SQS events and SWF heartbeats), heartbeats on its own schedule, handles
cancellation and shutdown deadlines, and turns the child's end into an :data:`Outcome`. It
never touches AWS itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol

from cpe.activities import Context, Handler, TaskIds
from cpe.errors import ActivityFailed

MAX_RESULT = 32768  # SWF's limit on an activity result
MAX_HEARTBEAT_DETAILS = 2048
TAIL_BYTES = 4096  # how much of the child's stderr/stdout goes into failure details
_MB = 1024 * 1024

# Failure reasons the runner produces itself (user code chooses its own with ActivityFailed).
MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
CPU_LIMIT_EXCEEDED = "CPU_LIMIT_EXCEEDED"
RESULT_TOO_LARGE = "RESULT_TOO_LARGE"
INVALID_INPUT = "INVALID_INPUT"
INVALID_RESULT = "INVALID_RESULT"
NO_RESULT = "NO_RESULT"
WORKER_SHUTDOWN = "WORKER_SHUTDOWN"
COMMAND_NOT_STARTED = "COMMAND_NOT_STARTED"

_MAX_LINE = 1024 * 1024
_PROTOCOL_KEYS = frozenset({"progress", "preparing", "finishing", "heartbeat", "result", "error"})


# --- what to run and how it ended -------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    memory_mb: int | None = None  # RLIMIT_AS: the child's whole address space
    cpu_seconds: int | None = None  # RLIMIT_CPU


@dataclass(frozen=True)
class Task:
    """One activity task to run: exactly one of ``handler`` and ``command`` is set."""

    ids: TaskIds
    input: str | None
    handler: Handler | None = None
    command: tuple[str, ...] | None = None
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.command is None):
            raise ValueError("a Task needs exactly one of handler and command")


@dataclass(frozen=True)
class Completed:
    result: str  # JSON text, at most MAX_RESULT characters


@dataclass(frozen=True)
class Failed:
    reason: str
    details: str


@dataclass(frozen=True)
class Canceled:
    details: str


@dataclass(frozen=True)
class Gone:
    """SWF no longer knows the task (timed out, workflow closed): nothing to respond."""

    why: str


Outcome = Completed | Failed | Canceled | Gone


class TaskGone(Exception):
    """Raised by :meth:`Hooks.heartbeat` when SWF says the task no longer exists."""


class Hooks(Protocol):
    """The parent's side effects, implemented by the poller (SQS events, SWF heartbeats)."""

    def preparing(self) -> None: ...

    def progress(self, value: Any) -> None: ...

    def finishing(self) -> None: ...

    def heartbeat(self, details: str) -> bool:
        """Heartbeat SWF; True when a cancel was requested. Raises TaskGone."""
        ...


@dataclass(frozen=True)
class Policy:
    heartbeat_interval: float  # a fraction of the heartbeat timeout (see heartbeat_interval())
    cancel_grace: float = 5.0  # after telling the child about a cancel, before the kill
    shutdown_grace: float = 30.0  # after the first TERM, before the kill
    progress_interval: float = 0.3  # at most ~3 ACTIVITY_PROGRESS per second per task


def heartbeat_interval(heartbeat_timeout: str) -> float:
    """Heartbeat three times per timeout, and at least every 20 s so cancels are noticed."""
    if not heartbeat_timeout.isdigit() or int(heartbeat_timeout) == 0:
        return 20.0
    return max(0.2, min(int(heartbeat_timeout) / 3, 20.0))


@dataclass
class Shutdown:
    """Set by the daemon's signal handlers; read by :func:`supervise`.

    ``wake_fd`` is the read end of the daemon's ``signal.set_wakeup_fd`` pipe, so a signal
    interrupts supervision at once instead of at the next heartbeat.
    """

    requested_at: float | None = None
    forced: bool = False
    wake_fd: int | None = None

    def request(self) -> None:
        if self.requested_at is None:
            self.requested_at = time.monotonic()
        else:
            self.forced = True

    def deadline(self, grace: float) -> float | None:
        if self.forced:
            return 0.0
        return None if self.requested_at is None else self.requested_at + grace


# --- the child ---------------------------------------------------------------------------


class _Files:
    """The task's working directory and its std streams.

    The streams are anonymous temporary files (no name, nothing to unlink), so the only
    directory entry a task costs is its working directory: directory operations were the
    largest part of the runner's own overhead.
    """

    def __init__(self, task: Task) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="cpe-task-"))
        self.stdout = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.stdin: BinaryIO | None = None
        if task.command is not None:  # a command reads its input on stdin
            self.stdin = tempfile.TemporaryFile()  # noqa: SIM115
            self.stdin.write((task.input or "").encode())
            self.stdin.flush()
            self.stdin.seek(0)

    def close(self) -> None:
        for file in (self.stdout, self.stderr, self.stdin):
            if file is not None:
                file.close()
        shutil.rmtree(self.work, ignore_errors=True)


class _PipeReporter:
    """The child's end of the protocol: one JSON line per message, whole lines only."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, message: dict[str, Any]) -> None:
        # allow_nan=False: NaN and Infinity are not JSON, and clients would choke on them.
        data = (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]


_SignalHandler = Callable[[int, Any], None] | int


def _reset_signals(on_cancel: _SignalHandler) -> None:
    # The daemon's flag-setting handlers and wakeup fd must not leak into the task.
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; executables expect the default
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    # SIGUSR1 (cancel) was blocked across the fork; its handler is in place before unblocking,
    # so a cancel sent the instant the child starts is seen, not fatal.
    signal.signal(signal.SIGUSR1, on_cancel)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _apply_limits(limits: Limits) -> None:
    if limits.memory_mb is not None:
        size = limits.memory_mb * _MB
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if limits.cpu_seconds is not None:
        # Soft limit → SIGXCPU (reported as CPU_LIMIT_EXCEEDED); the hard one is the backstop.
        cpu = limits.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


# The signal a child gets when its poller dies without reaping it (SIGKILL of the poller).
_PARENT_DIED = signal.SIGRTMIN
_PR_SET_PDEATHSIG = 1


def _kill_own_group(signum: int, frame: Any) -> None:
    os.killpg(0, signal.SIGKILL)  # the task and everything it started


def _die_with_parent(parent: int, signum: int) -> None:
    """Have the kernel signal this child when the poller that forked it dies.

    Being in its own session, the task is out of reach of supervisord's ``killasgroup``; without
    this, a poller killed by SIGKILL would leave its task running unsupervised (and SWF would
    hand the task to another poller after the heartbeat timeout: the same work twice).
    """
    if sys.platform != "linux":
        return
    import ctypes  # only here: the child, on Linux

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os.killpg(0, signal.SIGKILL)


def _enter_child(
    files: _Files, limits: Limits, stderr: int | None, on_cancel: _SignalHandler, parent: int
) -> None:
    """Isolate the freshly forked child: session, signals, directory, std streams, limits."""
    os.setsid()
    _reset_signals(on_cancel)
    if stderr is None:  # a Python task: take its whole group down with the poller
        signal.signal(_PARENT_DIED, _kill_own_group)
        _die_with_parent(parent, _PARENT_DIED)
    else:  # a command (stderr is the protocol pipe): no handler survives exec
        _die_with_parent(parent, signal.SIGKILL)
    os.chdir(files.work)
    os.environ["TMPDIR"] = str(files.work)  # temp files land in the directory removed after
    tempfile.tempdir = None
    stdin = files.stdin.fileno() if files.stdin else os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(files.stdout.fileno(), 1)
    os.dup2(stderr if stderr is not None else files.stderr.fileno(), 2)
    # Whatever the parent's sys.std* were (a test runner's capture, say), the task's go to fds.
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    _apply_limits(limits)


def _run_python_child(task: Task, files: _Files, pipe_w: int, parent: int) -> NoReturn:
    code = 1
    cancelled = [False]

    def on_cancel(signum: int, frame: Any) -> None:
        cancelled[0] = True

    try:
        _enter_child(files, task.limits, None, on_cancel, parent)
        code = _call_handler(task, _PipeReporter(pipe_w), lambda: cancelled[0])
    except BaseException:  # nothing may ever escape into the parent's code in this process
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _call_handler(task: Task, reporter: _PipeReporter, cancelled: Callable[[], bool]) -> int:
    """Run the handler and report its result or error; returns the child's exit code."""
    assert task.handler is not None
    try:
        value = json.loads(task.input) if task.input else None
    except ValueError as exc:
        reporter.send({"error": {"reason": INVALID_INPUT, "details": f"input is not JSON: {exc}"}})
        return 1
    try:
        result = task.handler(value, Context(task.ids, reporter, cancelled))
    except SystemExit as exc:  # sys.exit(n) in a handler means "this exit code"
        return exc.code if isinstance(exc.code, int) else 1
    except ActivityFailed as exc:
        reporter.send({"error": {"reason": exc.reason, "details": exc.details}})
        return 1
    except MemoryError:
        reason = MEMORY_LIMIT_EXCEEDED if task.limits.memory_mb else "MemoryError"
        limit = f"{task.limits.memory_mb} MB" if task.limits.memory_mb else "none"
        reporter.send({"error": {"reason": reason, "details": f"MemoryError (limit {limit})"}})
        return 1
    except Exception as exc:
        details = f"{exc}\n{traceback.format_exc()[-TAIL_BYTES:]}"
        reporter.send({"error": {"reason": type(exc).__name__, "details": details}})
        return 1
    try:
        reporter.send({"result": result})
    except (TypeError, ValueError) as exc:
        reporter.send({"error": {"reason": INVALID_RESULT, "details": f"not JSON: {exc}"}})
        return 1
    return 0


def _run_command_child(task: Task, files: _Files, pipe_w: int, parent: int) -> NoReturn:
    assert task.command is not None
    try:
        _enter_child(files, task.limits, pipe_w, signal.SIG_DFL, parent)
        os.execvp(task.command[0], list(task.command))
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            error = {"reason": COMMAND_NOT_STARTED, "details": f"{task.command[0]}: {exc}"}
            _PipeReporter(2).send({"error": error})
    os._exit(127)


@dataclass(frozen=True)
class ExitStatus:
    code: int | None  # exit code, or None when killed by a signal
    signal: int | None
    cpu_seconds: float

    @classmethod
    def from_wait(cls, status: int, usage: resource.struct_rusage) -> ExitStatus:
        cpu = usage.ru_utime + usage.ru_stime
        if os.WIFSIGNALED(status):
            return cls(None, os.WTERMSIG(status), cpu)
        return cls(os.waitstatus_to_exitcode(status), None, cpu)


class Child:
    """A started child process: its pid (= process group), protocol pipe and files."""

    def __init__(self, task: Task, files: _Files, pid: int, pipe_r: int) -> None:
        self.task = task
        self.pid = pid
        self._files = files
        self._pipe_r: int | None = pipe_r
        self._buffer = b""
        self._pidfd: int | None = _pidfd(pid)
        self.status: ExitStatus | None = None

    @classmethod
    def start(cls, task: Task) -> Child:
        files = _Files(task)
        pipe_r, pipe_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # or the child would print them a second time
            stream.flush()
        # SIGUSR1 stays blocked in the child until its cancel handler is installed.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(pipe_r)
            os.close(pipe_w)
            files.close()
            raise
        if pid == 0:
            os.close(pipe_r)
            if task.command is not None:
                _run_command_child(task, files, pipe_w, parent)
            _run_python_child(task, files, pipe_w, parent)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(pipe_w)
        fcntl.fcntl(pipe_r, fcntl.F_SETFL, fcntl.fcntl(pipe_r, fcntl.F_GETFL) | os.O_NONBLOCK)
        return cls(task, files, pid, pipe_r)

    @property
    def has_pidfd(self) -> bool:
        return self._pidfd is not None

    def fds(self) -> list[int]:
        return [fd for fd in (self._pipe_r, self._pidfd) if fd is not None]

    def read_messages(self) -> list[dict[str, Any]]:
        """Every complete protocol line available now; a command's other stderr goes to file."""
        if self._pipe_r is None:
            return []
        while True:
            try:
                chunk = os.read(self._pipe_r, 65536)
            except BlockingIOError:
                break
            if not chunk:  # EOF: the child and everything it started closed the pipe
                os.close(self._pipe_r)
                self._pipe_r = None
                break
            self._buffer += chunk
        if len(self._buffer) > _MAX_LINE and b"\n" not in self._buffer:
            self._buffer += b"\n"  # a command writing endless stderr without newlines
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop() if self._pipe_r is not None else b""
        if self._pipe_r is None and lines and lines[-1] == b"":
            lines.pop()
        return [m for m in map(self._parse, lines) if m is not None]

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        message = _protocol_message(line)
        if message is None and self.task.command is not None:
            self._files.stderr.write(line + b"\n")  # a command's ordinary stderr output
        return message

    def poll_exit(self) -> ExitStatus | None:
        if self.status is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.status = ExitStatus.from_wait(status, usage)
        return self.status

    def wait(self) -> ExitStatus:
        if self.status is None:
            _, status, usage = os.wait4(self.pid, 0)
            self.status = ExitStatus.from_wait(status, usage)
        return self.status

    def request_cancel(self) -> None:
        """A Python child sees ``ctx.cancelled``; a command gets SIGTERM (its whole group)."""
        if self.task.command is not None:
            self._signal_group(signal.SIGTERM)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGUSR1)

    def kill_tree(self) -> None:
        """SIGKILL the child's whole process group, grandchildren included, and reap it."""
        self._signal_group(signal.SIGKILL)
        if self.status is None:  # a child killed before its setsid() is not a group leader yet
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.wait()

    def _signal_group(self, signum: int) -> None:
        # The group outlives its leader while a grandchild is in it, so this is safe to repeat
        # after the child exited: it only ever reaches processes of this task.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def stdout_text(self, limit: int) -> str:
        return _read(self._files.stdout.fileno(), limit)

    def stderr_tail(self) -> str:
        self._files.stderr.flush()
        return _tail(self._files.stderr.fileno(), TAIL_BYTES)

    def cleanup(self) -> None:
        """Kill what is left of the group, close the fds and remove the task's directory."""
        self.kill_tree()
        for fd in (self._pipe_r, self._pidfd):
            if fd is not None:
                os.close(fd)
        self._pipe_r = self._pidfd = None
        self._files.close()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # kernels before 5.3: supervise() falls back to polling
        return None


def _protocol_message(line: bytes) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith(b"{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and len(message) == 1 and message.keys() <= _PROTOCOL_KEYS:
        return message
    return None


# pread, not read: the child's copies of these fds share the file offset with the parent's.


def _read(fd: int, limit: int) -> str:
    return os.pread(fd, limit, 0).decode("utf-8", "replace")


def _tail(fd: int, size: int) -> str:
    end = os.fstat(fd).st_size
    return os.pread(fd, size, max(0, end - size)).decode("utf-8", "replace")


# --- the parent's supervision ---------------------------------------------------------


@dataclass
class _Report:
    """What the child said so far, and what the parent still owes the hooks."""

    result: Any = None
    has_result: bool = False
    error: dict[str, Any] | None = None
    progress: Any = None
    progress_pending: bool = False
    progress_sent_at: float = float("-inf")
    heartbeat_details: Any = None
    has_heartbeat_details: bool = False
    cancel_requested_at: float | None = None
    next_heartbeat: float = 0.0


def supervise(child: Child, hooks: Hooks, policy: Policy, shutdown: Shutdown) -> Outcome:
    """Run the parent's side until the child ends or is killed; always cleans the child up."""
    report = _Report(next_heartbeat=time.monotonic() + policy.heartbeat_interval)
    try:
        return _supervise(child, hooks, policy, shutdown, report)
    finally:
        child.cleanup()


def _supervise(
    child: Child, hooks: Hooks, policy: Policy, shutdown: Shutdown, report: _Report
) -> Outcome:
    while True:
        _wait_for_activity(child, policy, shutdown, report)
        for message in child.read_messages():
            _handle(message, hooks, report)
        _flush_progress(hooks, policy, report, force=False)
        status = child.poll_exit()
        if status is not None:
            return _finish(child, hooks, policy, report, status)
        stopped = _check_deadlines(child, hooks, policy, shutdown, report)
        if stopped is not None:
            return stopped


def _wait_for_activity(child: Child, policy: Policy, shutdown: Shutdown, report: _Report) -> None:
    now = time.monotonic()
    deadlines = [report.next_heartbeat]
    if report.progress_pending:
        deadlines.append(report.progress_sent_at + policy.progress_interval)
    if report.cancel_requested_at is not None:
        deadlines.append(report.cancel_requested_at + policy.cancel_grace)
    stop = shutdown.deadline(policy.shutdown_grace)
    if stop is not None:
        deadlines.append(stop)
    timeout = max(0.0, min(deadlines) - now)
    fds = child.fds()
    if not child.has_pidfd:  # old kernel: look at the child at least every 50 ms
        timeout = min(timeout, 0.05)
    if shutdown.wake_fd is not None:
        fds.append(shutdown.wake_fd)
    ready, _, _ = select.select(fds, [], [], timeout)
    if shutdown.wake_fd is not None and shutdown.wake_fd in ready:
        with contextlib.suppress(BlockingIOError):
            os.read(shutdown.wake_fd, 512)


def _handle(message: dict[str, Any], hooks: Hooks, report: _Report) -> None:
    key, value = next(iter(message.items()))
    if key == "progress":
        report.progress, report.progress_pending = value, True
    elif key == "heartbeat":
        report.heartbeat_details, report.has_heartbeat_details = value, True
        report.next_heartbeat = min(report.next_heartbeat, time.monotonic() + 1.0)
    elif key == "result":
        report.result, report.has_result = value, True
    elif key == "error" and isinstance(value, dict):
        report.error = value
    elif key in ("preparing", "finishing"):
        # Keep the order the child used: progress reported before "finishing" goes out first.
        _flush_pending(hooks, report)
        if key == "preparing":
            hooks.preparing()
        else:
            hooks.finishing()


def _flush_progress(hooks: Hooks, policy: Policy, report: _Report, *, force: bool) -> None:
    due = report.progress_sent_at + policy.progress_interval <= time.monotonic()
    if report.progress_pending and (force or due):
        _flush_pending(hooks, report)


def _flush_pending(hooks: Hooks, report: _Report) -> None:
    if report.progress_pending:
        report.progress_pending = False
        report.progress_sent_at = time.monotonic()
        hooks.progress(report.progress)


def _check_deadlines(
    child: Child, hooks: Hooks, policy: Policy, shutdown: Shutdown, report: _Report
) -> Outcome | None:
    now = time.monotonic()
    if now >= report.next_heartbeat:
        report.next_heartbeat = now + policy.heartbeat_interval
        try:
            cancel = hooks.heartbeat(_heartbeat_details(report))
        except TaskGone as exc:
            child.kill_tree()
            return Gone(str(exc) or "task no longer known to SWF")
        if cancel and report.cancel_requested_at is None:
            report.cancel_requested_at = now
            child.request_cancel()
    if (
        report.cancel_requested_at is not None
        and now >= report.cancel_requested_at + policy.cancel_grace
    ):
        child.kill_tree()
        _flush_pending(hooks, report)
        return Canceled(f"killed {policy.cancel_grace:g} s after the cancel request")
    stop = shutdown.deadline(policy.shutdown_grace)
    if stop is not None and now >= stop:
        child.kill_tree()
        _flush_pending(hooks, report)
        why = (
            "second signal"
            if shutdown.forced
            else f"grace period of {policy.shutdown_grace:g} s over"
        )
        return Failed(WORKER_SHUTDOWN, f"the worker shut down before the task ended ({why})")
    return None


def _heartbeat_details(report: _Report) -> str:
    if report.has_heartbeat_details:
        value = report.heartbeat_details
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    else:
        text = json.dumps({"progress": report.progress}, default=str)
    return text[:MAX_HEARTBEAT_DETAILS]


def _finish(
    child: Child, hooks: Hooks, policy: Policy, report: _Report, status: ExitStatus
) -> Outcome:
    for message in child.read_messages():  # whatever the child wrote just before it exited
        _handle(message, hooks, report)
    _flush_pending(hooks, report)
    if report.cancel_requested_at is not None:
        return Canceled(f"the task stopped after the cancel request ({_describe(status)})")
    return _outcome_of(child, report, status)


def _outcome_of(child: Child, report: _Report, status: ExitStatus) -> Outcome:
    """Turn how the child ended, and what it said, into the task's outcome."""
    limit = child.task.limits
    if limit.cpu_seconds and _hit_cpu_limit(status, limit.cpu_seconds):
        return _failed(
            child, CPU_LIMIT_EXCEEDED, f"CPU time limit of {limit.cpu_seconds} s reached"
        )
    # A command may log an error line and still succeed; a Python child's error is final.
    if report.error is not None and (status.code != 0 or child.task.command is None):
        error = report.error
        return _failed(child, str(error.get("reason") or "ERROR"), str(error.get("details") or ""))
    if status.signal is not None:
        return _failed(child, f"KILLED_BY_{signal.Signals(status.signal).name}", _crash_hint(child))
    if status.code != 0:
        return _failed(child, f"EXIT_CODE_{status.code}", _crash_hint(child))
    return _result(child, report)


def _hit_cpu_limit(status: ExitStatus, limit: int) -> bool:
    # SIGXCPU at the soft limit; SIGKILL at the hard one if the child caught SIGXCPU.
    killed = status.signal == signal.SIGKILL and status.cpu_seconds >= limit
    return status.signal == signal.SIGXCPU or killed


def _result(child: Child, report: _Report) -> Outcome:
    if child.task.command is not None:
        text = child.stdout_text(MAX_RESULT + 1).strip() or "null"
        try:
            json.loads(text)
        except ValueError:
            if len(text) > MAX_RESULT:
                return _too_large(child, len(text))
            return _failed(child, INVALID_RESULT, "stdout is not JSON: " + text[:200])
    elif report.has_result:
        text = json.dumps(report.result, separators=(",", ":"))
    else:
        return _failed(child, NO_RESULT, "the child exited with code 0 without a result")
    if len(text) > MAX_RESULT:
        return _too_large(child, len(text))
    return Completed(text)


def _too_large(child: Child, size: int) -> Failed:
    more = "more than " if child.task.command is not None else ""
    return _failed(
        child, RESULT_TOO_LARGE, f"result is {more}{size} characters; SWF allows {MAX_RESULT}"
    )


def _crash_hint(child: Child) -> str:
    memory = child.task.limits.memory_mb
    if memory:
        return f"the child died (it may have hit its memory limit of {memory} MB)"
    return "the child died"


def _failed(child: Child, reason: str, details: str) -> Failed:
    tail = child.stderr_tail().strip()
    if tail:
        details = f"{details}\n--- stderr (tail) ---\n{tail}"
    return Failed(reason, details)


def _describe(status: ExitStatus) -> str:
    if status.signal is not None:
        return f"signal {signal.Signals(status.signal).name}"
    return f"exit code {status.code}"
