"""OnboardPolicy: the student on the robot (onnxruntime on the server's student.onnx), checked against
the contract, steering where the server's rule would, and through a link that goes down and comes back."""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from conftest import pack, unpack
from test_stream import contract

from deepcrl_client import Client, DeepcrlError, OnboardPolicy
from deepcrl_client._onboard import sha256_file

URL = os.environ["DEEPCRL_URL"]
START, GOAL = [4.0, 8.0, 0.0, 0.0], [4.0, 12.0]


@pytest.fixture
def client():
    with Client(URL, timeout=5.0) as c:
        yield c


def server_onnx(client):
    """The server's controller export, where the contract says it is (on this machine, the robot's copy)."""
    with client.session(obs=START, goal=GOAL) as s, s.stream() as stream:
        return Path(stream.contract["controller"]["checkpoint"]).with_suffix(".onnx")


def test_the_robot_acts_as_the_server_would_at_the_same_target(client):
    onnx = server_onnx(client)
    with OnboardPolicy.open(client, onnx, obs=START, goal=GOAL, plan_hz=20) as policy:
        assert policy.sha256 == policy.stream.contract["controller"]["onnx_sha256"]
        policy.stream.wait_plan(timeout=2.0)
        for k in range(20):
            state = [4.0, 8.0 - 0.25 * k, 0.0, 0.0]
            action = policy.act(state)
            last = policy.last
            assert last["fallback"] is None and last["waypoint_index"] is not None, last
            same = client.act(state, last["target"])
            assert action.dtype == np.float32 and np.allclose(action, same, atol=1e-5)
        assert policy.ticks == 20 and policy.reports >= 1
        session_id = policy.session.id
    with pytest.raises(DeepcrlError) as e:
        client.request("GET", f"/v1/sessions/{session_id}")
    assert e.value.status == 404, "open() made the session, close() deleted it"


def test_another_file_is_refused_and_names_the_one_to_fetch(client, tmp_path):
    onnx = server_onnx(client)
    other = tmp_path / "student.onnx"
    shutil.copy(onnx, other)
    with open(other, "ab") as f:
        f.write(b"\0")
    with client.session(obs=START, goal=GOAL) as s:
        with pytest.raises(DeepcrlError) as e:
            OnboardPolicy(s, tmp_path)  # a directory resolves to the student.onnx in it
        assert e.value.code == "model_mismatch"
        assert str(onnx) in e.value.message and sha256_file(other) in e.value.message
        with pytest.raises(DeepcrlError) as e:
            OnboardPolicy(s, tmp_path / "missing.onnx")
        assert e.value.code == "missing_file"


def test_a_dropped_link_falls_back_to_the_goal_when_the_plan_ages_and_takes_plans_up_again(client, fake_server):
    onnx = server_onnx(client)
    c = contract(mode="plans", goal=[12.0, 4.0], max_plan_age_ms=300.0, plan_hz=5.0)
    c["controller"]["onnx_sha256"] = sha256_file(onnx)
    plan = {"type": "plan", "plan_id": 1, "version": 1, "age_ms": 0.0, "waypoints": [[4.0, 4.0], [12.0, 4.0]], "goal": [12.0, 4.0], "source": "graph"}
    back_at = []  # when the server takes connections again

    def handler(ws):
        if not back_at:
            back_at.append(time.monotonic() + 0.8)
            ws.send(pack(c))
            ws.send(pack(plan))
            unpack(ws.recv(timeout=2.0))  # the robot's first state report, then the link drops
            return
        if time.monotonic() < back_at[0]:
            return  # still down: the upgrade succeeds, the contract never comes
        ws.send(pack(c))
        for version in range(1, 100):  # a fresh plan every 100 ms, as a server refreshes them
            try:
                ws.send(pack(dict(plan, plan_id=2, version=version)))
                ws.recv(timeout=0.1)
            except TimeoutError:
                pass
            except ConnectionClosed:
                return

    with fake_server(handler) as url, Client(url, timeout=1.0) as fake:
        from deepcrl_client import Session

        session = Session(fake, {"session_id": "s"})
        with OnboardPolicy(session, onnx) as policy:
            policy.stream.wait_plan(timeout=1.0)
            seen = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.5:
                policy.act([4.0, 4.0, 0.0, 0.0])
                seen.append((round(time.monotonic() - t0, 2), policy.last["fallback"], policy.last["plan_id"]))
                time.sleep(0.01)
            reconnects = policy.stream.reconnects
        phases = [f for _, f, _ in seen]
        assert phases[0] is None, "following the first plan"
        assert "stale_plan" in phases, f"the plan aged past 300 ms while the link was down: {seen[::20]}"
        first_stale = phases.index("stale_plan")
        assert all(f is None for f in phases[:first_stale])
        assert 0.25 <= seen[first_stale][0] <= 0.6, "stale when the plan is 300 ms old, not before"
        assert phases[-1] is None and seen[-1][2] == 2, f"took up the plan after the link came back: {seen[-5:]}"
        assert reconnects >= 1
