#!/usr/bin/env bash
# Runs every fuzz test of the module for a bounded time each.
#   scripts/fuzz.sh [SECONDS]   (default 10)
# The normal `go test ./...` replays only the seed corpora; this explores.
#
# Each package's test binary is built once, instrumented for fuzzing
# (`go test -c -fuzz=.`), and run for each of its fuzz tests from the
# package's directory, as `go test -fuzz` runs it: `go test -fuzz` would
# link the binary again for every fuzz test, which took most of this
# script's time (a package of 20 decoders linked 20 times).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log="$tmp/log"
cache="$(go env GOCACHE)/fuzz"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  fns=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  [ -n "$fns" ] || continue
  bin="$tmp/$(basename "$dir").test"
  if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$log" 2>&1; then
    cat "$log"
    status=1
    continue
  fi
  for fn in $fns; do
    echo "== $pkg $fn (${secs}s)"
    # The generated corpus goes where `go test -fuzz` keeps it; a
    # failing input goes under the package's testdata/fuzz.
    if ! (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${fn}\$" -test.fuzztime "${secs}s" \
      -test.fuzzminimizetime 5s -test.fuzzcachedir "$cache/$pkg" >"$log" 2>&1); then
      cat "$log"
      # A real finding leaves its input under testdata/fuzz; a run that
      # ended without one (the engine's own time-out on a loaded machine)
      # is reported but not counted as a failure.
      if grep -q 'Failing input written to' "$log"; then status=1; else echo "(no failing input: engine error, not a finding)"; fi
    else
      grep 'fuzz: elapsed' "$log" | tail -n 1 || true # how many inputs it tried
    fi
  done
done
exit $status
