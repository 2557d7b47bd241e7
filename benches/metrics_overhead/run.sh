#!/usr/bin/env bash
# Requests/s of the release binary with the access log off vs json (metrics are always on).
# Not a test: prints a table and the ratio. Loopback only; bounded (ROUNDS x DURATION each).
#   benches/metrics_overhead/run.sh            # builds target/release/gatehouse if missing
# Env: DURATION (s, default 10), CONNECTIONS (16), ROUNDS (2), THREADS (gatehouse workers, 1).
# Uses the built-in demo backends (127.0.0.1:18081-18084) behind one instance; needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-1}
BIN=${BIN:-target/release/gatehouse}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release --bin gatehouse
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # $1 = off|json → prints requests/s
  local http admin pid rps
  http=$(free_port); admin=$(free_port)
  "$BIN" --demo --threads "$THREADS" --access-log "$1" --admin "127.0.0.1:$admin" \
    --instance "class=internal,http=127.0.0.1:$http,default=true" >/dev/null 2>/tmp/gatehouse-bench-$1.log &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break; sleep 0.1
  done
  curl -sf -o /dev/null -H 'Host: whoami.home.arpa' "http://127.0.0.1:$http/" || { kill "$pid"; echo "gatehouse not serving" >&2; exit 1; }
  rps=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H 'Host: whoami.home.arpa' "http://127.0.0.1:$http/" \
        | awk '/Requests\/sec/ {print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}

declare -a off json
for r in $(seq 1 "$ROUNDS"); do
  off+=("$(run_one off)"); json+=("$(run_one json)")
  echo "round $r: off ${off[-1]} req/s, json ${json[-1]} req/s"
done
python3 - "${off[*]}" "${json[*]}" <<'PY'
import sys, statistics
off = [float(x) for x in sys.argv[1].split()]
js = [float(x) for x in sys.argv[2].split()]
mo, mj = statistics.median(off), statistics.median(js)
print(f"median req/s  access-log off: {mo:.0f}  json: {mj:.0f}  ratio json/off: {mj/mo:.3f}")
PY
