#!/bin/sh
# Runs scripts/lifecycle-run (see its README.md) from the module root:
# the bridge against the fake HSS at HSS's real quotas, scenarios A, B, C.
set -eu
cd "$(dirname "$0")/.."
exec go run ./scripts/lifecycle-run "$@"
