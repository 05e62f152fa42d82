"""The Python port of the plan-following rule: the Rust rule's own cases (link/src/follow.rs), and the
same waypoint as a live server's session picks, state by state, along a plan."""

import os

import numpy as np

from deepcrl_client import Client, Follower, HeldPlan, Rule

RULE = Rule(advance_radius=0.5, goal_indices=(0, 1), max_plan_age_s=1.0)
PATH = np.array([[1, 0], [4, 0], [8, 0]], dtype=np.float32)


def s(*xs):
    return np.array(xs, dtype=np.float32)


def test_the_active_waypoint_advances_within_the_radius_and_stops_at_the_goal():
    active = 0
    for state, want in [((0, 0, 9), 0), ((1.2, 0, 9), 1), ((0, 0), 1), ((4, 0.4), 2), ((8, 0), 2)]:
        index, fallback, active = RULE.aim(PATH, 0.0, s(*state), active)
        assert (index, fallback) == (want, None), state
    close = np.array([[0.1, 0], [0.2, 0], [3, 0]], dtype=np.float32)
    assert RULE.aim(close, 0.0, s(0, 0), 0)[0] == 2, "one call may pass several waypoints"


def test_no_plan_and_a_stale_plan_fall_back_to_the_goal():
    assert RULE.aim(None, 0.0, s(0, 0), 0)[:2] == (None, "no_plan")
    assert RULE.aim(np.zeros((0, 2), np.float32), 0.0, s(0, 0), 0)[:2] == (None, "no_plan")
    assert RULE.aim(PATH, 1.001, s(0, 0), 0)[:2] == (None, "stale_plan")
    assert RULE.aim(PATH, 1.0, s(0, 0), 0)[:2] == (0, None), "exactly the limit is not stale"


def test_a_state_too_short_for_the_goal_indices_is_never_near():
    assert not Rule(0.5, (0, 5), 1.0).near(s(1, 0), s(1, 0))


def test_the_follower_keeps_its_place_in_a_plan_it_already_has_and_restarts_a_new_one():
    f = Follower(RULE, s(8, 0))
    target, index, fallback = f.target(s(0, 0), now=0.0)
    assert (list(target), index, fallback) == ([8, 0], None, "no_plan")
    plan = HeldPlan(plan_id=7, waypoints=PATH, made=0.0)
    f.take(plan)
    assert f.target(s(1, 0), now=0.0)[1] == 1
    f.take(HeldPlan(plan_id=7, waypoints=PATH, made=0.0))
    assert f.target(s(0, 0), now=0.0)[1] == 1, "the same plan again keeps the active waypoint"
    f.take(HeldPlan(plan_id=8, waypoints=PATH, made=0.0))
    assert f.target(s(0, 0), now=0.0)[1] == 0, "a new plan starts from its first waypoint"
    target, index, fallback = f.target(s(0, 0), now=2.0)
    assert (list(target), index, fallback) == ([8, 0], None, "stale_plan")
    f.set_goal([0, 8])
    target, index, fallback = f.target(s(0, 0), now=0.0)
    assert (list(target), index, fallback) == ([0, 8], None, "no_plan")


def test_the_port_picks_the_servers_waypoint_state_by_state():
    # One plan for the whole walk (plan_hz 0.1: the next refresh is 10 s away), the rule's parameters
    # from the stream's contract, and the server's choice from each HTTP session act. On the fixture's
    # untrained critic, (4, 8) -> (4, 12) is planned through (4, 4).
    with Client(os.environ["DEEPCRL_URL"], timeout=5.0) as client:
        with client.session(obs=[4, 8, 0, 0], goal=[4, 12], plan_hz=0.1) as session:
            with session.stream() as stream:
                rule = Rule.from_contract(stream.contract)
            plan = session.plan
            waypoints = np.asarray(plan["waypoints"], dtype=np.float32)
            assert len(waypoints) >= 2, plan
            f = Follower(rule, s(4, 12))
            f.take(HeldPlan(plan_id=plan["plan_id"], waypoints=waypoints, made=0.0))
            # From the start to each waypoint in turn, in steps a fifth of the advance radius, and
            # past the waypoints' edges (just inside and just outside the radius).
            pos, states = np.array([4, 8], np.float32), []
            for w in waypoints:
                for t in np.linspace(0, 1, 12):
                    states.append(pos + t * (w - pos))
                pos = w
            r = rule.advance_radius
            states += [waypoints[-1] + [r * 0.99, 0], waypoints[-1] + [r * 1.01, 0]]
            picked, advanced = [], 0
            for p in states:
                state = [float(p[0]), float(p[1]), 0.0, 0.0]
                session.act(state)
                theirs = session.last
                assert theirs["plan_id"] == plan["plan_id"], "the plan was refreshed during the walk"
                _, index, fallback = f.target(state, now=0.0)
                assert (index, fallback) == (theirs["waypoint_index"], theirs["fallback_reason"]), (state, picked)
                advanced = max(advanced, index)
                picked.append(index)
            assert advanced == len(waypoints) - 1, f"the walk reached the last waypoint: {picked}"
