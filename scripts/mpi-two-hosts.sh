#!/usr/bin/env bash
# Two emulated hosts for data-parallel training (issue 28): network namespaces dcrl-mpi-a (10.78.0.1)
# and dcrl-mpi-b (10.78.0.2), joined by a veth pair, one rank in each. mpirun runs in host a and starts
# host b's daemon through a remote-start agent that enters b's namespace (what ssh does on a cluster;
# no ssh server needed), and the ranks talk MPI over TCP on that link only: `--mca btl tcp,self`
# (no shared memory between the "hosts") and every TCP interface outside 10.78.0.0/24 excluded. The
# script then runs the same job in one namespace and checks the two trained the same teacher, bit
# for bit, and that the link carried at least the all-reduced bytes.
#
#   bash scripts/mpi.sh && bash scripts/mpi-two-hosts.sh [ENV_STEPS]
#
# Needs root and iproute2; touches only its two namespaces and their veth pair, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8000}
[ "$(id -u)" = 0 ] || { echo "mpi-two-hosts.sh needs root: it makes network namespaces" >&2; exit 2; }
for tool in ip mpirun python3; do
  command -v "$tool" >/dev/null || { echo "mpi-two-hosts.sh needs $tool (iproute2; Open MPI: scripts/mpi.sh)" >&2; exit 2; }
done
cargo build --release -q -p train --features mpi --bin train
bin=$PWD/target/release
tmp=$(mktemp -d)
a=dcrl-mpi-a
b=dcrl-mpi-b
cleanup() {
  ip netns pids "$a" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns pids "$b" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
tmp=$(mktemp -d)
ip netns add "$a"
ip netns add "$b"
ip link add dcrl-mpi0 netns "$a" type veth peer name dcrl-mpi1 netns "$b"
ip -n "$a" addr add 10.78.0.1/24 dev dcrl-mpi0
ip -n "$b" addr add 10.78.0.2/24 dev dcrl-mpi1
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set dcrl-mpi0 up
ip -n "$b" link set dcrl-mpi1 up

# The remote-start agent: mpirun calls it as `agent HOST COMMAND...`, like ssh.
agent=$tmp/netns-agent
cat >"$agent" <<AGENT
#!/usr/bin/env bash
host=\$1; shift
case "\$host" in
  10.78.0.1) ns=$a ;;
  10.78.0.2) ns=$b ;;
  *) echo "netns-agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$agent"
printf '10.78.0.1 slots=1\n10.78.0.2 slots=1\n' >"$tmp/hosts"

tiny=(--width 32 --batch-size 32 --num-envs 8 --unroll-length 10 --sgd-steps-per-round 4 --episode-length 50
  --prefill-env-steps 400 --eval-every 1000 --eval-episodes 8 --replay-steps 500 --threads 1
  --total-env-steps "$steps")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mca=(--mca plm_rsh_agent "$agent" --mca btl tcp,self --mca btl_tcp_if_include 10.78.0.0/24
  --mca oob_tcp_if_include 10.78.0.0/24 -x RAYON_NUM_THREADS=1 -x PATH)
link_bytes() { ip netns exec "$b" cat /sys/class/net/dcrl-mpi1/statistics/tx_bytes; }

echo "== two hosts: rank 0 in $a, rank 1 in $b, over the veth link"
before=$(link_bytes)
ip netns exec "$a" timeout 600 mpirun "${mca[@]}" --hostfile "$tmp/hosts" -np 2 --map-by node \
  /bin/sh -c "echo \"rank \$OMPI_COMM_WORLD_RANK in \$(ip netns identify \$\$)\" >&2; exec $bin/train --distributed mpi ${tiny[*]} --out $tmp/two-hosts" \
  2>"$tmp/two.log" >/dev/null || { tail -20 "$tmp/two.log"; exit 1; }
sent=$(( $(link_bytes) - before ))
grep "^rank " "$tmp/two.log" | sort
echo "host b sent $sent bytes over the link"

echo "== one host: both ranks in $a"
ip netns exec "$a" timeout 600 mpirun "${mca[@]}" -np 2 "$bin/train" --distributed mpi "${tiny[@]}" --out "$tmp/one-host" \
  2>"$tmp/one.log" >/dev/null || { tail -20 "$tmp/one.log"; exit 1; }

python3 scripts/same_teacher.py "$tmp/two-hosts/teacher.safetensors" "$tmp/one-host/teacher.safetensors" \
  || { echo "mpi-two-hosts.sh: FAILED: the two-host teacher differs from the one-host teacher" >&2; exit 1; }
sgd=$(python3 -c "import json; print(json.loads(open('$tmp/two-hosts/metrics.jsonl').read().splitlines()[-1])['sgd_steps'])")
params=$(python3 - "$tmp/two-hosts/teacher.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
print(sum((t["data_offsets"][1] - t["data_offsets"][0]) // 4 for k, t in header.items() if k != "__metadata__"))
PY
)
# Per update each rank sends at least its share of the gradient all-reduce (half the parameters at 2
# ranks, 4 bytes each), whatever MPI's algorithm.
floor=$((sgd * params * 2))
[ "$sent" -ge "$floor" ] || { echo "mpi-two-hosts.sh: FAILED: $sent bytes on the link, less than $floor" >&2; exit 1; }
echo "same teacher, bit for bit, after $sgd SGD steps ($params parameters); the link carried $sent bytes (>= $floor)"
echo "mpi-two-hosts.sh: ok"
