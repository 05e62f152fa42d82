"""``Stream``: a session's WebSocket (``GET /v1/sessions/{id}/stream``, README "Robots on a real network").

The server's first message is the contract; then, in ``act`` mode, one observation in and one action
out per tick, and in ``plans`` mode plans pushed at every refresh while the robot reports its state.
Frames are MessagePack (binary) or JSON (text): plain maps with a ``type`` field, never pickles or
extension types. One background thread reads the socket, answers nothing itself, and reconnects when
the link drops (the server keeps the session for its TTL, so the robot resumes the same goal and
plan); the control loop never waits on it longer than the timeout it gives.
"""

import json
import socket
import threading
import time
from typing import Any, Dict, Optional, Union

import numpy as np

from ._errors import DeepcrlError
from ._follow import HeldPlan

# The optional packages (the `stream` extra), imported once here rather than on every frame; this
# module is itself imported only when a stream is opened, and a missing package is reported then.
try:
    import msgpack
    from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
    from websockets.protocol import State
    from websockets.sync.client import connect
except ImportError as _missing:
    _MISSING: Optional[ImportError] = _missing
else:
    _MISSING = None

#: The stream protocol this client speaks; a contract with another is refused before anything moves.
PROTOCOL = 1
#: Pause between reconnection attempts while the link is down.
RECONNECT_EVERY_S = 0.2


def _refused(msg: Dict[str, Any]) -> DeepcrlError:
    """An error frame as the client's exception, with the server's status and code."""
    return DeepcrlError(msg.get("status"), str(msg.get("code")), str(msg.get("message")))


def _finite(x: Any, what: str, dim: int) -> list:
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.shape != (dim,):
        raise DeepcrlError(None, "wrong_dimension", f"{what} must have {dim} values, not {a.size}")
    if not np.isfinite(a).all():
        raise DeepcrlError(None, "non_finite", f"{what} holds NaN or infinity")
    return [float(v) for v in a]


class Stream:
    """One session's stream. Open it with :meth:`Session.stream`, close it (or use it as a context
    manager); closing the stream leaves the session open.

    ``contract`` is the server's first message (model identities with sha256, dimensions, goal
    indices, plan rate, limits). ``plan`` is the latest plan pushed (``plans`` mode), ``last`` the
    latest action message (``act`` mode), ``reconnects`` how often the link came back.
    """

    def __init__(self, client: Any, session_id: str, mode: str = "act", format: str = "msgpack", timeout: Optional[float] = None) -> None:
        if mode not in ("act", "plans"):
            raise ValueError(f"mode must be 'act' or 'plans', not {mode!r}")
        if format not in ("msgpack", "json"):
            raise ValueError(f"format must be 'msgpack' or 'json', not {format!r}")
        if _MISSING is not None:
            raise DeepcrlError(
                None,
                "missing_dependency",
                f"the stream needs websockets>=15 and msgpack ({_MISSING}): pip install 'deepcrl-client[stream]'",
            )
        self.mode, self.format, self.session_id = mode, format, session_id
        self.timeout = float(timeout if timeout is not None else client.timeout)
        base = client.url.split("://", 1)
        scheme = "wss" if base[0] == "https" else "ws"
        self.url = f"{scheme}://{base[1]}/v1/sessions/{session_id}/stream?mode={mode}&format={format}"
        self._headers = {"authorization": f"Bearer {client._key}"} if client._key else {}
        self._cond = threading.Condition()
        self._answers: Dict[int, Dict[str, Any]] = {}
        self._waiting: set = set()
        self._goal_answers: list = []
        self._seq = 0
        self._closing = False
        self._fatal: Optional[DeepcrlError] = None
        self.plan: Optional[HeldPlan] = None
        self.plans_received = 0
        self.reconnects = 0
        self.last: Optional[Dict[str, Any]] = None
        self.last_error: Optional[DeepcrlError] = None
        self.close_reason: Optional[str] = None
        self._ws, self.contract = self._open()
        self._first = self.contract
        self._reader = threading.Thread(target=self._read, name=f"deepcrl-stream-{session_id[:8]}", daemon=True)
        self._reader.start()

    # -- the socket -----------------------------------------------------------------------------

    def _open(self):
        try:
            ws = connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=self.timeout,
                close_timeout=1.0,
                compression=None,  # small frames at a control rate: deflate costs more than it saves
                proxy=None,  # a robot talks to its server directly
                ping_interval=None,  # the server pings; this end answers
                max_size=None,
            ).__enter__()  # a connection in websockets <= 17, a connecter's connection after: both the same
        except InvalidStatus as e:
            status, body = e.response.status_code, bytes(e.response.body or b"")
            try:
                err = json.loads(body)["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "bad_response", body[:200].decode(errors="replace")
            raise DeepcrlError(status, code, f"the server refused the stream: {message}") from None
        except TimeoutError:
            raise DeepcrlError(None, "timeout", f"{self.url}: no stream within {self.timeout} s") from None
        except (OSError, WebSocketException) as e:
            raise DeepcrlError(None, "connection_error", f"cannot open {self.url}: {e}") from None
        try:
            ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            contract = self._decode(ws.recv(timeout=self.timeout))
        except TimeoutError:
            ws.close()
            raise DeepcrlError(None, "timeout", f"{self.url}: no contract within {self.timeout} s") from None
        except (OSError, WebSocketException) as e:
            raise DeepcrlError(None, "connection_error", f"{self.url} closed before its contract: {e}") from None
        if contract.get("type") != "contract":
            ws.close()
            raise DeepcrlError(None, "bad_response", f"the stream's first message is not a contract: {contract!r:.200}")
        if contract.get("protocol") != PROTOCOL:
            ws.close()
            raise DeepcrlError(
                None,
                "protocol_mismatch",
                f"the server speaks stream protocol {contract.get('protocol')}, this client {PROTOCOL}: upgrade deepcrl-client",
            )
        return ws, contract

    def _decode(self, raw: Union[bytes, str]) -> Dict[str, Any]:
        try:
            msg = msgpack.unpackb(raw, raw=False, strict_map_key=True) if isinstance(raw, bytes) else json.loads(raw)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise DeepcrlError(None, "bad_response", f"a frame that is not a message: {e}") from None
        if not isinstance(msg, dict):
            raise DeepcrlError(None, "bad_response", f"a frame that is not a map: {msg!r:.200}")
        return msg

    def _encode(self, msg: Dict[str, Any]) -> Union[bytes, str]:
        return msgpack.packb(msg, use_bin_type=True) if self.format == "msgpack" else json.dumps(msg, allow_nan=False)

    def _read(self) -> None:
        while True:
            try:
                msg = self._decode(self._ws.recv())
            except ConnectionClosed as e:
                rcvd = e.rcvd
                self.close_reason = f"{rcvd.code} {rcvd.reason}" if rcvd is not None else "no close frame"
                if not self._reconnect():
                    return
                continue
            except DeepcrlError as e:
                self.last_error = e
                continue
            self._route(msg)

    def _route(self, msg: Dict[str, Any]) -> None:
        kind = msg.get("type")
        with self._cond:
            if kind == "plan":
                self.plan = HeldPlan.from_message(msg, time.monotonic())
                self.plans_received += 1
            elif kind == "action" and msg.get("seq") in self._waiting:
                self._answers[msg["seq"]] = msg
            elif kind == "error":
                self.last_error = _refused(msg)
                if msg.get("seq") in self._waiting:
                    self._answers[msg["seq"]] = msg
                elif msg.get("seq") is None:
                    self._goal_answers = self._goal_answers[-7:] + [msg]
            elif kind == "goal_set":
                self._goal_answers = self._goal_answers[-7:] + [msg]
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Tries again every 0.2 s for the session's TTL; false when it gave up or was closed."""
        give_up = time.monotonic() + float(self._first.get("session_ttl_s", 30.0))
        while True:
            with self._cond:
                if self._closing:
                    return False
                self._cond.wait(RECONNECT_EVERY_S)
                if self._closing:
                    return False
            try:
                ws, contract = self._open()
            except DeepcrlError as e:
                if e.status in (401, 403, 404) or time.monotonic() > give_up:
                    self._fail(e)
                    return False
                continue
            mine, theirs = self._first["controller"], contract["controller"]
            if (mine["sha256"], mine.get("onnx_sha256")) != (theirs["sha256"], theirs.get("onnx_sha256")):
                ws.close()
                self._fail(DeepcrlError(None, "model_mismatch", f"the server's controller changed while the link was down (now {theirs['checkpoint']}, sha256 {theirs['sha256']}): open a new stream"))
                return False
            with self._cond:
                self._ws, self.contract = ws, contract
                self.reconnects += 1
                self._cond.notify_all()
            return True

    def _fail(self, e: DeepcrlError) -> None:
        with self._cond:
            self._fatal = e
            self._cond.notify_all()

    def _send(self, msg: Dict[str, Any]) -> None:
        if self._fatal is not None:
            raise self._fatal
        try:
            self._ws.send(self._encode(msg))
        except ConnectionClosed:
            raise DeepcrlError(None, "connection_error", f"the stream to {self.url} is down (reconnecting)") from None

    # -- the messages ---------------------------------------------------------------------------

    def _wait(self, ready, timeout: Optional[float], what: str) -> None:
        """Waits, holding ``self._cond``, until ``ready()``; raises the stream's fatal error, or
        ``timeout`` after ``timeout`` seconds (the stream's by default)."""
        limit = self.timeout if timeout is None else timeout
        end = time.monotonic() + limit
        while not ready():
            if self._fatal is not None:
                raise self._fatal
            left = end - time.monotonic()
            if left <= 0:
                raise DeepcrlError(None, "timeout", f"{what} within {limit} s")
            self._cond.wait(left)

    @property
    def up(self) -> bool:
        """Whether the socket is open now."""
        return self._fatal is None and self._ws.state is State.OPEN

    def act(self, state: Any, stamp_ms: Optional[float] = None, deadline_ms: Optional[float] = None, timeout: Optional[float] = None) -> np.ndarray:
        """The student's action at ``state`` (``act`` mode): waits at most ``timeout`` seconds (the
        stream's by default), then raises ``timeout``; a late answer is dropped, never returned to a
        later call. ``stamp_ms`` is when the state was observed (``time.time() * 1e3``); the server
        refuses one older than the contract's ``max_obs_age_ms`` (``stale_observation``, 408)."""
        if self.mode != "act":
            raise DeepcrlError(None, "invalid_request", "act needs a stream opened with mode='act'")
        seq = self._next(state, stamp_ms, deadline_ms)
        with self._cond:
            try:
                self._wait(lambda: seq in self._answers, timeout, f"no action for observation {seq}")
                msg = self._answers.pop(seq)
            finally:
                self._waiting.discard(seq)
                self._answers.pop(seq, None)
        if msg["type"] == "error":
            raise _refused(msg)
        self.last = msg
        return np.asarray(msg["action"], dtype=np.float32)

    def report(self, state: Any, stamp_ms: Optional[float] = None) -> None:
        """Reports the robot's state (``plans`` mode): the next plan starts from it. Never waits for
        an answer; a refused report shows up in ``last_error``."""
        self._next(state, stamp_ms, None, wait=False)

    def _next(self, state: Any, stamp_ms: Optional[float], deadline_ms: Optional[float], wait: bool = True) -> int:
        msg: Dict[str, Any] = {"type": "obs", "seq": 0, "state": _finite(state, "state", self.contract["state_dim"])}
        if stamp_ms is not None:
            msg["stamp_ms"] = float(stamp_ms)
        if deadline_ms is not None:
            msg["deadline_ms"] = float(deadline_ms)
        with self._cond:
            self._seq += 1
            msg["seq"] = seq = self._seq
            if wait:
                self._waiting.add(seq)
        try:
            self._send(msg)
        except DeepcrlError:
            with self._cond:
                self._waiting.discard(seq)
            raise
        return seq

    def set_goal(self, goal: Any, state: Optional[Any] = None, timeout: Optional[float] = None) -> np.ndarray:
        """Commands a new goal (planned from ``state`` when given) and waits for the server to take it."""
        msg: Dict[str, Any] = {"type": "goal", "goal": _finite(goal, "goal", self.contract["goal_dim"])}
        if state is not None:
            msg["state"] = _finite(state, "state", self.contract["state_dim"])
        with self._cond:
            self._goal_answers.clear()
        self._send(msg)
        with self._cond:
            self._wait(lambda: bool(self._goal_answers), timeout, "the server did not take the goal")
            answer = self._goal_answers.pop(0)
        if answer["type"] == "error":
            raise _refused(answer)
        return np.asarray(answer["goal"], dtype=np.float32)

    def wait_plan(self, newer_than: Optional[HeldPlan] = None, timeout: Optional[float] = None) -> HeldPlan:
        """Waits for a plan other than ``newer_than`` (any plan when ``None``), at most ``timeout`` s."""
        key = None if newer_than is None else (newer_than.plan_id, newer_than.version)
        with self._cond:
            self._wait(lambda: self.plan is not None and (self.plan.plan_id, self.plan.version) != key, timeout, "no new plan")
            assert self.plan is not None
            return self.plan

    def close(self) -> None:
        """Closes the stream (the session stays open until it is deleted or expires)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._ws.close()
        self._reader.join(timeout=2.0)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
