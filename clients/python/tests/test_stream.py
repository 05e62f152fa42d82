"""deepcrl_client's Stream against a live server (the session's WebSocket, MessagePack and JSON), and
against stand-in servers that answer late, speak another protocol, or never answer."""

import os
import socket
import time

import numpy as np
import pytest
from conftest import pack, unpack

from deepcrl_client import Client, DeepcrlError

URL = os.environ["DEEPCRL_URL"]
START, GOAL = [4.0, 4.0, 0.0, 0.0], [12.0, 4.0]


@pytest.fixture
def session():
    with Client(URL, timeout=5.0) as c:
        with c.session(obs=START, goal=GOAL, plan_hz=20) as s:
            yield s


def test_the_contract_names_the_served_models_and_the_session(session):
    with session.stream() as stream:
        c = stream.contract
        models = session.client.models()
        assert (c["protocol"], c["session_id"], c["mode"]) == (1, session.id, "act")
        assert (c["state_dim"], c["goal_dim"], c["action_dim"]) == (4, 2, 2)
        assert c["controller"]["sha256"] == models["controller"]["sha256"]
        assert len(c["controller"]["onnx_sha256"]) == 64, "live_server writes student.onnx beside the student"
        assert c["goal"] == GOAL and c["plan_hz"] == 20


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_act_mode_answers_each_observation_as_the_stateless_act_does(session, fmt):
    with session.stream(mode="act", format=fmt) as stream:
        for k in range(5):
            state = [4.0 + 0.5 * k, 4.0, 0.1, 0.0]
            action = stream.act(state, stamp_ms=time.time() * 1e3)
            last = stream.last
            assert action.dtype == np.float32 and action.shape == (2,)
            assert set(last) >= {"seq", "waypoint", "waypoint_index", "plan_id", "fallback", "server_us"}
            same = session.client.act(state, last["waypoint"])
            assert np.allclose(action, same, atol=1e-5), "the student at the waypoint the stream steered to"


def test_refused_frames_carry_the_http_codes_and_the_stream_goes_on(session):
    with session.stream() as stream:
        with pytest.raises(DeepcrlError) as e:
            stream.act(START, stamp_ms=time.time() * 1e3 - 60_000)
        assert (e.value.status, e.value.code) == (408, "stale_observation") and "ms old" in e.value.message
        with pytest.raises(DeepcrlError) as e:
            stream.act(START, deadline_ms=-1)
        assert (e.value.status, e.value.code) == (400, "invalid_deadline")
        with pytest.raises(DeepcrlError) as e:
            stream.act([np.nan, 4, 0, 0])
        assert e.value.code == "non_finite", "refused before sending"
        with pytest.raises(DeepcrlError) as e:
            stream.act([4, 4, 0])
        assert e.value.code == "wrong_dimension"
        assert stream.act(START).shape == (2,)


def test_plans_mode_pushes_plans_and_takes_reports_and_goals(session):
    with session.stream(mode="plans") as stream:
        first = stream.wait_plan(timeout=2.0)
        assert first.waypoints.shape[1] == 2 and list(first.goal) == GOAL
        stream.report([4.0, 8.0, 0.0, 0.0])
        assert list(stream.set_goal([4.0, 12.0], state=[4.0, 8.0, 0.0, 0.0])) == [4.0, 12.0]
        plan = stream.wait_plan(newer_than=first, timeout=2.0)
        deadline = time.monotonic() + 2.0
        while list(plan.goal) != [4.0, 12.0] and time.monotonic() < deadline:
            plan = stream.wait_plan(newer_than=plan, timeout=2.0)
        assert list(plan.goal) == [4.0, 12.0], "plans follow the new goal"
        assert stream.last_error is None, stream.last_error
        with pytest.raises(DeepcrlError) as e:
            stream.act(START)
        assert e.value.code == "invalid_request", "no actions in plans mode"


def test_a_dropped_link_reconnects_and_resumes_the_same_session(session):
    with session.stream(mode="plans") as stream:
        plan = stream.wait_plan(timeout=2.0)
        stream._ws.socket.shutdown(socket.SHUT_RDWR)  # the link breaks under the stream
        deadline = time.monotonic() + 3.0
        while stream.reconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.reconnects == 1 and stream.up
        assert stream.contract["session_id"] == session.id and stream.contract["goal"] == GOAL
        assert stream.wait_plan(newer_than=plan, timeout=2.0).plan_id >= plan.plan_id
    with session.stream() as stream:
        assert stream.act(START).shape == (2,)


def test_the_upgrade_is_refused_like_any_request():
    from deepcrl_client import Stream

    with Client(URL, timeout=5.0) as c:
        with pytest.raises(DeepcrlError) as e:
            Stream(c, "no-such-session")
        assert (e.value.status, e.value.code) == (404, "not_found")
    with pytest.raises(ValueError):
        Stream(Client(URL), "any", mode="fast")
    if os.environ.get("DEEPCRL_API_KEY"):
        with Client(URL, api_key="wrong", timeout=5.0) as c:
            with pytest.raises(DeepcrlError) as e:
                Stream(c, "any")
            assert (e.value.status, e.value.code) == (401, "unauthorized")


def contract(**overrides):
    c = {
        "type": "contract", "protocol": 1, "session_id": "s", "mode": "act", "env": "fake", "state_dim": 4,
        "goal_dim": 2, "action_dim": 2, "goal_indices": [0, 1], "goal": GOAL, "plan_hz": 5.0,
        "max_plan_age_ms": 500.0, "advance_radius": 0.5, "max_obs_age_ms": 100.0, "deadline_ms": 50.0,
        "max_frame_bytes": 1 << 20, "queue_frames": 64, "ping_interval_ms": 1000, "session_ttl_s": 30.0,
        "controller": {"sha256": "0" * 64, "onnx_sha256": None, "checkpoint": "x", "actor_depth": 1, "width": 1},
        "planner": {"sha256": "1" * 64, "onnx_sha256": None, "checkpoint": "y", "actor_depth": 1, "width": 1},
    }
    c.update(overrides)
    return c


def test_a_late_answer_is_a_timeout_and_never_the_answer_to_a_later_observation(fake_server):
    def handler(ws):
        ws.send(pack(contract()))
        for frame in ws:
            obs = unpack(frame)
            if obs["seq"] == 1:
                time.sleep(0.3)
            ws.send(pack({"type": "action", "seq": obs["seq"], "action": [float(obs["seq"]), 0.0]}))

    from deepcrl_client import Stream

    with fake_server(handler) as url, Client(url, timeout=2.0) as c, Stream(c, "s") as stream:
        t = time.monotonic()
        with pytest.raises(DeepcrlError) as e:
            stream.act(START, timeout=0.1)
        assert e.value.code == "timeout" and time.monotonic() - t < 0.25
        assert list(stream.act(START)) == [2.0, 0.0], "the answer to observation 2, not the late one to 1"


def test_another_protocol_or_no_contract_is_refused_before_anything_moves(fake_server):
    from deepcrl_client import Stream

    with fake_server(lambda ws: ws.send(pack(contract(protocol=2)))) as url, Client(url) as c:
        with pytest.raises(DeepcrlError) as e:
            Stream(c, "s")
        assert e.value.code == "protocol_mismatch"
    with fake_server(lambda ws: time.sleep(1.0)) as url, Client(url, timeout=0.3) as c:
        t = time.monotonic()
        with pytest.raises(DeepcrlError) as e:
            Stream(c, "s")
        assert e.value.code == "timeout" and time.monotonic() - t < 0.9


def test_a_dead_server_is_a_connection_error_and_a_mute_one_a_timeout():
    from deepcrl_client import Stream

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(DeepcrlError) as e:
        Stream(Client(f"http://127.0.0.1:{port}", timeout=1.0), "s")
    assert e.value.code == "connection_error"
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(1)  # accepts in the kernel, never speaks
    try:
        t = time.monotonic()
        with pytest.raises(DeepcrlError) as e:
            Stream(Client(f"http://127.0.0.1:{mute.getsockname()[1]}", timeout=0.3), "s")
        assert e.value.code == "timeout" and time.monotonic() - t < 1.5
    finally:
        mute.close()
