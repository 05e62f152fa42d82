"""A small goal-conditioned Gymnasium environment, in the GoalEnv convention of Gymnasium-Robotics and
Stable-Baselines3's HER, to try deepcrl's Gymnasium bridge without MuJoCo:

    cargo run --release -p train --features gym -- --env gym:point_goal:make \
        --total-env-steps 20000   # with examples/gym on PYTHONPATH, or run from examples/gym

A point in the square [-1, 1]^2 is pushed by a velocity command in [-0.1, 0.1]^2 (deliberately not
[-1, 1], so the bridge's action scaling shows); the goal is a point drawn at reset; success is being
within `distance_threshold` of it. The other factories are the environment done wrong, one way each,
for the bridge's tests.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class PointGoalEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, distance_threshold=0.1, max_speed=0.1, raise_after=None, report_success=True):
        self.distance_threshold = distance_threshold
        self.max_speed = max_speed
        self.raise_after = raise_after
        self.report_success = report_success
        self.steps = 0
        box = lambda n: spaces.Box(-np.inf, np.inf, (n,), np.float64)
        self.observation_space = spaces.Dict(
            {"observation": box(4), "achieved_goal": box(2), "desired_goal": box(2)}
        )
        self.action_space = spaces.Box(-max_speed, max_speed, (2,), np.float32)

    def _obs(self):
        # The observation ends with the last action as the env received it (after the bridge's scaling).
        return {
            "observation": np.concatenate([self.pos, self.last_action]),
            "achieved_goal": self.pos.copy(),
            "desired_goal": self.goal.copy(),
        }

    def _info(self):
        d = float(np.linalg.norm(self.pos - self.goal))
        return {"is_success": d < self.distance_threshold} if self.report_success else {}

    def compute_reward(self, achieved_goal, desired_goal, info):
        d = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return -(d >= self.distance_threshold).astype(np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2)
        self.goal = self.np_random.uniform(-1, 1, 2)
        self.last_action = np.zeros(2)
        return self._obs(), self._info()

    def step(self, action):
        self.steps += 1
        if self.raise_after is not None and self.steps > self.raise_after:
            raise RuntimeError(f"point_goal: simulated failure after {self.raise_after} steps")
        self.last_action = np.asarray(action, dtype=np.float64)
        self.pos = np.clip(self.pos + np.clip(self.last_action, -self.max_speed, self.max_speed), -1, 1)
        info = self._info()
        reward = float(self.compute_reward(self.pos, self.goal, info))
        return self._obs(), reward, False, False, info


def make(**kwargs):
    return PointGoalEnv(**kwargs)


def make_reward_only(**kwargs):
    """No success in info: the bridge falls back to compute_reward(...) == 0."""
    return PointGoalEnv(report_success=False, **kwargs)


class _Reshaped(gym.Wrapper):
    def __init__(self, env, observation_space=None, action_space=None):
        super().__init__(env)
        if observation_space is not None:
            self.observation_space = observation_space
        if action_space is not None:
            self.action_space = action_space


def make_discrete_actions():
    return _Reshaped(PointGoalEnv(), action_space=spaces.Discrete(4))


def make_flat_observation():
    return _Reshaped(PointGoalEnv(), observation_space=spaces.Box(-1, 1, (8,)))


def make_missing_key():
    env = PointGoalEnv()
    inner = dict(env.observation_space.spaces)
    del inner["achieved_goal"]
    return _Reshaped(env, observation_space=spaces.Dict(inner))


def make_mismatched_goal():
    env = PointGoalEnv()
    inner = dict(env.observation_space.spaces)
    inner["desired_goal"] = spaces.Box(-np.inf, np.inf, (3,), np.float64)
    return _Reshaped(env, observation_space=spaces.Dict(inner))


def make_unbounded_actions():
    return _Reshaped(PointGoalEnv(), action_space=spaces.Box(-np.inf, np.inf, (2,), np.float32))


not_callable = 3
