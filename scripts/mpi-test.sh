#!/usr/bin/env bash
# Data-parallel training over MPI (issue 28), checked on this machine with real `mpirun` ranks:
#   1. one update of N ranks × B rows equals one process's with the whole batch (examples/mpi_step:
#      gradients, statistics, Adam's moments, parameters after 3 steps within 1e-5; every rank's
#      parameters equal rank 0's bit for bit), at 2 and 3 ranks;
#   2. a 2-rank job over MPI trains the same teacher, bit for bit, as the same job with its ranks as
#      threads (examples/thread_ranks, the loop the default tests cover);
#   3. refusals: --distributed mpi outside a launcher, ranks with different configurations;
#   4. killing one rank ends the whole job, the last checkpoint loads, and --resume continues it;
#   5. a rank that stops answering (SIGSTOP) ends the job after --rank-timeout, not a hang.
# Needs Open MPI (scripts/mpi.sh). Takes about 2 minutes here after the build. Every step is bounded
# by `timeout`; files go to a temporary folder that is removed on exit.
#
#   bash scripts/mpi.sh && bash scripts/mpi-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpirun >/dev/null || { echo "mpi-test.sh needs Open MPI: bash scripts/mpi.sh" >&2; exit 2; }
cargo build --release -q -p train --features mpi --bin train --example mpi_step --example thread_ranks
bin=$PWD/target/release
tmp=$(mktemp -d)
mpi_pid=
cleanup() {
  [ -n "$mpi_pid" ] && kill "$mpi_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
root_flags=()
[ "$(id -u)" = 0 ] && root_flags=(--allow-run-as-root)
run_mpi() { timeout 300 mpirun "${root_flags[@]}" --oversubscribe --bind-to none -x RAYON_NUM_THREADS=1 "$@"; }
fail() { echo "mpi-test.sh: FAILED: $*" >&2; exit 1; }
# A tiny job: 8 envs and a batch of 32 per rank, evaluations every 1000 env steps.
tiny=(--width 32 --batch-size 32 --num-envs 8 --unroll-length 10 --sgd-steps-per-round 4 --episode-length 50
  --prefill-env-steps 400 --eval-every 1000 --eval-episodes 8 --replay-steps 500 --threads 1)

echo "== 1. one update step: N ranks against one process with the whole batch"
run_mpi -np 2 "$bin/examples/mpi_step"
run_mpi -np 3 "$bin/examples/mpi_step"

echo "== 2. a 2-rank MPI job equals the same job with its ranks as threads"
run_mpi -np 2 "$bin/train" --distributed mpi "${tiny[@]}" --total-env-steps 4000 --out "$tmp/mpi" >/dev/null
RAYON_NUM_THREADS=1 timeout 300 "$bin/examples/thread_ranks" --ranks 2 "${tiny[@]}" --total-env-steps 4000 --out "$tmp/threads"
python3 scripts/same_teacher.py "$tmp/mpi/teacher.safetensors" "$tmp/threads/teacher.safetensors" || fail "the MPI job's teacher differs from the threads'"
# Everything but the clock columns (wall_s, sps).
cut -d, -f1,2,5- "$tmp/mpi/metrics.csv" >"$tmp/a.csv"
cut -d, -f1,2,5- "$tmp/threads/metrics.csv" >"$tmp/b.csv"
cmp "$tmp/a.csv" "$tmp/b.csv" || fail "the MPI job's metrics differ from the threads'"
echo "teacher.safetensors and metrics.csv (but the clock) identical: $(wc -l <"$tmp/a.csv") rows"

echo "== 3. refusals"
set +e
msg=$(RAYON_NUM_THREADS=1 timeout 60 "$bin/train" --distributed mpi "${tiny[@]}" --out "$tmp/never" 2>&1)
code=$?
set -e
[ "$code" = 2 ] && grep -q "needs an MPI launcher" <<<"$msg" || fail "outside a launcher: exit $code, $msg"
echo "outside a launcher: exit 2, \"$(head -1 <<<"$msg" | cut -c1-110)...\""
set +e
msg=$(timeout 120 mpirun "${root_flags[@]}" --oversubscribe --bind-to none -x RAYON_NUM_THREADS=1 \
  -np 1 "$bin/train" --distributed mpi "${tiny[@]}" --seed 1 --out "$tmp/never" : \
  -np 1 "$bin/train" --distributed mpi "${tiny[@]}" --seed 2 --out "$tmp/never" 2>&1)
code=$?
set -e
[ "$code" != 0 ] && grep -q "configuration other than rank 0's" <<<"$msg" || fail "different configurations: exit $code, $msg"
[ ! -e "$tmp/never" ] || fail "a refused job left a run directory"
echo "different configurations: exit $code, \"$(grep -m1 "configuration other" <<<"$msg" | cut -c1-110)...\""

# Starts a long 2-rank job in $job (extra flags: $@), waits for its third evaluation, and sets $rank1.
start_job() {
  timeout 300 mpirun "${root_flags[@]}" --oversubscribe --bind-to none -x RAYON_NUM_THREADS=1 -np 2 \
    "$bin/train" --distributed mpi "${tiny[@]}" --total-env-steps 10000000 --out "$job" "$@" >"$job.log" 2>&1 &
  mpi_pid=$!
  for _ in $(seq 1 600); do
    [ "$(evaluations)" -ge 3 ] && break
    sleep 0.1
  done
  [ "$(evaluations)" -ge 3 ] || fail "the job never reached its third evaluation"
  rank1=
  for p in $(pgrep -f "$bin/train --distributed mpi"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && rank1=$p
  done
  [ -n "$rank1" ] || fail "no rank 1 found"
}
evaluations() { if [ -f "$job/metrics.jsonl" ]; then wc -l <"$job/metrics.jsonl"; else echo 0; fi; }
# Waits for the job; sets $code and $took (seconds since $start).
finish_job() {
  set +e
  wait "$mpi_pid"
  code=$?
  set -e
  mpi_pid=
  took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
}

echo "== 4. killing one rank"
job=$tmp/killed
start_job
start=$(date +%s.%N)
kill -9 "$rank1"
finish_job
[ "$code" != 0 ] || fail "the job exited 0 after a rank was killed"
pgrep -f "$bin/train --distributed mpi" >/dev/null && fail "ranks outlived the job"
echo "rank 1 killed with SIGKILL: mpirun exited $code after $took s, no rank left; its message:"
grep -m1 "mpirun noticed" "$job.log" | cut -c1-160 || true
steps=$(python3 -c "import json,sys; print(json.loads(open('$job/metrics.jsonl').read().splitlines()[-1])['env_steps'])")
run_mpi -np 2 "$bin/train" --distributed mpi "${tiny[@]}" --resume --out "$job" --total-env-steps $((steps + 2000)) >/dev/null
after=$(python3 -c "import json; print(json.loads(open('$job/metrics.jsonl').read().splitlines()[-1])['env_steps'])")
[ "$after" -ge $((steps + 2000)) ] || fail "the resumed job stopped at $after env steps"
echo "resumed from the last checkpoint ($steps env steps) to $after"

echo "== 5. a rank that stops answering"
job=$tmp/silent
start_job --rank-timeout 3
start=$(date +%s.%N)
kill -STOP "$rank1"
finish_job
[ "$code" != 0 ] || fail "the job exited 0 with a stopped rank"
pgrep -f "$bin/train --distributed mpi" >/dev/null && fail "ranks outlived the job"
grep -q "waited more than 3 s" "$job.log" || fail "no timeout message: $(tail -5 "$job.log")"
echo "rank 1 stopped with SIGSTOP: mpirun exited $code after $took s (--rank-timeout 3); rank 0 said:"
grep -m1 "waited more than" "$job.log" | cut -c1-160
echo "mpi-test.sh: ok"
