#!/usr/bin/env bash
# Builds artifacts/tiny: native AOT for linux-x64, statically linked, non-PIE, trimmed, with
# trim and AOT warnings as errors.
set -euo pipefail
cd "$(dirname "$0")"
out=artifacts/publish
dotnet publish src/Tiny/Tiny.csproj -c Release -o "$out" -nologo -clp:NoSummary "$@"
install -m 0755 "$out/tiny" artifacts/tiny
echo "artifacts/tiny: $(stat -c %s artifacts/tiny) bytes; $(ldd artifacts/tiny 2>&1 | tr -d '\t')"
