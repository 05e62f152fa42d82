"""Triton's own HTTP client (tritonclient[http]) against a live deepcrl server (issue 29).

Run by scripts/oip_clients.sh, which installs the client into a throwaway venv and starts the server
on tiny models (serve's oip_live example); DEEPCRL_URL is that server. Every action the v2 protocol
returns must equal /v1/act's for the same inputs, in each of the client's data encodings.
"""

import json
import os
import urllib.request

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

URL = os.environ["DEEPCRL_URL"]
MODELS = ("controller", "planner")
OBS = np.array([[4, 4, 0, 0], [8, 12, 1, 0], [12, 4, -0.5, 0.25]], dtype=np.float32)
GOAL = np.array([[12, 4], [4, 4], [4, 12]], dtype=np.float32)


@pytest.fixture
def client():
    c = httpclient.InferenceServerClient(url=URL.removeprefix("http://"), connection_timeout=10, network_timeout=10)
    yield c
    c.close()


def v1_act(obs, goal, model):
    body = json.dumps({"obs": obs.tolist(), "goal": goal.tolist(), "model": model}).encode()
    req = urllib.request.Request(URL + "/v1/act", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return np.array(json.load(resp)["action"], dtype=np.float32)


def inputs(obs, goal, binary, datatype="FP32"):
    out = []
    for name, x in (("obs", obs), ("goal", goal)):
        t = httpclient.InferInput(name, list(x.shape), datatype)
        t.set_data_from_numpy(x, binary_data=binary)
        out.append(t)
    return out


def test_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "deepcrl" and "binary_tensor_data" in meta["extensions"]
    for model in MODELS:
        assert client.is_model_ready(model) and client.is_model_ready(model, model_version="1")
        m = client.get_model_metadata(model)
        assert [(t["name"], t["datatype"], t["shape"]) for t in m["inputs"]] == [
            ("obs", "FP32", [-1, 4]),
            ("goal", "FP32", [-1, 2]),
        ]
        assert [(t["name"], t["shape"]) for t in m["outputs"]] == [("action", [-1, 2])]
        assert len(m["parameters"]["sha256"]) == 64
    assert not client.is_model_ready("teacher")
    assert not client.is_model_ready("controller", model_version="2")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False, None])
def test_infer_equals_v1_act(client, model, binary_in, binary_out):
    outputs = None if binary_out is None else [httpclient.InferRequestedOutput("action", binary_data=binary_out)]
    result = client.infer(model, inputs(OBS, GOAL, binary_in), outputs=outputs, request_id="req-1")
    action = result.as_numpy("action")
    assert action.dtype == np.float32 and action.shape == (3, 2)
    assert np.array_equal(action, v1_act(OBS, GOAL, model))
    assert result.get_response()["id"] == "req-1"
    assert result.get_response()["model_name"] == model


def test_batch_of_one_and_row_zero_of_a_batch_agree(client):
    one = client.infer("controller", inputs(OBS[:1], GOAL[:1], True)).as_numpy("action")
    many = client.infer("controller", inputs(OBS, GOAL, True)).as_numpy("action")
    assert one.shape == (1, 2) and np.allclose(one[0], many[0], atol=1e-5)


def expect_error(status, code, call):
    with pytest.raises(InferenceServerException) as err:
        call()
    assert err.value.status() == status, err.value
    assert err.value.message().startswith(code + ": "), err.value.message()


def test_bad_requests_raise_the_servers_status_and_code(client):
    wide = np.zeros((3, 3), dtype=np.float32)
    expect_error("400", "wrong_dimension", lambda: client.infer("controller", inputs(wide, GOAL, True)))
    expect_error("400", "wrong_dimension", lambda: client.infer("controller", inputs(OBS, GOAL[:2], False)))
    as_f64 = (OBS.astype(np.float64), GOAL.astype(np.float64))
    expect_error("400", "invalid_request", lambda: client.infer("controller", inputs(*as_f64, True, "FP64")))
    nan = OBS.copy()
    nan[1, 2] = np.nan
    expect_error("400", "non_finite", lambda: client.infer("controller", inputs(nan, GOAL, True)))
    expect_error("404", "not_found", lambda: client.infer("teacher", inputs(OBS, GOAL, True)))
    expect_error("404", "not_found", lambda: client.get_model_metadata("controller", model_version="2"))
