#!/usr/bin/env bash
# Quick start, command 2: lint, type-check and run every test (unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
exec .venv/bin/tox "$@"
