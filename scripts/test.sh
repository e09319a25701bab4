#!/usr/bin/env bash
# Set up everything the test suite needs, then run all tests. This is the README's test
# command and what .ci/run calls. Extra arguments go to pytest (e.g. `-k mtls`, `tests/program`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian tools for the image tests (build with buildah, base from debootstrap, local registry),
# as root with apt only; the docker-registry service it brings is not left running or enabled.
# Without root or apt those tests skip themselves with a reason; CI runs as root.
scripts/debian-packages.sh

# The program, the worker and the test tools share one venv; checkov pins its own large
# dependency tree, so it gets a venv of its own, and so does the policy pack.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The program's hash-locked dependencies first (what `pulumi install` installs), then the
# test tools; a separate run, so the tools need no hashes.
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
[ -x .venv-checkov/bin/checkov ] || "$PY" -m venv .venv-checkov
.venv-checkov/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
export CHECKOV_BIN="$PWD/.venv-checkov/bin/checkov"
# The policy pack runs in its own venv, as `pulumi install` makes one for it (pulumi-policy pins
# protobuf 5; the worker runs protobuf 6), from its hash-locked requirements.
[ -x .venv-policy/bin/python ] || "$PY" -m venv .venv-policy
.venv-policy/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r policy/requirements.txt
export POLICY_PYTHON="$PWD/.venv-policy/bin/python"

exec .venv/bin/python -m pytest "$@"
