"""Helpers for the stream tests: a stand-in stream server on loopback that runs a test's own script."""

import contextlib
import threading

import msgpack
import pytest
from websockets.sync.server import serve


@contextlib.contextmanager
def fake_stream_server(handler):
    """Serves WebSockets on a loopback port with ``handler(connection)``; yields the HTTP base URL."""
    server = serve(handler, "127.0.0.1", 0, compression=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def pack(msg):
    return msgpack.packb(msg, use_bin_type=True)


def unpack(frame):
    return msgpack.unpackb(frame, raw=False)


@pytest.fixture
def fake_server():
    return fake_stream_server
