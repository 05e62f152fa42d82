"""A Gymnasium-style loop (reset/step) driven by a served deepcrl model through a planner session.

    python clients/python/examples/gym_loop.py --url http://127.0.0.1:8080 --steps 500
"""
import argparse

import numpy as np
from deepcrl_client import Client

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
args = parser.parse_args()
env = PointMass()
obs, _ = env.reset(seed=0)
with Client(args.url, timeout=2.0) as client, client.session(obs=obs, goal=GOAL) as session:
    for t in range(1, args.steps + 1):
        obs, reward, terminated, truncated, _ = env.step(session.act(obs))
        if terminated or truncated:
            break
    waypoints = len(session.plan["waypoints"]) if session.plan else 0
    print(f"{t} steps: at {obs[:2].round(2)}, {np.linalg.norm(obs[:2] - GOAL):.2f} from the goal {GOAL}, "
          f"reached {terminated}; plan v{session.last['plan_version']} with {waypoints} waypoints")
