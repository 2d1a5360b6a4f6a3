#!/usr/bin/env bash
# Intake benchmark: the bare reference handler (Echo → js.Publish → 202,
# nothing else), the bridge built from the work tree, Benthos running
# http_server → nats_jetstream (built from scripts/benthos, see its
# README.md) and, for a before/after comparison, the bridge built from
# another revision (BASE=rev), measured in interleaved rounds against one
# standalone nats-server on loopback.
#
#   scripts/bench.sh [-n ROUNDS] [-d DURATION] [-r RATE] [-c CONCURRENCY]
#   BASE=main~3 scripts/bench.sh        # also the bridge as it was at main~3
#   BENTHOS=0 scripts/bench.sh          # without Benthos
#
# BENTHOS=1 requires Benthos (the run stops if scripts/benthos does not
# build); unset, Benthos runs when it builds and is left out with a note
# when it does not (its modules cannot be fetched, say). The first build
# takes minutes; later ones come from Go's build cache.
#
# Each round runs every contender, in a rotating order, first at the highest
# rate it sustains (CONCURRENCY requests in flight) and then at a fixed
# RATE req/s. Per contender it prints the median over the rounds of: 2xx per
# second at saturation, server CPU µs per request (utime+stime of its
# process from /proc, over the saturation run), p99 at RATE, and peak RSS
# (VmHWM). Ratios are against the reference handler of the same run; with
# Benthos a last row gives the bridge's figures divided by Benthos's.
# Bounded: ROUNDS × contenders × 2 runs of DURATION each.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 dur=5s rate=1000 conc=64
while getopts n:d:r:c: o; do
	case $o in n) rounds=$OPTARG ;; d) dur=$OPTARG ;; r) rate=$OPTARG ;; c) conc=$OPTARG ;; *) exit 2 ;; esac
done
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n "${base_tree:-}" ]] && git worktree remove --force "$base_tree" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/loadtest" ./cmd/loadtest
go build -o "$work/bridge" ./cmd/bridge
if [[ -n "${BASE:-}" ]]; then
	base_tree="$work/base-src"
	git worktree add -q --detach "$base_tree" "$BASE"
	(cd "$base_tree" && go build -o "$work/bridge-base" ./cmd/bridge)
fi
benthos=${BENTHOS:-auto}
case $benthos in
0 | 1 | auto) ;;
*) echo "BENTHOS=$benthos: use 1 (require Benthos), 0 (leave it out) or leave it unset (when it builds)" >&2; exit 2 ;;
esac
if [[ $benthos != 0 ]]; then
	echo "-- building Benthos (scripts/benthos)"
	if (cd scripts/benthos && go build -o "$work/benthos" .) 2>"$work/benthos-build.log"; then
		benthos=1
	elif [[ $benthos == 1 ]]; then
		echo "BENTHOS=1 but scripts/benthos does not build:" >&2
		tail -n 20 "$work/benthos-build.log" >&2
		exit 1
	else
		echo "   left out: scripts/benthos does not build here ($(tail -n 1 "$work/benthos-build.log"))"
		benthos=0
	fi
fi

"$work/loadtest" nats -port 14222 -dir "$work/nats" &
pids+=("$!")
until (exec 3<>/dev/tcp/127.0.0.1/14222) 2>/dev/null; do sleep 0.05; done

secret=bench-secret-0123456789
# bridge_config NAME PORT: a dry-run bridge on its own streams, buckets and
# consumer, so two bridges on one NATS do not share work, and on its own
# admin port (PORT+1000), so two bridges can listen at once.
bridge_config() {
	local n=$1 port=$2 up
	up=$(tr '[:lower:]' '[:upper:]' <<<"$n")
	cat >"$work/$n.yaml" <<YAML
dry_run: true
log: {level: warn}
http: {listen: 127.0.0.1:$port}
admin: {listen: 127.0.0.1:$((port + 1000))}
nats: {url: "nats://127.0.0.1:14222"}
queue:
  stream: {name: JOBS_$up, subject_prefix: jobs_$n}
  dlq: {name: DLQ_$up, subject_prefix: dlq_$n}
  accepted: {bucket: ACCEPTED_$up}
  consumer: {durable: batcher-$n}
hss: {region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef, limit_kv: {bucket: LIMITS_$up}}
receivers:
  - name: load
    format: harbor
    auth: {method: token, header: Authorization, secrets: [$secret]}
    rate_limit: {per_second: 1000000, burst: 1000000}   # measure the intake, not this guard
YAML
}

declare -A url pid
start_bridge() { # NAME BINARY PORT
	bridge_config "$1" "$3"
	"$2" serve --config "$work/$1.yaml" 2>"$work/$1.log" &
	pid[$1]=$!
	pids+=("$!")
	url[$1]=http://127.0.0.1:$3/webhooks/load
	for _ in $(seq 400); do curl -sf "http://127.0.0.1:$3/readyz" >/dev/null && return; sleep 0.05; done
	echo "$1 not ready in 20s:"
	tail -n 20 "$work/$1.log"
	exit 1
}

"$work/loadtest" reference -listen 127.0.0.1:18081 -nats nats://127.0.0.1:14222 &
pid[reference]=$!
pids+=("$!")
url[reference]=http://127.0.0.1:18081/webhooks/x
until curl -s -o /dev/null -XPOST "${url[reference]}"; do sleep 0.05; done
contenders=(reference bridge)
start_bridge bridge "$work/bridge" 18082
if [[ -n "${BASE:-}" ]]; then
	start_bridge base "$work/bridge-base" 18083
	contenders+=(base)
fi
# Benthos as the issue measured it: http_server on a port and path of its
# own, each request one message, nats_jetstream publishing it to its own
# stream and answering 200 once the stream acknowledged. Its service-wide
# HTTP server (PORT+1000) only answers the readiness check; metrics are the
# core engine's default, none.
if [[ $benthos == 1 ]]; then
	"$work/benthos" create-stream -nats nats://127.0.0.1:14222 -name BENTHOS -subjects 'benthos.>'
	cat >"$work/benthos.yaml" <<YAML
http: {address: 127.0.0.1:19084}
logger: {level: WARN}
input:
  http_server: {address: 127.0.0.1:18084, path: /webhooks/load, allowed_verbs: [POST]}
output:
  nats_jetstream: {urls: [nats://127.0.0.1:14222], subject: benthos.jobs}
YAML
	"$work/benthos" -c "$work/benthos.yaml" 2>"$work/benthos.log" >&2 &
	pid[benthos]=$!
	pids+=("$!")
	url[benthos]=http://127.0.0.1:18084/webhooks/load
	ready=0
	for _ in $(seq 400); do curl -sf http://127.0.0.1:19084/ready >/dev/null && ready=1 && break; sleep 0.05; done
	if ((!ready)); then
		echo "benthos not ready in 20s:"
		tail -n 20 "$work/benthos.log"
		exit 1
	fi
	contenders+=(benthos)
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# Every request says Accept-Encoding: identity, as wrk's do (the issue's
# figures): Go's client otherwise asks for gzip, and Benthos's http_server
# then makes a gzip writer for each (empty) answer, which alone cuts its
# rate several times over; Echo answers the same either way.
drive() { # NAME RATE
	"$work/loadtest" -url "${url[$1]}" -label "$1" -concurrency "$conc" -rate "$2" -duration "$dur" \
		-H "Authorization: $secret" -H "Accept-Encoding: identity"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
to_ms() { # a Go duration → milliseconds
	awk -v d="$1" 'BEGIN { if (d ~ /µs$/) { sub(/µs$/, "", d); print d / 1000 } else if (d ~ /ms$/) { sub(/ms$/, "", d); print d }
		else if (d ~ /s$/) { sub(/s$/, "", d); print d * 1000 } else print d }'
}

echo "-- warm-up"
for c in "${contenders[@]}"; do drive "$c" 500 >/dev/null; done
echo "-- $rounds rounds: saturation ($conc in flight) then ${rate} req/s, ${dur} each"
for ((r = 0; r < rounds; r++)); do
	n=${#contenders[@]}
	for ((i = 0; i < n; i++)); do
		c=${contenders[$(((i + r) % n))]}
		t0=$(cpu_ticks "${pid[$c]}")
		out=$(drive "$c" 50000)
		t1=$(cpu_ticks "${pid[$c]}")
		sent=$(field sent <<<"$out")
		rps=$(field ok_rps <<<"$out")
		codes=$(sed -n 's/.*codes=\[\([^]]*\)\].*/\1/p' <<<"$out")
		ok=$(tr ' ' '\n' <<<"$codes" | awk -F: '$1 ~ /^2/ {s += $2} END {print s + 0}')
		answered=$(tr ' ' '\n' <<<"$codes" | awk -F: '{s += $2} END {print s + 0}')
		secs=$(to_ms "$dur")
		ok_rps=$(awk -v ok="$ok" -v ms="$secs" 'BEGIN {printf "%.0f", ok / (ms / 1000)}')
		us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$answered" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
		p99=$(to_ms "$(field p99 <<<"$(drive "$c" "$rate")")")
		echo "$c $ok_rps $us $p99" >>"$work/results"
		printf '  round %d %-9s 2xx/s=%-6s cpu_us/req=%-6s p99@%d=%sms (saturation: sent=%s answered_rps=%s codes=[%s])\n' \
			$((r + 1)) "$c" "$ok_rps" "$us" "$rate" "$p99" "$sent" "$rps" "$codes"
	done
done

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$1" -v k="$2" '$1 == c {print $k}' "$work/results" | median; }
ref_rps=$(col reference 2) ref_us=$(col reference 3) ref_p99=$(col reference 4)
echo
printf '| median of %d rounds | 2xx/s | × ref | CPU µs/req | × ref | p99 at %d req/s | × ref | peak RSS |\n' "$rounds" "$rate"
echo '|---|---|---|---|---|---|---|---|'
for c in "${contenders[@]}"; do
	rps=$(col "$c" 2) us=$(col "$c" 3) p99=$(col "$c" 4)
	rss=$(awk '/VmHWM/ {print $2}' "/proc/${pid[$c]}/status")
	echo "$c $rps $us $p99 $rss" >>"$work/medians"
	awk -v c="$c" -v rps="$rps" -v us="$us" -v p99="$p99" -v rss="$rss" -v r1="$ref_rps" -v u1="$ref_us" -v q1="$ref_p99" \
		'BEGIN {printf "| %s | %.0f | %.2f | %.1f | %.2f | %.2f ms | %.2f | %.1f MiB |\n", c, rps, rps / r1, us, us / u1, p99, p99 / q1, rss / 1024}'
done
if [[ $benthos == 1 ]]; then
	awk '{v[$1, 2] = $2; v[$1, 3] = $3; v[$1, 4] = $4; v[$1, 5] = $5}
		function r(k) { return v["benthos", k] ? sprintf("%.2f×", v["bridge", k] / v["benthos", k]) : "n/a" }
		END {printf "| bridge ÷ benthos | %s | | %s | | %s | | %s |\n", r(2), r(3), r(4), r(5)}' "$work/medians"
fi
