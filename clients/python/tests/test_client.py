"""deepcrl_client against a live server (scripts/python_clients.sh starts one on tiny models and sets
DEEPCRL_URL and DEEPCRL_API_KEY), and against sockets that never answer."""

import os
import socket
import threading
import time

import numpy as np
import pytest

from deepcrl_client import Client, DeepcrlError

URL = os.environ["DEEPCRL_URL"]
OBS = np.array([[4, 4, 0, 0], [8, 12, 1, 0]], dtype=np.float32)
GOAL = np.array([[12, 4], [4, 4]], dtype=np.float32)


@pytest.fixture
def client():
    with Client(URL, timeout=5.0) as c:
        yield c


def test_health_readiness_and_models(client):
    assert client.health() == {"status": "ok"}
    assert client.ready()
    client.wait_ready(timeout=1.0)
    m = client.models()
    assert m["dims"]["state_dim"] == 4 and m["dims"]["action_dim"] == 2
    assert len(m["controller"]["sha256"]) == 64


def test_stateless_act_takes_a_row_or_a_batch_and_answers_numpy(client):
    one = client.act(OBS[0], GOAL[0])
    assert one.dtype == np.float32 and one.shape == (2,)
    many = client.act(OBS, GOAL)
    assert many.shape == (2, 2) and np.allclose(many[0], one, atol=1e-5)
    assert np.all(np.abs(many) <= 1.0)
    deep = client.act(OBS, GOAL, model="planner")
    assert deep.shape == (2, 2) and not np.array_equal(deep, many)
    assert client.act(list(OBS[0]), tuple(GOAL[0])).shape == (2,), "lists and tuples are taken too"


def test_a_session_plans_acts_changes_goal_and_closes(client):
    with client.session(obs=OBS[0], goal=GOAL[0], plan_hz=20) as s:
        assert s.plan is not None and s.plan["waypoints"], "the first plan comes with the session"
        assert s.plan_hz == 20 and s.ttl_s > 0
        a = s.act(OBS[0])
        assert a.shape == (2,) and set(s.last) >= {"waypoint", "plan_version", "plan_age_ms", "fallback"}
        plan = s.set_goal([4, 12], obs=OBS[0])
        assert plan is not None and plan["goal"] == [4.0, 12.0]
        assert s.info()["goal"] == [4.0, 12.0]
        session_id = s.id
    with pytest.raises(DeepcrlError) as e:
        client.request("GET", f"/v1/sessions/{session_id}")
    assert (e.value.status, e.value.code) == (404, "not_found"), "closed on leaving the block"
    s.close()  # twice is fine


def test_server_errors_carry_status_code_and_message(client):
    with pytest.raises(DeepcrlError) as e:
        client.act([4, 4, 0], GOAL[0])
    assert (e.value.status, e.value.code) == (400, "wrong_dimension") and "obs" in e.value.message
    with pytest.raises(DeepcrlError) as e:
        client.act(OBS[0], GOAL[0], model="huge")
    assert (e.value.status, e.value.code) == (400, "invalid_request")
    with pytest.raises(DeepcrlError) as e:
        client.act(OBS[0], GOAL[0], deadline_ms=0.001)
    assert (e.value.status, e.value.code) == (504, "deadline_exceeded")
    with pytest.raises(DeepcrlError) as e:
        client.act([np.nan, 4, 0, 0], GOAL[0])
    assert (e.value.status, e.value.code) == (None, "non_finite"), "refused before sending"
    with pytest.raises(DeepcrlError) as e:
        client.act(np.zeros((2, 2, 4)), GOAL)
    assert e.value.code == "wrong_dimension"
    assert client.act(OBS[0], GOAL[0]).shape == (2,), "the connection survives errors"


@pytest.mark.skipif(not os.environ.get("DEEPCRL_API_KEY"), reason="the server was started without an API key")
def test_a_wrong_api_key_is_unauthorized_and_health_needs_none():
    with Client(URL, api_key="wrong", timeout=5.0) as c:
        assert c.ready()
        with pytest.raises(DeepcrlError) as e:
            c.models()
        assert (e.value.status, e.value.code) == (401, "unauthorized")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_a_connection_error_at_once():
    t = time.monotonic()
    with pytest.raises(DeepcrlError) as e:
        Client(f"http://127.0.0.1:{free_port()}", timeout=2.0).health()
    assert e.value.code == "connection_error" and e.value.status is None
    assert time.monotonic() - t < 1.5
    with pytest.raises(DeepcrlError) as e:
        Client(f"http://127.0.0.1:{free_port()}", timeout=2.0).wait_ready(timeout=0.3)
    assert e.value.code == "timeout"


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except socket.timeout:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        t = time.monotonic()
        with pytest.raises(DeepcrlError) as e:
            Client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5).act(OBS[0], GOAL[0])
        assert e.value.code == "timeout"
        assert 0.4 < time.monotonic() - t < 2.0
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(ValueError):
        Client("127.0.0.1:8080")
    with pytest.raises(ValueError):
        Client(URL, timeout=0)
