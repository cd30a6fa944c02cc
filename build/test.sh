#!/usr/bin/env bash
# Installs what the tests need (busybox-static, runc, podman, containerd and the tools the tests call), publishes artifacts/tiny, runs every test (unit and, as root,
# integration) and ends with "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
ldd /bin/busybox >/dev/null 2>&1 || [ ! -e /bin/busybox ] && missing+=(busybox-static)
/usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || missing+=(python3-seccomp)
for tool in nft:nftables ip:iproute2 ping:iputils-ping nsenter:util-linux setpriv:util-linux pkill:procps \
    runc:runc podman:podman ctr:containerd start-stop-daemon:dpkg systemd-notify:systemd newuidmap:uidmap; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

./publish.sh >/dev/null || { echo "publish failed"; echo "0 passed, 1 failed"; exit 1; }
log=$(mktemp)
TINY_BINARY="$PWD/artifacts/tiny" dotnet run --project tests/Tiny.Tests -c Release -- "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The test platform may colour its summary: strip escape sequences before reading the counts.
count() { sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E "^\s+$1: [0-9]+" | tail -1 | grep -oE '[0-9]+' || echo 0; }
echo "$(count succeeded) passed, $(count failed) failed, $(count skipped) skipped"
rm -f "$log"
exit "$status"
