#!/usr/bin/env bash
# Install the Debian packages the image tests need (buildah, debootstrap, docker-registry) when
# run as root on a host with apt; otherwise do nothing (those tests then skip with a reason).
#
# Debian's docker-registry package comes with a service that serves an unauthenticated registry
# on port 5000 on every interface. The tests run their own registry on 127.0.0.1 and never use
# that service, so this script keeps it from starting during the install (policy-rc.d) and, on
# a systemd host, disables and stops it afterwards. It leaves a docker-registry it did not
# install alone. SYSROOT (default: empty, i.e. /) exists for this script's own tests.
set -euo pipefail
APT_PACKAGES=(buildah debootstrap docker-registry)
SERVICE=docker-registry
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

if [[ " ${missing[*]} " == *" $SERVICE "* ]] && [ -d "$root/run/systemd/system" ] \
    && command -v systemctl >/dev/null; then
  echo "--- systemctl disable --now $SERVICE (the image tests start their own registry)"
  systemctl disable --now "$SERVICE"
fi
