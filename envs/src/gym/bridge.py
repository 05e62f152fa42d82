"""deepcrl's side of the Gymnasium bridge, run inside the interpreter that `envs` embeds.

It builds a Gymnasium vector env of goal-conditioned environments (Gymnasium-Robotics' GoalEnv
convention: a dict observation with `observation`, `achieved_goal` and `desired_goal`), checks its
spaces once, and steps the whole batch per call, handing back flat float32 arrays: the Rust side never
touches a Python object per element. Episodes reset in the step that ends them (Gymnasium's SAME_STEP
autoreset), as deepcrl's own environments do, so the success of an episode's last step is read from
`final_info`.
"""

import importlib
import json
import os
import sys

import numpy as np

KEYS = ("observation", "achieved_goal", "desired_goal")


class BridgeError(Exception):
    """A problem with the environment itself: its message is the whole story (no traceback)."""


def _gymnasium():
    try:
        import gymnasium
    except ImportError as e:
        raise BridgeError(
            f"Python cannot import gymnasium ({e}); install it into the active virtualenv "
            "(`pip install gymnasium`, or run scripts/gym.sh and `source .tools/gym/env.sh`)"
        ) from None
    try:
        import gymnasium_robotics

        gymnasium.register_envs(gymnasium_robotics)
    except ImportError:
        pass
    return gymnasium


def registered_episode_length(env_id):
    """The `max_episode_steps` the registry gives `env_id`, or None."""
    gym = _gymnasium()
    try:
        return gym.spec(env_id).max_episode_steps
    except gym.error.Error as e:
        raise BridgeError(f"gym:{env_id}: {e}") from None


def _factory(target, kwargs, episode_length):
    gym = _gymnasium()
    module_name, _, attr = target.rpartition(":")
    # As `python -m` would: a module beside the user is found.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BridgeError(f"gym:{target}: cannot import module {module_name!r} ({e}); is it on PYTHONPATH or in the active virtualenv?") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise BridgeError(f"gym:{target}: module {module_name!r} has no {attr!r}")
    if not callable(factory):
        raise BridgeError(f"gym:{target}: {attr!r} is a {type(factory).__name__}, not a callable that returns an env")

    def make():
        return gym.wrappers.TimeLimit(factory(**kwargs), max_episode_steps=episode_length)

    return make


def _registered(env_id, kwargs, episode_length):
    gym = _gymnasium()
    try:
        gym.spec(env_id)
    except gym.error.Error as e:
        raise BridgeError(f"gym:{env_id}: {e}; `python -c 'import gymnasium; gymnasium.pprint_registry()'` lists the ids") from None
    return lambda: gym.make(env_id, max_episode_steps=episode_length, **kwargs)


def _box(space, what, name):
    from gymnasium.spaces import Box

    if not isinstance(space, Box):
        raise BridgeError(f"{name}: {what} is {space}, not a Box; deepcrl needs continuous vectors")
    if len(space.shape) != 1:
        raise BridgeError(f"{name}: {what} has shape {space.shape}; deepcrl needs a flat vector (wrap the env with FlattenObservation)")
    return space.shape[0]


def check_spaces(env, name):
    """Dimensions (observation, goal, action) and action bounds, or a BridgeError naming what is wrong."""
    from gymnasium.spaces import Box, Dict

    obs_space = env.observation_space
    if not isinstance(obs_space, Dict):
        raise BridgeError(
            f"{name}: the observation space is {obs_space}, not a Dict; goal-conditioned envs return "
            "{'observation', 'achieved_goal', 'desired_goal'} (Gymnasium-Robotics' GoalEnv)"
        )
    missing = [k for k in KEYS if k not in obs_space.spaces]
    if missing:
        raise BridgeError(f"{name}: the observation Dict has keys {sorted(obs_space.spaces)}, missing {missing}")
    obs_dim, ach_dim, goal_dim = (_box(obs_space[k], f"observation[{k!r}]", name) for k in KEYS)
    if ach_dim != goal_dim:
        raise BridgeError(f"{name}: achieved_goal has {ach_dim} values but desired_goal has {goal_dim}; they must match")
    act = env.action_space
    if not isinstance(act, Box):
        raise BridgeError(f"{name}: the action space is {act}, not a Box; deepcrl's actors output continuous actions")
    action_dim = _box(act, "the action space", name)
    if not (np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high))):
        raise BridgeError(f"{name}: the action space {act} is unbounded; deepcrl scales actions from [-1, 1] to finite bounds (wrap with RescaleAction)")
    return obs_dim, goal_dim, action_dim, act.low.astype(np.float64), act.high.astype(np.float64)


def _success_key(info):
    for key in ("is_success", "success"):
        if key in info:
            return key
    return None


class Bridge:
    def __init__(self, target, is_factory, kwargs_json, num_envs, asynchronous, episode_length):
        gym = _gymnasium()
        from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

        self.name = f"gym:{target}"
        try:
            kwargs = json.loads(kwargs_json) if kwargs_json else {}
        except json.JSONDecodeError as e:
            raise BridgeError(f"{self.name}: --gym-kwargs is not JSON ({e})") from None
        if not isinstance(kwargs, dict):
            raise BridgeError(f"{self.name}: --gym-kwargs must be a JSON object, got {kwargs_json}")
        make = (_factory if is_factory else _registered)(target, kwargs, episode_length)
        # One env made here to check spaces before the batch, to find how it reports success, and
        # to compute rewards where it reports none.
        probe = make()
        self.obs_dim, self.goal_dim, self.action_dim, low, high = check_spaces(probe, self.name)
        self.scale, self.offset = (high - low) / 2.0, (high + low) / 2.0
        self.action_dtype = probe.action_space.dtype
        probe.reset(seed=0)
        *_, info = probe.step(np.asarray(self.offset, dtype=self.action_dtype))
        self.key = _success_key(info)
        self.reward_env = None
        if self.key is None:
            if not hasattr(probe.unwrapped, "compute_reward"):
                raise BridgeError(
                    f"{self.name}: its info has neither 'is_success' nor 'success', and it has no compute_reward; "
                    "deepcrl cannot tell when a goal is reached"
                )
            self.reward_env = probe.unwrapped
        else:
            probe.close()
        self.distance_threshold = float(getattr(probe.unwrapped, "distance_threshold", float("nan")))
        self.episode_length = episode_length
        vector = AsyncVectorEnv if asynchronous else SyncVectorEnv
        self.vec = vector([make] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
        self.n = num_envs
        self.gym = gym

    def describe(self):
        return (self.obs_dim, self.goal_dim, self.action_dim, self.distance_threshold)

    def _flat(self, obs):
        parts = [np.asarray(obs[k]).reshape(self.n, -1) for k in KEYS]
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def reset(self, seed):
        obs, _ = self.vec.reset(seed=seed)
        return self._flat(obs)

    def _success(self, obs, info, done):
        if self.key is not None:
            success = np.zeros(self.n, dtype=bool)
            if self.key in info:
                success |= np.asarray(info[self.key], dtype=bool) & np.asarray(info.get("_" + self.key, True))
            final = info.get("final_info")
            if final is not None and self.key in final:
                ended = np.asarray(info["_final_info"], dtype=bool)
                success = np.where(ended, np.asarray(final[self.key], dtype=bool), success)
            return success
        achieved, desired = np.array(obs["achieved_goal"]), np.array(obs["desired_goal"])
        if done.any():
            ended = np.flatnonzero(done)
            final = info["final_obs"]
            achieved[ended] = np.stack([final[i]["achieved_goal"] for i in ended])
            desired[ended] = np.stack([final[i]["desired_goal"] for i in ended])
        reward = np.asarray(self.reward_env.compute_reward(achieved, desired, None)).reshape(-1)
        return reward == 0

    def step(self, actions):
        """Actions in [-1, 1] as float32 [n, action_dim] -> (obs float32 [n, dim], terminated, truncated, success)."""
        scaled = (self.offset + self.scale * actions).astype(self.action_dtype)
        obs, _, terminated, truncated, info = self.vec.step(scaled)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        success = self._success(obs, info, terminated | truncated)
        return self._flat(obs), terminated, truncated & ~terminated, success

    def close(self):
        self.vec.close()
        if self.reward_env is not None:
            self.reward_env.close()
