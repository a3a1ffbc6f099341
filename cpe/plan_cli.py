"""``cpe plan check FILE...`` and ``cpe plan graph FILE [--format mermaid|dot]``.

``check`` prints every problem of every file as ``FILE: key.path: reason`` and exits 0 only
when all files are valid; ``graph`` prints the step graph with edges labelled by the
required status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cpe.errors import PlanError
from cpe.plan import Plan, load_plan


def check(paths: Sequence[str]) -> int:
    """Validate each file; print each problem; 0 only when every file is valid."""
    status = 0
    for path in paths:
        try:
            load_plan(path)
        except PlanError as error:
            print(error, file=sys.stdout)
            status = 1
        else:
            print(f"{path}: ok")
    return status


def _quoted(text: str) -> str:
    return json.dumps(text)


def mermaid(plan: Plan) -> str:
    ids = {step.name: f"s{index}" for index, step in enumerate(plan.steps)}
    lines = ["flowchart TD"]
    for step in plan.steps:
        label = f"{step.name}<br/>{step.activity}" + (" (for_each)" if step.for_each else "")
        lines.append(f"    {ids[step.name]}[{_quoted(label)}]")
    for step in plan.steps:
        for req in step.requires:
            lines.append(f"    {ids[req.step]} -->|{req.status}| {ids[step.name]}")
    return "\n".join(lines)


def dot(plan: Plan) -> str:
    lines = [f"digraph {_quoted(plan.name + ' ' + plan.version)} {{", "    rankdir=TB;"]
    for step in plan.steps:
        label = f"{step.name}\\n{step.activity}"
        lines.append(f'    {_quoted(step.name)} [shape=box, label="{label}"];')
    for step in plan.steps:
        for req in step.requires:
            edge = f"{_quoted(req.step)} -> {_quoted(step.name)}"
            lines.append(f"    {edge} [label={_quoted(req.status)}];")
    lines.append("}")
    return "\n".join(lines)


def graph(path: str, output_format: str) -> int:
    try:
        plan = load_plan(path)
    except PlanError as error:
        print(error, file=sys.stderr)
        return 1
    print(dot(plan) if output_format == "dot" else mermaid(plan))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cpe plan", description="check plans or draw them")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="validate plan files")
    check_parser.add_argument("files", nargs="+", metavar="FILE")
    graph_parser = commands.add_parser("graph", help="print a plan's step graph")
    graph_parser.add_argument("file", metavar="FILE")
    graph_parser.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return check(args.files)
    return graph(args.file, args.format)
