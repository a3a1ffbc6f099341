"""What an SQS backlog costs the emulator: per-call latency of a reader's calls on a queue that
holds N unread messages, and of another client's calls on a small queue meanwhile.

For each backlog size the script fills one queue with N messages, then a reader receives 10 at
a time, releasing half (ChangeMessageVisibility 0, as an SDK reader does with others' events)
and deleting the rest, and sends one message to that queue per receive, while a second thread sends to and receives from a small queue, as the
daemons do. It prints the median and p90 of each call.

    .venv/bin/python benchmarks/sqs_backlog.py [--backlogs 0,1000,5000,20000] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.control_plane import aws_client
from benchmarks.emulator_cycles import start_server


def fill(sqs: object, url: str, count: int) -> None:
    body = "x" * 400  # about the size of an ACTIVITY_PROGRESS event
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": body} for i in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[attr-defined]


def timed(samples: dict[str, list[float]], name: str, call: object, **kwargs: object) -> object:
    started = time.perf_counter()
    result = call(**kwargs)  # type: ignore[operator]
    samples[name].append((time.perf_counter() - started) * 1000)
    return result


def measure(endpoint: str, backlog: int, calls: int) -> dict[str, list[float]]:
    sqs = aws_client("sqs", endpoint)
    big = sqs.create_queue(QueueName=f"backlog-{backlog}")["QueueUrl"]
    small = sqs.create_queue(QueueName=f"small-{backlog}")["QueueUrl"]
    fill(sqs, big, backlog + calls * 10)
    samples: dict[str, list[float]] = defaultdict(list)
    done = threading.Event()

    def daemon_traffic() -> None:
        other = aws_client("sqs", endpoint)
        while not done.is_set():
            timed(samples, "other SendMessage", other.send_message, QueueUrl=small, MessageBody="m")
            got = timed(samples, "other ReceiveMessage", other.receive_message, QueueUrl=small)
            for message in got.get("Messages", []):  # type: ignore[union-attr]
                other.delete_message(QueueUrl=small, ReceiptHandle=message["ReceiptHandle"])

    thread = threading.Thread(target=daemon_traffic)
    thread.start()
    try:
        for _ in range(calls):
            timed(samples, "SendMessage", sqs.send_message, QueueUrl=big, MessageBody="x" * 400)
            got = timed(
                samples, "ReceiveMessage", sqs.receive_message, QueueUrl=big, MaxNumberOfMessages=10
            )
            for index, message in enumerate(got.get("Messages", [])):  # type: ignore[union-attr]
                receipt = message["ReceiptHandle"]
                if index % 2:
                    timed(
                        samples,
                        "ChangeMessageVisibility",
                        sqs.change_message_visibility,
                        QueueUrl=big,
                        ReceiptHandle=receipt,
                        VisibilityTimeout=0,
                    )
                else:
                    timed(
                        samples,
                        "DeleteMessage",
                        sqs.delete_message,
                        QueueUrl=big,
                        ReceiptHandle=receipt,
                    )
    finally:
        done.set()
        thread.join()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlogs", default="0,1000,5000,20000")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    process, endpoint = start_server(stock=False, persistence=[])
    try:
        print(f"{'backlog':>8} {'call':<26} {'p50 ms':>8} {'p90 ms':>8} {'calls':>6}")
        for backlog in (int(b) for b in args.backlogs.split(",")):
            for name, values in sorted(measure(endpoint, backlog, args.calls).items()):
                p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
                print(
                    f"{backlog:>8} {name:<26} {statistics.median(values):>8.2f} "
                    f"{p90:>8.2f} {len(values):>6}"
                )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
