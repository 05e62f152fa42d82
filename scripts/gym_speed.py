"""The peer for the Gymnasium bridge's benchmark (issue 27): the same vector env the bridge builds
(SyncVectorEnv of gymnasium.make(id), the registry's TimeLimit, SAME_STEP autoreset), stepped from
Python alone with random actions from a fixed pool, as the bench cycles its own; then the table of
both, read from criterion's estimates. Run through scripts/gym-speed.sh, which runs the bench first.

  python scripts/gym_speed.py ENV_ID:N[,N...] ... [--seconds S] [--criterion target/criterion]
"""

import argparse
import json
import os
import platform
import time

import gymnasium as gym
import gymnasium_robotics
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

gym.register_envs(gymnasium_robotics)


def python_alone(env_id, n, seconds):
    vec = SyncVectorEnv([lambda: gym.make(env_id)] * n, autoreset_mode=AutoresetMode.SAME_STEP)
    vec.reset(seed=0)
    rng = np.random.default_rng(1)
    space = vec.single_action_space
    pool = [rng.uniform(space.low, space.high, (n,) + space.shape).astype(space.dtype) for _ in range(16)]
    # Warm-up, then whole passes over the pool until the time is spent.
    for a in pool:
        vec.step(a)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in pool:
            vec.step(a)
        steps += len(pool) * n
    rate = steps / (time.perf_counter() - start)
    vec.close()
    return rate


def bridge(criterion, env_id, n):
    """Env steps/s of the bench's `env_step/gym/ENV_ID/N` (criterion's mean time per batch step)."""
    path = os.path.join(criterion, "env_step", f"gym_{env_id}", str(n), "new", "estimates.json")
    try:
        with open(path) as f:
            ns = json.load(f)["mean"]["point_estimate"]
    except FileNotFoundError:
        return None
    return n / (ns * 1e-9)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cases", nargs="+", help="ENV_ID:N[,N...], e.g. PointMaze_UMaze-v3:1,16,64")
    p.add_argument("--seconds", type=float, default=3.0, help="measurement time per case (default 3)")
    p.add_argument("--criterion", default="target/criterion", help="criterion's output folder")
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, gymnasium {gym.__version__}")
    print(f"{'env':<22} {'envs':>5} {'python alone':>14} {'bridge':>14} {'bridge/python':>14}")
    for case in args.cases:
        env_id, _, sizes = case.partition(":")
        for n in (int(s) for s in sizes.split(",")):
            alone = python_alone(env_id, n, args.seconds)
            ours = bridge(args.criterion, env_id, n)
            ours_s = f"{ours:14,.0f}" if ours else f"{'(not run)':>14}"
            ratio = f"{ours / alone:14.2f}" if ours else f"{'':>14}"
            print(f"{env_id:<22} {n:>5} {alone:14,.0f} {ours_s} {ratio}", flush=True)


if __name__ == "__main__":
    main()
