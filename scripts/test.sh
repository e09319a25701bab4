#!/usr/bin/env bash
# Set up everything the test suite needs, then run all tests. This is the README's test
# command and what .ci/run calls. Extra arguments go to pytest (e.g. `-k mtls`, `tests/program`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian tools for the image tests (build with buildah, base from debootstrap, local registry).
# Without root or apt those tests skip themselves with a reason; CI runs as root.
APT_PACKAGES=(buildah debootstrap docker-registry)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "--- apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The program, the worker and the test tools share one venv; checkov pins its own large
# dependency tree, so it gets a venv of its own.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
[ -x .venv-checkov/bin/checkov ] || "$PY" -m venv .venv-checkov
.venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
export CHECKOV_BIN="$PWD/.venv-checkov/bin/checkov"

exec .venv/bin/python -m pytest "$@"
