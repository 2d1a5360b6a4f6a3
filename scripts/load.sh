#!/usr/bin/env bash
# Load test: the bridge's full intake (auth + decode + validate + route +
# store) side by side with the bare reference handler (Echo → JetStream
# publish → 202) on the same embedded NATS, on loopback only.
#
#   scripts/load.sh [-r RATE] [-d DURATION] [-c CONCURRENCY] [-m MAX_RATE]
#   REFERENCE_DEDUPE=1 scripts/load.sh   # the reference also stores with Nats-Msg-Id
#
# Phase 1 sends RATE req/s to each for DURATION and prints p50/p99.
# Phase 2 sends as fast as MAX_RATE allows to find each one's ceiling.
# Both connect over loopback TCP to one standalone nats-server. Every run checks that the stored jobs equal the 202 answers, and the
# bridge's start-up time and peak RSS are printed. Bounded in time and count.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=1000 dur=10s conc=64 maxrate=20000
while getopts r:d:c:m: o; do
  case $o in r) rate=$OPTARG;; d) dur=$OPTARG;; c) conc=$OPTARG;; m) maxrate=$OPTARG;; *) exit 2;; esac
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/bridge" ./cmd/bridge
go build -o "$work/loadtest" ./cmd/loadtest
# One standalone NATS for both, reached over loopback TCP by both.
"$work/loadtest" nats -port 14222 -dir "$work/nats" &
pids+=("$!")
cat >"$work/bridge.yaml" <<YAML
dry_run: true
log: {level: warn}
http: {listen: 127.0.0.1:18080}
admin: {listen: 127.0.0.1:19080}
nats: {url: "nats://127.0.0.1:14222", intake: {enabled: true}}
hss: {region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef}
receivers:
  - name: load
    format: harbor
    auth: {method: token, header: Authorization, secrets: [load-secret-0123456789]}
    rate_limit: {per_second: 1000000, burst: 1000000}   # the load test measures the intake, not this guard
YAML

until (exec 3<>/dev/tcp/127.0.0.1/14222) 2>/dev/null; do sleep 0.05; done
t0=$(date +%s%N)
"$work/bridge" serve --config "$work/bridge.yaml" 2>"$work/bridge.log" &
bpid=$!; pids+=("$bpid")
until curl -sf http://127.0.0.1:18080/readyz >/dev/null; do
  sleep 0.005
  if (( $(date +%s%N) - t0 > 10000000000 )); then echo "bridge not ready in 10s"; cat "$work/bridge.log"; exit 1; fi
done
echo "bridge start-up to ready: $(( ($(date +%s%N) - t0) / 1000000 )) ms (external NATS, dry run)"

"$work/loadtest" reference -listen 127.0.0.1:18081 -nats nats://127.0.0.1:14222 ${REFERENCE_DEDUPE:+-dedupe} &
pids+=("$!")
until curl -s -o /dev/null -XPOST http://127.0.0.1:18081/webhooks/x; do sleep 0.05; done

run() { # label url extra-args...
  local label=$1 url=$2; shift 2
  "$work/loadtest" -url "$url" -label "$label" -concurrency "$conc" "$@"
  if ! kill -0 "$bpid" 2>/dev/null; then echo "the bridge exited; its log:"; tail -n 40 "$work/bridge.log"; exit 1; fi
}
bridge_args=(-H "Authorization: load-secret-0123456789" -metrics-url http://127.0.0.1:19080/metrics)
ref_args=(-nats nats://127.0.0.1:14222 -stream LOADREF)

echo "-- warm-up"
run warm-ref http://127.0.0.1:18081/webhooks/x -rate 500 -duration 2s "${ref_args[@]}" >/dev/null
run warm-bridge http://127.0.0.1:18080/webhooks/load -rate 500 -duration 2s "${bridge_args[@]}" >/dev/null
echo "-- phase 1: ${rate} req/s for ${dur}"
run reference http://127.0.0.1:18081/webhooks/x -rate "$rate" -duration "$dur" "${ref_args[@]}"
run bridge http://127.0.0.1:18080/webhooks/load -rate "$rate" -duration "$dur" "${bridge_args[@]}"
echo "-- phase 2: ceiling (offered ${maxrate} req/s, ${conc} in flight)"
run reference http://127.0.0.1:18081/webhooks/x -rate "$maxrate" -duration "$dur" "${ref_args[@]}"
run bridge http://127.0.0.1:18080/webhooks/load -rate "$maxrate" -duration "$dur" "${bridge_args[@]}"
echo "-- NATS intake (request-reply, same path as HTTP): ${rate} req/s, then ceiling"
run bridge-nats http://127.0.0.1:18080/webhooks/load -intake-nats nats://127.0.0.1:14222 -subject scanbridge.intake.load -rate "$rate" -duration "$dur" -metrics-url http://127.0.0.1:19080/metrics
run bridge-nats http://127.0.0.1:18080/webhooks/load -intake-nats nats://127.0.0.1:14222 -subject scanbridge.intake.load -rate "$maxrate" -duration "$dur" -metrics-url http://127.0.0.1:19080/metrics
echo "bridge peak RSS (NATS in its own process): $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$bpid/status), now $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$bpid/status)"

# Start-up with the embedded NATS (the one-command setup), measured apart.
cat >"$work/embedded.yaml" <<YAML
dry_run: true
log: {level: warn}
http: {listen: 127.0.0.1:18090}
admin: {listen: ""}
nats: {data_dir: $work/embedded, listen: ""}
hss: {region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef}
receivers:
  - {name: load, format: harbor, auth: {method: token, secrets: [load-secret-0123456789]}, rate_limit: {per_second: 1000000, burst: 1000000}}
YAML
t0=$(date +%s%N)
"$work/bridge" serve --config "$work/embedded.yaml" 2>"$work/embedded.log" &
pids+=("$!")
until curl -sf http://127.0.0.1:18090/readyz >/dev/null; do sleep 0.005; done
echo "bridge start-up to ready: $(( ($(date +%s%N) - t0) / 1000000 )) ms (embedded NATS with JetStream, dry run)"
