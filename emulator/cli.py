"""``python -m emulator`` / ``cpe emulator``: run the SWF+SQS emulator until TERM or INT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import yaml
from moto.core.models import DEFAULT_ACCOUNT_ID

from emulator import sqs_backend
from emulator.bootstrap import bootstrap, configured_endpoint
from emulator.closed_runs import ClosedRunArchive
from emulator.persistence import Snapshotter, StateFileError, load_state
from emulator.server import build_server
from emulator.swf_backend import EmuSWFBackend
from emulator.swf_responses import EmuSWFResponse

log = logging.getLogger("emulator")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566, help="0 picks a free port")
    parser.add_argument("--state-file", type=Path, help="persist state here (load on start)")
    parser.add_argument("--config", type=Path, help="stack config to bootstrap from")
    parser.add_argument("--poll-timeout", type=float, default=60.0, help="SWF long poll, s")
    parser.add_argument("--retention", type=float, default=4 * 3600.0, help="keep closed runs, s")
    parser.add_argument("--snapshot-interval", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--durable-answers",
        action="store_true",
        help="with --state-file: answer a changing call only once the change is saved, so "
        "a SIGKILL loses nothing a client was told (slower: every such call waits for a "
        "snapshot)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--idle-without-endpoint",
        action="store_true",
        help="with --config: serve nothing (idle until TERM) when the config names no "
        "aws.endpoint_url, i.e. the stack runs on AWS",
    )
    return parser.parse_args(argv)


def make_backend(args: argparse.Namespace, archive: ClosedRunArchive | None) -> EmuSWFBackend:
    sqs_backend.install()
    swf = load_state(args.state_file, archive) if archive is not None else None
    if swf is None:
        swf = EmuSWFBackend("us-east-1", DEFAULT_ACCOUNT_ID)
    swf.poll_timeout = args.poll_timeout
    swf.retention = args.retention
    EmuSWFResponse.backend = swf
    if args.config:
        bootstrap(swf, args.config)
    return swf


def _start(target: object, *args: object) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()  # type: ignore[arg-type]


def _stop_on_signals() -> threading.Event:
    """TERM or INT only set this flag: the main thread does the shutdown."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _wait_for(stop: threading.Event) -> None:
    while not stop.wait(0.5):  # short waits, so the signal handler runs promptly
        pass


def _idle_until_stopped(config: Path) -> int:
    """What the emulator program does on a machine whose stack runs on AWS: nothing, visibly,
    so that one supervisord.conf serves both modes and supervisord has nothing to restart."""
    stop = _stop_on_signals()
    print(
        f"emulator idle: {config} names no aws.endpoint_url, so the stack uses AWS",
        flush=True,
    )
    _wait_for(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.idle_without_endpoint:
        if args.config is None:
            print("emulator: --idle-without-endpoint needs --config", file=sys.stderr)
            return 2
        try:
            endpoint = configured_endpoint(args.config)
        except (OSError, yaml.YAMLError) as error:
            print(f"emulator: cannot read --config {args.config}: {error}", file=sys.stderr)
            return 2
        if endpoint is None:
            return _idle_until_stopped(args.config)
    # moto builds boto3 sessions internally; the emulator needs no credentials, so a
    # developer's AWS_PROFILE (even a blank or missing one) must not be able to stop it.
    os.environ.pop("AWS_PROFILE", None)
    archive = ClosedRunArchive(args.state_file) if args.state_file else None
    try:
        swf = make_backend(args, archive)
    except StateFileError as error:
        print(f"emulator: {error}", file=sys.stderr)
        return 2
    server = build_server(args.host, args.port)
    stop = _stop_on_signals()
    snapshotter = Snapshotter(args.state_file, swf, archive) if archive is not None else None
    if snapshotter is not None and args.durable_answers:
        server.before_answer = snapshotter.wait_durable
    _start(server.serve_forever)
    _start(swf.run_timeouts, stop)
    if snapshotter is not None:
        _start(snapshotter.run, stop, args.snapshot_interval)
    print(f"emulator ready on http://{args.host}:{server.server_port}", flush=True)
    _wait_for(stop)
    server.shutdown()
    if snapshotter is not None:
        snapshotter.save(final=True)
    log.info("stopped")
    return 0
