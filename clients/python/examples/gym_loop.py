"""A Gymnasium-style loop (reset/step) driven by a served deepcrl model through a planner session:
one HTTP call per step (--mode session), one WebSocket message per step (--mode stream), or the
student on the robot following plans the server pushes (--mode onboard, needs student.onnx).

    python clients/python/examples/gym_loop.py --url http://127.0.0.1:8080 --steps 500 --mode onboard
"""
import argparse
import contextlib
from pathlib import Path

import numpy as np
from deepcrl_client import Client, OnboardPolicy

GOAL = np.array([12.0, 4.0], np.float32)


class PointMass:
    """A stand-in with Gymnasium's reset/step: the point maze's point mass (force 5, 10 substeps), no walls."""

    def reset(self, seed=None):
        self.pos, self.vel = np.array([4.0, 4.0]), np.zeros(2)
        return np.concatenate([self.pos, self.vel]).astype(np.float32), {}

    def step(self, action):
        for _ in range(10):
            self.vel += 0.005 * (5.0 * np.clip(action, -1, 1) - self.vel) / 1.327
            self.pos += 0.005 * self.vel
        reached = bool(np.linalg.norm(self.pos - GOAL) < 0.5)
        return np.concatenate([self.pos, self.vel]).astype(np.float32), float(reached), reached, False, {}


parser = argparse.ArgumentParser()
parser.add_argument("--url", default="http://127.0.0.1:8080")
parser.add_argument("--steps", type=int, default=500)
parser.add_argument("--mode", choices=["session", "stream", "onboard"], default="session")
parser.add_argument("--student", help="student.onnx for --mode onboard (default: the file the server's contract names)")
args = parser.parse_args()
env = PointMass()
obs, _ = env.reset(seed=0)
with contextlib.ExitStack() as stack:
    client = stack.enter_context(Client(args.url, timeout=2.0))
    session = stack.enter_context(client.session(obs=obs, goal=GOAL))
    if args.mode == "session":
        policy = session.act
    elif args.mode == "stream":
        policy = stack.enter_context(session.stream(mode="act")).act
    else:
        if args.student is None:
            with session.stream() as s:
                args.student = Path(s.contract["controller"]["checkpoint"]).with_suffix(".onnx")
        policy = stack.enter_context(OnboardPolicy(session, args.student)).act
    for t in range(1, args.steps + 1):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        if terminated or truncated:
            break
    print(f"--mode {args.mode}: {t} steps: at {obs[:2].round(2)}, {np.linalg.norm(obs[:2] - GOAL):.2f} from the goal "
          f"{GOAL}, reached {terminated}; session {session.id[:8]} with plan v{session.info()['plan']['version']}")
