"""The plan-following rule (DESIGN.md section 8), as the server and the Rust robot apply it (``link::follow``).

A robot that runs the student itself must steer to the same waypoint the server would from the same
state, or the two disagree about where the robot is going. This is a port of the Rust rule, kept
to its arithmetic: distances in float32, the active waypoint moves on while the state is within the
advance radius of it and never past the last, and a plan older than the maximum plan age (or none)
means steering to the commanded goal. ``tests/test_follow.py`` checks it against a live server.
"""

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

#: Why the robot steers to the commanded goal (the server's ``fallback`` values).
NO_PLAN = "no_plan"
STALE_PLAN = "stale_plan"


@dataclass(frozen=True)
class Rule:
    """The rule's three parameters, as the stream's contract states them."""

    advance_radius: float
    goal_indices: Tuple[int, ...]
    max_plan_age_s: float

    @classmethod
    def from_contract(cls, contract: Dict[str, Any]) -> "Rule":
        return cls(
            advance_radius=float(contract["advance_radius"]),
            goal_indices=tuple(int(k) for k in contract["goal_indices"]),
            max_plan_age_s=float(contract["max_plan_age_ms"]) / 1e3,
        )

    def near(self, state: np.ndarray, waypoint: np.ndarray) -> bool:
        """Whether ``state`` is within the advance radius of ``waypoint`` in goal space (a state too
        short for the goal indices is never near)."""
        if any(k >= len(state) for k in self.goal_indices):
            return False
        d = np.asarray([state[k] for k in self.goal_indices], dtype=np.float32) - waypoint[: len(self.goal_indices)]
        d2 = np.float32(0.0)
        for x in d:  # summed in order, in float32, as the Rust rule does
            d2 = np.float32(d2 + np.float32(x * x))
        return bool(np.sqrt(d2) < np.float32(self.advance_radius))

    def aim(self, waypoints: Optional[np.ndarray], age_s: float, state: np.ndarray, active: int) -> Tuple[Optional[int], Optional[str], int]:
        """Where to steer from ``state`` with a plan of ``waypoints`` made ``age_s`` seconds ago.

        Returns ``(waypoint_index, fallback, active)``: the index steered to (``None`` on fallback),
        why it fell back to the goal (``None`` when it did not), and the new active waypoint.
        """
        if waypoints is None or len(waypoints) == 0:
            return None, NO_PLAN, active
        if age_s > self.max_plan_age_s:
            return None, STALE_PLAN, active
        active = min(active, len(waypoints) - 1)
        while active + 1 < len(waypoints) and self.near(state, waypoints[active]):
            active += 1
        return active, None, active


@dataclass
class HeldPlan:
    """A plan as the robot holds it: ``made`` is on the robot's monotonic clock (the server sends the
    plan's age, so the two clocks need not agree)."""

    plan_id: int
    waypoints: np.ndarray
    made: float
    version: int = 0
    goal: Optional[np.ndarray] = None
    source: str = ""

    @classmethod
    def from_message(cls, msg: Dict[str, Any], arrived: float) -> "HeldPlan":
        return cls(
            plan_id=int(msg["plan_id"]),
            waypoints=np.asarray(msg["waypoints"], dtype=np.float32).reshape(len(msg["waypoints"]), -1),
            made=arrived - float(msg["age_ms"]) / 1e3,
            version=int(msg.get("version", 0)),
            goal=np.asarray(msg["goal"], dtype=np.float32),
            source=str(msg.get("source", "")),
        )


@dataclass
class Follower:
    """The robot's side of a session: the commanded goal, the latest plan and the active waypoint."""

    rule: Rule
    goal: np.ndarray
    plan: Optional[HeldPlan] = None
    active: int = 0

    def take(self, plan: HeldPlan) -> None:
        """Takes up a plan. The same plan again (after a reconnect) keeps the active waypoint; a new
        one starts from its first, as the server does."""
        if self.plan is None or self.plan.plan_id != plan.plan_id:
            self.active = 0
        self.plan = plan

    def set_goal(self, goal: Sequence[float]) -> None:
        """A new commanded goal: the old plan no longer applies."""
        self.goal = np.asarray(goal, dtype=np.float32)
        self.plan = None
        self.active = 0

    def target(self, state: Sequence[float], now: Optional[float] = None) -> Tuple[np.ndarray, Optional[int], Optional[str]]:
        """The point to steer to from ``state`` at ``now`` (``time.monotonic()`` by default):
        ``(target, waypoint_index, fallback)``."""
        now = time.monotonic() if now is None else now
        s = np.asarray(state, dtype=np.float32)
        if self.plan is None:
            waypoints, age = None, 0.0
        else:
            waypoints, age = self.plan.waypoints, max(0.0, now - self.plan.made)
        index, fallback, self.active = self.rule.aim(waypoints, age, s, self.active)
        if index is not None and self.plan is not None:
            return self.plan.waypoints[index], index, None
        return self.goal, None, fallback
