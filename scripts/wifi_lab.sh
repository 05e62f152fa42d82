#!/usr/bin/env bash
# The Wi-Fi lab (issue 25): a robot and a server in two network namespaces joined by a veth pair, the
# link made lossy and slow by named profiles, and robot-sim run across it in every mode that matters on
# a real network: hierarchical over HTTP, hierarchical over the session stream, and the student on board.
#
#   scripts/wifi_lab.sh PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]
#
# Profiles, each direction: good 3 ms ± 1 ms, 0.1% loss; wifi 8 ms ± 4 ms, 1% loss; bad 25 ms ± 15 ms,
# 5% loss; then wifi again with the link down for 2 s mid-run (every packet dropped). Delay and jitter
# come from `tc netem` where the kernel has it, else from netlab-proxy (robot::netlab, a delaying TCP
# forwarder in the robot's namespace); loss comes from netem, else from nftables `numgen random` rules on
# both veth ends, so TCP really retransmits. The script says which it used.
#
# Needs root (namespaces, nftables) and iproute2 and nftables (`apt-get install iproute2 nftables`). It
# touches only what it makes: namespaces dcrl-lab-srv and dcrl-lab-bot, their veth pair and addresses in
# 10.77.0.0/24, and it removes them on exit. Results (each run's table and JSON, and table.md) go to
# OUT_DIR (default /tmp/wifi_lab). Run it on a quiet machine: these are real-time loops.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: $0 PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]"
planner=${1:?$usage}
controller=${2:?$usage}
env=${3:-point_u_maze_eval}
episodes=${4:-32}
out=${5:-${TMPDIR:-/tmp}/wifi_lab}
[ "$(id -u)" = 0 ] || { echo "wifi_lab.sh needs root: it makes network namespaces and nftables rules" >&2; exit 2; }
for tool in ip nft python3 curl; do
  command -v "$tool" >/dev/null || { echo "wifi_lab.sh needs $tool (apt-get install iproute2 nftables python3 curl)" >&2; exit 2; }
done
mkdir -p "$out"
cargo build --release -q -p serve -p robot --bins
bin=$(pwd)/target/release
srv=dcrl-lab-srv
bot=dcrl-lab-bot
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$bot" 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add "$srv"
ip netns add "$bot"
ip link add dcrl-s netns "$srv" type veth peer name dcrl-r netns "$bot"
ip -n "$srv" addr add 10.77.0.1/24 dev dcrl-s
ip -n "$bot" addr add 10.77.0.2/24 dev dcrl-r
for ns in "$srv" "$bot"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set dcrl-s up
ip -n "$bot" link set dcrl-r up

if ip netns exec "$bot" tc qdisc add dev dcrl-r root netem delay 1ms 2>/dev/null; then
  ip netns exec "$bot" tc qdisc del dev dcrl-r root
  mechanism="delay, jitter and loss: tc netem on both veth ends"
  netem=1
else
  mechanism="delay and jitter: netlab-proxy (robot::netlab) in the robot's namespace, each direction; loss: nftables numgen random on both veth ends (this kernel has no netem)"
  netem=0
fi
echo "wifi_lab: $mechanism"

ip netns exec "$srv" "$bin/serve" --planner "$planner" --controller "$controller" --addr 10.77.0.1:8080 \
  >"$out/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do ip netns exec "$bot" curl -sf http://10.77.0.1:8080/readyz >/dev/null && break; sleep 0.2; done
ip netns exec "$bot" curl -sf http://10.77.0.1:8080/readyz >/dev/null || { echo "the server did not become ready: $out/serve.log" >&2; exit 1; }

proxy_pid=
# link DELAY_MS JITTER_MS LOSS_PER_MILLE: the link's profile, each direction
link() {
  local delay=$1 jitter=$2 loss=$3 dev ns
  for pair in "$srv:dcrl-s" "$bot:dcrl-r"; do
    ns=${pair%%:*}
    dev=${pair##*:}
    if [ "$netem" = 1 ]; then
      ip netns exec "$ns" tc qdisc replace dev "$dev" root netem delay "${delay}ms" "${jitter}ms" loss "$(python3 -c "print($loss / 10)")%"
    else
      ip netns exec "$ns" nft delete table inet dcrl_lab 2>/dev/null || true
      ip netns exec "$ns" nft -f - <<NFT
table inet dcrl_lab {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "$dev" numgen random mod 1000 < $loss drop
  }
}
NFT
    fi
  done
  if [ "$netem" = 0 ]; then
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null || true
    ip netns exec "$bot" "$bin/netlab-proxy" --listen 127.0.0.1:9000 --upstream 10.77.0.1:8080 \
      --delay-ms "$delay" --jitter-ms "$jitter" >>"$out/proxy.log" 2>&1 &
    proxy_pid=$!
    pids+=("$proxy_pid")
    sleep 0.3
    url=http://127.0.0.1:9000
  else
    url=http://10.77.0.1:8080
  fi
}

# outage SECONDS_IN SECONDS_DOWN: every packet on the veth dropped for a while, in the background
outage() {
  (sleep "$1"
    for ns in "$srv" "$bot"; do
      ip netns exec "$ns" nft -f - <<NFT
table inet dcrl_outage {
  chain out {
    type filter hook output priority -10; policy drop;
    oifname "lo" accept
  }
}
NFT
    done
    sleep "$2"
    for ns in "$srv" "$bot"; do ip netns exec "$ns" nft delete table inet dcrl_outage; done) &
  pids+=($!)
}

run() { # NAME ARGS...: one robot-sim run in the robot's namespace, on a fresh forwarder
  local name=$1
  shift
  link "${profile[@]}"
  for _ in $(seq 1 100); do ip netns exec "$bot" curl -sf -m 2 "$url/readyz" >/dev/null && break; sleep 0.2; done
  ip netns exec "$bot" "$bin/robot-sim" --server "$url" --env "$env" --robots 16 --control-hz 200 \
    --episodes "$episodes" "$@" >"$out/$name.json" 2>"$out/$name.txt" || echo "robot-sim failed: $out/$name.txt" >&2
  echo "== $name"
  grep -v '^warning' "$out/$name.txt" || true
}
modes() { # PROFILE: the three modes
  run "$1-http" --mode hierarchical
  run "$1-ws" --mode hierarchical --transport ws
  run "$1-onboard" --mode onboard --student "$controller"
}
profile=(3 1 1)
modes good
profile=(8 4 10)
modes wifi
profile=(25 15 50)
modes bad
profile=(8 4 10)
for m in http ws onboard; do
  outage 4 2
  case $m in
    http) run wifi-outage-http --mode hierarchical ;;
    ws) run wifi-outage-ws --mode hierarchical --transport ws ;;
    onboard) run wifi-outage-onboard --mode onboard --student "$controller" ;;
  esac
  sleep 1
done

python3 - "$out" "$mechanism" <<'PY' | tee "$out/table.md"
import json, pathlib, sys
out, mechanism = pathlib.Path(sys.argv[1]), sys.argv[2]
print(f"Link: {mechanism}. 16 robots at 200 Hz per run.\n")
print("| profile | mode | success [95% CI] | time at goal | missed ticks | late answers used | held ticks | round trip p50 / p99 µs | network round trips per tick | stopped robots | stream reconnects |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for profile in ["good", "wifi", "bad", "wifi-outage"]:
    for mode in ["http", "ws", "onboard"]:
        f = out / f"{profile}-{mode}.json"
        try:
            r = json.loads(f.read_text())["modes"][0]
        except Exception as e:
            print(f"| {profile} | {mode} | failed: see {f.with_suffix('.txt')} | | | | | | | | |")
            continue
        s, t, l = r["success_rate"], r["time_at_goal"], r["latency"]
        name = {"http": "hierarchical, HTTP", "ws": "hierarchical, stream", "onboard": "onboard"}[mode]
        rtt = f"{l['p50_us']} / {l['p99_us']}" if mode != "onboard" else "none per tick"
        print(f"| {profile} | {name} | {s['mean']:.2f} [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}] | {t['mean']:.2f} | "
              f"{r['missed']} | {r['late']} | {r['held']} | {rtt} | {r['round_trips_per_tick']:.2f} | {r['stopped']} | {r['reconnects']} |")
PY
