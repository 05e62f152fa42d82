"""Python client for a deepcrl policy server (``cargo serve``).

``Client`` talks to one server: health, the models it serves, and stateless acts. ``Session`` is one
robot's planner session: the server plans waypoints toward the commanded goal a few times a second
and each ``act`` steers the student toward the active one. ``Stream`` is a session's WebSocket
(MessagePack or JSON frames, reconnecting by itself): observations in and actions out every tick, or
plans pushed to a robot that runs the student itself with ``OnboardPolicy`` (onnxruntime on
``student.onnx``, checked against the server's contract). Arrays go in and come out as numpy
``float32``; every failure, from the server or the network, is a :class:`DeepcrlError` carrying the
HTTP status and the server's error code. Every call has a timeout, so a dead or silent server is an
error, never a hang.

>>> from deepcrl_client import Client                                   # doctest: +SKIP
>>> with Client("http://127.0.0.1:8080") as c:                          # doctest: +SKIP
...     with c.session(obs=[4, 4, 0, 0], goal=[12, 4]) as s:
...         action = s.act([4, 4, 0, 0])
...         with s.stream(mode="act") as ws:
...             action = ws.act([4, 4, 0, 0])

Triton's and KServe's clients speak to the same server through the Open Inference Protocol v2
(``/v2``); this package speaks deepcrl's own ``/v1``, which also has sessions and streams.
"""

from ._client import API_KEY_ENV, Client, Session
from ._errors import DeepcrlError
from ._follow import Follower, HeldPlan, Rule

__all__ = ["API_KEY_ENV", "Client", "DeepcrlError", "Follower", "HeldPlan", "OnboardPolicy", "Rule", "Session", "Stream"]
__version__ = "0.2.0"


def __getattr__(name: str):
    # The stream and the onboard policy need optional packages (the `stream` and `onboard` extras):
    # imported when first used, so the HTTP client works without them.
    if name == "Stream":
        from ._stream import Stream

        return Stream
    if name == "OnboardPolicy":
        from ._onboard import OnboardPolicy

        return OnboardPolicy
    raise AttributeError(name)
