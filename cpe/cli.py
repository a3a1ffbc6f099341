"""The ``cpe`` command: a thin router to each subcommand's own ``main(argv)``.

Subcommands live in the module that owns the feature and are imported only when used, so
``cpe plan check`` never imports boto3 and a broken optional module cannot break ``cpe --help``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function, one-line help). The function takes the remaining argv.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "emulator": ("emulator.cli", "main", "run the offline SWF+SQS emulator"),
    "plan": ("cpe.plan_cli", "main", "check plans or draw their step graph"),
    "decider": ("cpe.decider", "main", "run the decider daemon"),
    "input-poller": ("cpe.input_poller", "main", "run the input poller daemon"),
    "activity-poller": ("cpe.activity_poller", "main", "run one activity poller of the pool"),
    "submit": ("cpe.client_cli", "submit", "submit a job; prints its jobId"),
    "watch": ("cpe.client_cli", "watch", "follow a job until it ends"),
    "status": ("cpe.client_cli", "status", "show a job's per-step status"),
    "jobs": ("cpe.client_cli", "jobs", "list this client's jobs"),
    "cancel": ("cpe.client_cli", "cancel", "cancel a job"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: cpe COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {spec[2]}" for name, spec in SUBCOMMANDS.items()]
    lines += ["", "Run 'cpe COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from cpe import __version__

        print(f"cpe {__version__}")
        return 0
    spec = SUBCOMMANDS.get(args[0])
    if spec is None:
        print(f"cpe: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, function_name, _ = spec
    entry: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function_name)
    return entry(args[1:])


if __name__ == "__main__":
    sys.exit(main())
