"""``cpe submit | watch | status | jobs | cancel``: the client SDK from a shell.

Every command takes ``--config`` (default ``$CPE_CONFIG`` or ./cpe.yaml), ``--client NAME``
(default: the first configured client) and ``--json`` (machine-readable output, one JSON
document or one per line). Failures are one line on stderr, never a traceback.

Exit status: 0 success (``watch``: the job completed), 1 the job failed, 2 the job was
cancelled, 3 an error (configuration, endpoint, rejected command), 4 a timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from cpe import messages
from cpe.client import Client, JobTimeout, workflow_spec
from cpe.client_view import EXIT_OF_FINAL, JobView, event_line, jobs_lines, status_lines
from cpe.errors import AWSError, CommandRejected, CPEError, EndpointUnavailable
from cpe.plan import Plan, load_plan, load_plans

EXIT_ERROR = 3
EXIT_TIMEOUT = 4
Runner = Callable[[argparse.Namespace, Client], int]


def _parser(name: str, summary: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"cpe {name}", description=summary)
    parser.add_argument("--config", help="stack configuration (default: $CPE_CONFIG or ./cpe.yaml)")
    parser.add_argument("--client", help="client name (default: the first configured client)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _run(name: str, parser: argparse.ArgumentParser, argv: Sequence[str], body: Runner) -> int:
    """Parse, build the client, run; every expected failure becomes one line on stderr."""
    args = parser.parse_args(list(argv))
    try:
        return body(args, Client.from_config(args.config, args.client))
    except JobTimeout as error:
        return _fail(name, str(error), EXIT_TIMEOUT)
    except CommandRejected as error:
        return _fail(name, f"rejected: {error.reason}: {error.details}", EXIT_ERROR)
    except EndpointUnavailable as error:
        return _fail(name, f"cannot reach the endpoint ({error.code}): {error.message}", EXIT_ERROR)
    except (AWSError, CPEError, OSError, ValueError) as error:
        return _fail(name, str(error), EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail(name, "interrupted", 130)


def _fail(name: str, message: str, code: int) -> int:
    print(f"cpe {name}: error: {message.splitlines()[0] if message else 'failed'}", file=sys.stderr)
    return code


def _print_json(value: Any, out: IO[str] | None = None) -> None:
    print(json.dumps(value, default=str), file=out or sys.stdout, flush=True)


# --- submit ---------------------------------------------------------------------------


def resolve_workflow(spec: str, plans: dict[tuple[str, str], Plan]) -> tuple[str, str]:
    """A plan file's (name, version), or ``Name[:version]`` looked up in the loaded plans."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        plan = load_plan(path)
        return plan.name, plan.version
    name, version = workflow_spec(spec)
    versions = sorted(v for n, v in plans if n == name)
    if version is not None and version in versions:
        return name, version
    if version is None and len(versions) == 1:
        return name, versions[0]
    known = ", ".join(f"{n}:{v}" for n, v in sorted(plans)) or "none"
    if versions:
        raise ValueError(f"workflow {spec!r}: give one of the versions {', '.join(versions)}")
    raise ValueError(f"unknown workflow {spec!r}; loaded plans: {known}")


def _read_input(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise ValueError(f"--input {source}: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--input {source}: the job input must be a JSON object")
    return value


def submit(argv: Sequence[str]) -> int:
    parser = _parser("submit", "Submit a job; prints its jobId once the stack scheduled it.")
    parser.add_argument("workflow", metavar="PLAN_OR_WORKFLOW", help="plan file or Name[:version]")
    parser.add_argument("--input", default=None, help="JSON object file, or - for stdin")
    parser.add_argument("--job-id", help="jobId to use (default: a new random one)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wait for WORKFLOW_SCHEDULED")
    parser.add_argument("--no-wait", action="store_true", help="print the jobId at once")

    def body(args: argparse.Namespace, client: Client) -> int:
        workflow = resolve_workflow(args.workflow, load_plans(client.settings.plans))
        job_input = _read_input(args.input) if args.input else {}
        job_id = client.start_job(job_input, workflow=workflow, job_id=args.job_id)
        answer = None
        if not args.no_wait:
            answer = client.answer(job_id, messages.WORKFLOW_SCHEDULED, args.timeout)
        if args.json:
            _print_json(answer or {"jobId": job_id})
        else:
            print(job_id)
        return 0

    return _run("submit", parser, argv, body)


# --- watch ----------------------------------------------------------------------------


class _Screen:
    """Redraws the bars in place on a terminal (ANSI cursor-up), nothing else."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._drawn = 0

    def draw(self, lines: list[str]) -> None:
        if self._drawn:
            self._out.write(f"\x1b[{self._drawn}F\x1b[J")
        self._out.write("".join(line + "\n" for line in lines))
        self._out.flush()
        self._drawn = len(lines)


def watch(argv: Sequence[str]) -> int:
    parser = _parser(
        "watch", "Follow a job until it ends (exit 0 completed, 1 failed, 2 canceled)."
    )
    parser.add_argument("job_id", metavar="JOBID")
    parser.add_argument("--timeout", type=float, default=None, help="give up after N seconds")

    def body(args: argparse.Namespace, client: Client) -> int:
        view = JobView(args.job_id)
        screen = _Screen(sys.stdout) if sys.stdout.isatty() and not args.json else None
        for event in client.events(args.job_id, wait=args.timeout):
            view.apply(event)
            if args.json:
                _print_json(event)
            elif screen is not None:
                screen.draw(view.render())
            else:
                print(event_line(event), flush=True)
            if view.exit_code is not None:
                return view.exit_code
        raise JobTimeout(f"end of job {args.job_id}", args.timeout or 0)

    return _run("watch", parser, argv, body)


# --- status, jobs, cancel -------------------------------------------------------------


def status(argv: Sequence[str]) -> int:
    parser = _parser("status", "Show a job's status and per-step state.")
    parser.add_argument("job_id", metavar="JOBID")
    parser.add_argument("--timeout", type=float, default=30.0)

    def body(args: argparse.Namespace, client: Client) -> int:
        answer = client.job_status(args.job_id, timeout=args.timeout)
        if args.json:
            _print_json(answer)
        else:
            print("\n".join(status_lines(answer)))
        return 0

    return _run("status", parser, argv, body)


def jobs(argv: Sequence[str]) -> int:
    parser = _parser("jobs", "List this client's open and recently closed jobs.")
    parser.add_argument("--status", choices=["open", "closed", "all"], default="all")
    parser.add_argument("--since", type=float, default=None, help="closed in the last N seconds")
    parser.add_argument("--timeout", type=float, default=30.0)

    def body(args: argparse.Namespace, client: Client) -> int:
        found = client.list_jobs(args.status, args.since, timeout=args.timeout)
        if args.json:
            _print_json(found)
        else:
            print("\n".join(jobs_lines(found)))
        return 0

    return _run("jobs", parser, argv, body)


def cancel(argv: Sequence[str]) -> int:
    parser = _parser(
        "cancel",
        "Cancel a job (WORKFLOW_CANCELED follows), or with --activity one running activity "
        "(ACTIVITY_CANCELED follows; the step then counts as failed).",
    )
    parser.add_argument("job_id", metavar="JOBID")
    parser.add_argument("--activity", metavar="ACTIVITY_ID", help="an activityId or step name")
    parser.add_argument("--timeout", type=float, default=30.0)

    def body(args: argparse.Namespace, client: Client) -> int:
        if args.activity:
            answer = client.cancel_activity(args.job_id, args.activity, timeout=args.timeout)
            what = f"activity {args.activity} of job {args.job_id}"
        else:
            answer = client.cancel_job(args.job_id, timeout=args.timeout)
            what = f"job {args.job_id}"
        if args.json:
            _print_json(answer)
        else:
            print(f"cancel requested for {what}")
        return 0

    return _run("cancel", parser, argv, body)


__all__ = ["EXIT_OF_FINAL", "cancel", "jobs", "status", "submit", "watch"]
