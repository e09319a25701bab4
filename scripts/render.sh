#!/usr/bin/env bash
# Render a stack's Kubernetes objects to YAML offline (python -m tools.render; README: "See what
# a stack would apply"). Works from any .venv this repository makes, the demo's included: what
# rendering needs and the demo does not install (the Pulumi program's pinned runtime
# dependencies, requirements.txt, and PyYAML pinned as in requirements-dev.txt) is installed
# into .venv first when missing. Arguments go to tools.render; relative paths in them are
# relative to the directory you run this from.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
[ -x "$repo/.venv/bin/python" ] || "$PY" -m venv "$repo/.venv"
needs="import pulumi, pulumi_kubernetes, pulumi_docker, pulumi_random, yaml, cryptography"
if ! "$repo/.venv/bin/python" -c "$needs, temporal_worker_k8s" 2>/dev/null; then
  echo "--- installing what rendering needs into .venv (requirements.txt, pyyaml)" >&2
  pyyaml=$(grep -E '^pyyaml==' "$repo/requirements-dev.txt")
  # requirements.txt names the component package as ./components, relative to the repository.
  (cd "$repo" && .venv/bin/python -m pip install -q --disable-pip-version-check \
    -r requirements.txt "$pyyaml" >&2)
fi
exec env PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$repo/.venv/bin/python" -m tools.render "$@"
