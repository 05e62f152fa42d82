"""``OnboardPolicy``: the student on the robot, following plans the server pushes.

The robot runs ``student.onnx`` (the export ``distill`` writes beside ``student.safetensors``) with
onnxruntime and steers it to the waypoint the shared plan-following rule picks from the latest plan,
so no control tick waits on the network: plans arrive over the session's stream in ``plans`` mode a
few times a second, and the robot reports its state a few times per plan. When the plan is older
than the contract's limit, or the link is down, it steers to the commanded goal, and takes up plans
again when they return. It refuses to start when its file's SHA-256 is not the one the server's
contract names for the controller's export, so robot and server never disagree about the model.
"""

import hashlib
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ._errors import DeepcrlError
from ._follow import Follower, Rule


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load(path: Path, contract: Dict[str, Any]):
    """The ONNX session for ``path``, after checking it is the server's controller export."""
    if path.is_dir():
        path = path / "student.onnx"
    if not path.is_file():
        raise DeepcrlError(None, "missing_file", f"{path} does not exist: pass the student.onnx that distill wrote")
    server = contract["controller"]
    theirs = server.get("onnx_sha256")
    server_file = str(Path(server["checkpoint"]).with_suffix(".onnx"))
    mine = sha256_file(path)
    if theirs is None:
        raise DeepcrlError(
            None,
            "model_mismatch",
            f"the server has no ONNX export of its controller ({server_file} is missing there): export it "
            "beside the checkpoint the server loads, then fetch that file to the robot",
        )
    if mine != theirs:
        raise DeepcrlError(
            None,
            "model_mismatch",
            f"{path} (sha256 {mine}) is not the server's controller: fetch {server_file} (sha256 {theirs})",
        )
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise DeepcrlError(None, "missing_dependency", f"OnboardPolicy needs onnxruntime ({e}): pip install 'deepcrl-client[onboard]'") from None
    opts = ort.SessionOptions()
    # Batch 1 at a control rate: one thread avoids handing a tiny matmul between cores.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape[-1] for i in session.get_inputs()}
    want = {"state": contract["state_dim"], "goal": contract["goal_dim"]}
    if shapes != want:
        raise DeepcrlError(None, "wrong_dimension", f"{path} takes inputs {shapes}, the server's contract {want}")
    return path, mine, session


class OnboardPolicy:
    """Runs the student locally and follows the plans of ``session``'s stream.

    ``student`` is ``student.onnx`` or the directory holding it. ``reports_per_plan`` state reports
    are sent per plan refresh (the planner plans from a recent state). ``last`` says what the latest
    :meth:`act` steered to: ``target``, ``waypoint_index``, ``fallback`` (``no_plan``,
    ``stale_plan`` or ``None``) and ``plan_id``.
    """

    def __init__(self, session: Any, student: Union[str, Path], format: str = "msgpack", reports_per_plan: float = 4.0, own_session: bool = False) -> None:
        self.session = session
        self.stream = session.stream(mode="plans", format=format)
        try:
            self.student, self.sha256, self._onnx = _load(Path(student), self.stream.contract)
        except BaseException:
            self.stream.close()
            raise
        c = self.stream.contract
        self.follower = Follower(Rule.from_contract(c), np.asarray(c["goal"], dtype=np.float32))
        self._report_every = 1.0 / (max(reports_per_plan, 1e-3) * float(c["plan_hz"]))
        self._last_report = float("-inf")
        self._own_session = own_session
        self.ticks = 0
        self.reports = 0
        self.reports_dropped = 0
        self.last: Dict[str, Any] = {}

    @classmethod
    def open(cls, client: Any, student: Union[str, Path], obs: Any, goal: Any, plan_hz: Optional[float] = None, **kw: Any) -> "OnboardPolicy":
        """Opens a session at ``obs`` toward ``goal`` and its policy; closing the policy deletes it."""
        return cls(client.session(obs=obs, goal=goal, plan_hz=plan_hz), student, own_session=True, **kw)

    def act(self, state: Any, now: Optional[float] = None) -> np.ndarray:
        """The student's action at ``state``: never waits on the network."""
        now = time.monotonic() if now is None else now
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        plan = self.stream.plan
        # A plan toward another goal is one made before the latest set_goal: not followed.
        if plan is not None and self.follower.plan is not plan and np.allclose(plan.goal, self.follower.goal):
            self.follower.take(plan)
        target, index, fallback = self.follower.target(s, now)
        if now - self._last_report >= self._report_every:
            self._last_report = now
            try:
                self.stream.report(s)
                self.reports += 1
            except DeepcrlError:
                self.reports_dropped += 1  # the link is down: the stream reconnects by itself
        out = self._onnx.run(["action"], {"state": s[None, :], "goal": np.asarray(target, dtype=np.float32)[None, :]})
        self.ticks += 1
        self.last = {"target": target, "waypoint_index": index, "fallback": fallback, "plan_id": None if self.follower.plan is None else self.follower.plan.plan_id}
        return np.asarray(out[0][0], dtype=np.float32)

    def set_goal(self, goal: Any, state: Optional[Any] = None) -> None:
        """Commands a new goal: steers to it at once, and follows the server's plans toward it."""
        self.stream.set_goal(goal, state)
        self.follower.set_goal(goal)

    def close(self) -> None:
        self.stream.close()
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "OnboardPolicy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
