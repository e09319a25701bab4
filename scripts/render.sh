#!/usr/bin/env bash
# Render a stack's Kubernetes objects to YAML offline (python -m tools.render; README: "See what
# a stack would apply"). Works from any .venv this repository makes, the demo's included: what
# rendering needs and the demo does not install (the Pulumi program's hash-locked runtime
# dependencies, requirements.txt, which include PyYAML) is installed into .venv first when
# missing, with --require-hashes. The component package is loaded from ./components, as the
# program loads it. Arguments go to tools.render; relative paths in them are relative to the
# directory you run this from.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
[ -x "$repo/.venv/bin/python" ] || "$PY" -m venv "$repo/.venv"
needs="import pulumi, pulumi_kubernetes, pulumi_docker, pulumi_random, yaml, cryptography, temporalio"
if ! "$repo/.venv/bin/python" -c "$needs" 2>/dev/null; then
  echo "--- installing what rendering needs into .venv (requirements.txt, hash-checked)" >&2
  "$repo/.venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    -r "$repo/requirements.txt" >&2
fi
exec env PYTHONPATH="$repo:$repo/components${PYTHONPATH:+:$PYTHONPATH}" \
  "$repo/.venv/bin/python" -m tools.render "$@"
