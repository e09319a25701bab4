#!/usr/bin/env bash
# Set up everything the test suite needs, then run all tests. This is the README's test
# command and what .ci/run calls. Extra arguments go to pytest (e.g. `-k mtls`, `tests/program`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Four installs, side by side (each keeps about one core busy); a failed one shows its output:
# - Debian tools for the image tests (build with buildah, base from debootstrap, local
#   registry), as root with apt only; the docker-registry service it brings is not left running
#   or enabled. Without root or apt those tests skip themselves with a reason; CI runs as root.
# - The program, the worker and the test tools share one venv; checkov pins its own large
#   dependency tree, so it gets a venv of its own, and so does the policy pack (pulumi-policy
#   pins protobuf 5; the worker runs protobuf 6), as `pulumi install` makes one for it.
PY=${PYTHON:-python3}
PIP=(-m pip install -q --disable-pip-version-check)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
debian_packages() { scripts/debian-packages.sh; }
venv_main() {
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # The program's hash-locked dependencies first (what `pulumi install` installs), then the
  # test tools; a separate run, so the tools need no hashes.
  .venv/bin/python "${PIP[@]}" --require-hashes -r requirements.txt
  .venv/bin/python "${PIP[@]}" -r requirements-dev.txt
}
venv_checkov() {
  [ -x .venv-checkov/bin/checkov ] || "$PY" -m venv .venv-checkov
  .venv-checkov/bin/python "${PIP[@]}" -r requirements-checkov.txt
}
venv_policy() {
  [ -x .venv-policy/bin/python ] || "$PY" -m venv .venv-policy
  .venv-policy/bin/python "${PIP[@]}" --require-hashes -r policy/requirements.txt
}
steps=(debian_packages venv_main venv_checkov venv_policy)
pids=()
for job in "${steps[@]}"; do
  "$job" >"$logs/$job.log" 2>&1 &
  pids+=("$!")
done
failed=0
for i in "${!steps[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "--- ${steps[$i]} failed:" >&2
    cat "$logs/${steps[$i]}.log" >&2
    failed=1
  fi
done
[ "$failed" = 0 ]
export CHECKOV_BIN="$PWD/.venv-checkov/bin/checkov"
export POLICY_PYTHON="$PWD/.venv-policy/bin/python"
cat "$logs"/*.log  # what the installs said (quiet unless something was installed)
rm -rf "$logs"

exec .venv/bin/python -m pytest "$@"
