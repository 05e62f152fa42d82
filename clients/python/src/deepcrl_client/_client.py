"""``Client`` and ``Session`` over deepcrl's ``/v1`` HTTP API (README "Serving")."""

import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Union

import numpy as np

from ._errors import DeepcrlError

if TYPE_CHECKING:
    from ._stream import Stream

#: The environment variable the server and its clients read the API key from.
API_KEY_ENV = "DEEPCRL_API_KEY"

ArrayLike = Union[Sequence[float], Sequence[Sequence[float]], np.ndarray]


def _rows(x: ArrayLike, what: str) -> list:
    """``x`` as nested lists of float32 values, refusing NaN and infinity before they are sent."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim not in (1, 2):
        raise DeepcrlError(None, "wrong_dimension", f"{what} must be one row or a batch of rows, not shape {a.shape}")
    if not np.isfinite(a).all():
        raise DeepcrlError(None, "non_finite", f"{what} holds NaN or infinity")
    return a.tolist()


class Client:
    """One deepcrl server.

    ``url`` is the server's base address; ``api_key`` defaults to the ``DEEPCRL_API_KEY`` environment
    variable; ``timeout`` (seconds) bounds every call, connecting included. The client keeps one
    connection alive and may be shared between threads (calls take turns on it); give each control
    loop its own client for parallel requests.
    """

    def __init__(self, url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"url must be http://HOST:PORT or https://HOST:PORT, not {url!r}")
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._parsed = parsed
        self._key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._conn: Optional[http.client.HTTPConnection] = None
        self._lock = threading.Lock()

    # -- transport ------------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        p = self._parsed
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname, p.port, timeout=self.timeout)
        conn.connect()
        # Small requests at a control rate: send each at once rather than wait to coalesce.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _send(self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str]):
        if self._conn is None:
            self._conn = self._connect()
        self._conn.request(method, path, body=body, headers=headers)
        resp = self._conn.getresponse()
        return resp.status, resp.read()

    def request(self, method: str, path: str, body: Any = None, deadline_ms: Optional[float] = None) -> Any:
        """One call: the decoded JSON answer (``None`` for 204), or :class:`DeepcrlError`."""
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            try:
                data = json.dumps(body, allow_nan=False).encode()
            except ValueError as e:
                raise DeepcrlError(None, "non_finite", str(e)) from None
            headers["content-type"] = "application/json"
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        if deadline_ms is not None:
            headers["x-deadline-ms"] = repr(float(deadline_ms))
        with self._lock:
            status, raw = self._exchange(method, path, data, headers)
        if status == 204:
            return None
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            raise DeepcrlError(status, "bad_response", f"{method} {path}: not JSON: {raw[:200]!r}") from None
        if 200 <= status < 300:
            return answer
        err = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(err, dict):
            raise DeepcrlError(status, str(err.get("code", "unknown")), str(err.get("message", "")))
        raise DeepcrlError(status, "bad_response", f"{method} {path}: {raw[:200]!r}")

    def _exchange(self, method: str, path: str, data: Optional[bytes], headers: Dict[str, str]):
        # A kept-alive connection the server has closed fails on first use: that one try is repeated
        # on a fresh connection. Anything else is the caller's error.
        for attempt in (0, 1):
            reused = self._conn is not None
            try:
                return self._send(method, path, data, headers)
            except socket.timeout:
                self.close()
                raise DeepcrlError(None, "timeout", f"{self.url} did not answer {method} {path} within {self.timeout} s") from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if reused and attempt == 0:
                    continue
                raise DeepcrlError(None, "connection_error", f"{self.url}: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise DeepcrlError(None, "connection_error", f"cannot reach {self.url}: {e}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Closes the kept-alive connection (a later call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API --------------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """``/healthz``: the server process is up."""
        return self.request("GET", "/healthz")

    def ready(self) -> bool:
        """Whether the models are loaded and warmed up (``/readyz``)."""
        try:
            self.request("GET", "/readyz")
            return True
        except DeepcrlError as e:
            if e.status == 503:
                return False
            raise

    def wait_ready(self, timeout: float = 30.0, poll: float = 0.1) -> None:
        """Waits until :meth:`ready`, at most ``timeout`` seconds (then ``DeepcrlError`` ``timeout``)."""
        end = time.monotonic() + timeout
        while True:
            try:
                if self.ready():
                    return
            except DeepcrlError as e:
                if e.code != "connection_error":
                    raise
            if time.monotonic() >= end:
                raise DeepcrlError(None, "timeout", f"{self.url} was not ready within {timeout} s")
            time.sleep(poll)

    def models(self) -> Dict[str, Any]:
        """``/v1/models``: both models' checkpoints and sha256, the dimensions, the planner's graph."""
        return self.request("GET", "/v1/models")

    def act(self, obs: ArrayLike, goal: ArrayLike, model: str = "controller", deadline_ms: Optional[float] = None) -> np.ndarray:
        """Stateless action(s) for ``obs`` toward ``goal``: one row in, one action out (shape
        ``(action_dim,)``); a batch of rows in, a batch out (``(n, action_dim)``). ``model`` is
        ``"controller"`` (the student) or ``"planner"`` (the deep teacher's actor)."""
        body = {"obs": _rows(obs, "obs"), "goal": _rows(goal, "goal"), "model": model}
        return np.asarray(self.request("POST", "/v1/act", body, deadline_ms)["action"], dtype=np.float32)

    def session(self, obs: ArrayLike, goal: ArrayLike, plan_hz: Optional[float] = None, deadline_ms: Optional[float] = None) -> "Session":
        """Opens a planner session at ``obs`` toward ``goal`` (close it, or use it as a context manager)."""
        body: Dict[str, Any] = {"obs": _rows(obs, "obs"), "goal": _rows(goal, "goal")}
        if plan_hz is not None:
            body["plan_hz"] = plan_hz
        return Session(self, self.request("POST", "/v1/sessions", body, deadline_ms))


class Session:
    """One robot's planner session (``/v1/sessions/{id}``).

    ``plan`` is the latest plan the server sent (waypoints in goal space), ``last`` the full answer of
    the latest :meth:`act` (waypoint, plan version and age, whether it fell back to the goal).
    """

    def __init__(self, client: Client, created: Dict[str, Any]) -> None:
        self.client = client
        self.id: str = created["session_id"]
        self.plan: Optional[Dict[str, Any]] = created.get("plan")
        self.plan_hz: float = created.get("plan_hz", 0.0)
        self.ttl_s: float = created.get("session_ttl_s", 0.0)
        self.max_plan_age_ms: float = created.get("max_plan_age_ms", 0.0)
        self.last: Optional[Dict[str, Any]] = None
        self._closed = False

    def act(self, obs: ArrayLike, deadline_ms: Optional[float] = None) -> np.ndarray:
        """The student's action at ``obs`` toward the session's active waypoint."""
        self.last = self.client.request("POST", f"/v1/sessions/{self.id}/act", {"obs": _rows(obs, "obs")}, deadline_ms)
        return np.asarray(self.last["action"], dtype=np.float32)

    def set_goal(self, goal: ArrayLike, obs: Optional[ArrayLike] = None) -> Optional[Dict[str, Any]]:
        """Commands a new goal (re-planned from ``obs`` when given); returns the new plan."""
        body: Dict[str, Any] = {"goal": _rows(goal, "goal")}
        if obs is not None:
            body["obs"] = _rows(obs, "obs")
        self.plan = self.client.request("PUT", f"/v1/sessions/{self.id}/goal", body).get("plan")
        return self.plan

    def info(self) -> Dict[str, Any]:
        """The server's view of the session (goal, plan, active waypoint, age)."""
        return self.client.request("GET", f"/v1/sessions/{self.id}")

    def stream(self, mode: str = "act", format: str = "msgpack", timeout: Optional[float] = None) -> "Stream":
        """Opens the session's WebSocket stream (needs the ``stream`` extra: websockets and msgpack).

        ``mode="act"``: observations in, actions out every tick; ``mode="plans"``: the server pushes
        plans and the robot runs the student itself (see :class:`OnboardPolicy`). ``format`` is the
        server's encoding: ``msgpack`` (binary frames) or ``json`` (text frames, for debugging).
        """
        from ._stream import Stream

        return Stream(self.client, self.id, mode=mode, format=format, timeout=timeout)

    def close(self) -> None:
        """Deletes the session; closing twice, or one the server already expired, is not an error."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.request("DELETE", f"/v1/sessions/{self.id}")
        except DeepcrlError as e:
            if e.status != 404:
                raise

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
