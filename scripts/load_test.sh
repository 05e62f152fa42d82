#!/usr/bin/env bash
# Load test of the serve controller path with an external generator (oha), at a fixed rate and at
# saturation. Installs oha into .tools/ on first use (cargo install; a few minutes).
#
#   scripts/load_test.sh PLANNER_RUN CONTROLLER_DIR [RATE=3200] [SECONDS=10] [CONNECTIONS=16]
#
# Starts the release server on 127.0.0.1:8089, waits until /readyz, sends POST /v1/act with one
# observation per request, prints oha's summaries, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
planner=${1:?usage: $0 PLANNER_RUN CONTROLLER_DIR [RATE] [SECONDS] [CONNECTIONS]}
controller=${2:?usage: $0 PLANNER_RUN CONTROLLER_DIR [RATE] [SECONDS] [CONNECTIONS]}
rate=${3:-3200}
secs=${4:-10}
conns=${5:-16}
oha=.tools/bin/oha
if [ ! -x "$oha" ]; then
    echo "== installing oha into .tools/ (once)"
    cargo install oha --locked --root .tools
fi
cargo build --release -p serve
# SERVE_ARGS: extra server flags, e.g. SERVE_ARGS="--inline-max-rows 0" to batch every request.
# shellcheck disable=SC2086
target/release/serve --planner "$planner" --controller "$controller" --addr 127.0.0.1:8089 ${SERVE_ARGS:-} &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -sf http://127.0.0.1:8089/readyz >/dev/null && break
    sleep 0.1
done
curl -sf http://127.0.0.1:8089/readyz >/dev/null || { echo "the server did not become ready" >&2; exit 1; }
dims=$(curl -sf http://127.0.0.1:8089/v1/models)
state_dim=$(echo "$dims" | sed -E 's/.*"state_dim":([0-9]+).*/\1/')
goal_dim=$(echo "$dims" | sed -E 's/.*"goal_dim":([0-9]+).*/\1/')
zeros() { local n=$1; local v="0.5"; for _ in $(seq 2 "$n"); do v="$v,0.5"; done; echo "$v"; }
body="{\"obs\":[$(zeros "$state_dim")],\"goal\":[$(zeros "$goal_dim")]}"
url=http://127.0.0.1:8089/v1/act
echo "== fixed rate: $rate requests/s for ${secs}s over $conns connections"
"$oha" --no-tui -z "${secs}s" -c "$conns" -q "$rate" -m POST -T application/json -d "$body" "$url"
echo "== saturation: as fast as possible for ${secs}s over $conns connections"
"$oha" --no-tui -z "${secs}s" -c "$conns" -m POST -T application/json -d "$body" "$url"
