#!/usr/bin/env bash
# Install the Debian packages the tests need when run as root on a host with apt; otherwise do
# nothing (the tests that need them then skip with a reason):
#   buildah, debootstrap, docker-registry  the image tests (build, base, local registry);
#   prometheus                             promtool and a real Prometheus for the alert rules
#                                          and dashboard tests.
#
# Two of them come with a service that listens on every interface: docker-registry (an
# unauthenticated registry on port 5000) and prometheus (its UI and API on 9090). The tests run
# their own on 127.0.0.1 and free ports and never use those services, so this script keeps them
# from starting during the install (policy-rc.d) and, on a systemd host, disables and stops them
# afterwards. It leaves a service whose package it did not install alone. SYSROOT (default:
# empty, i.e. /) exists for this script's own tests.
set -euo pipefail
APT_PACKAGES=(buildah debootstrap docker-registry prometheus)
SERVICES=(docker-registry prometheus)
root=${SYSROOT:-}

[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || exit 0

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${APT_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a service; 101 means "not
# now". An existing policy (container images usually ship one) is left as it is.
policy="$root/usr/sbin/policy-rc.d"
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from scripts/debian-packages.sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

echo "--- apt-get install ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if [ -d "$root/run/systemd/system" ] && command -v systemctl >/dev/null; then
  for service in "${SERVICES[@]}"; do
    if [[ " ${missing[*]} " == *" $service "* ]]; then
      echo "--- systemctl disable --now $service (the tests start their own)"
      systemctl disable --now "$service"
    fi
  done
fi
