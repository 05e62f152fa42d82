#!/usr/bin/env bash
# The Python clients against a live server (issue 29): Triton's own HTTP client (tritonclient[http],
# speaking the Open Inference Protocol v2) and ours (clients/python, deepcrl_client, speaking /v1).
# Both go into a throwaway venv (.tools/py-clients: tritonclient[http], numpy, pytest, and the
# stream's and onboard policy's websockets, msgpack and onnxruntime from PyPI, about 270 MB and 40 s on
# first use; remade when the pins change; deepcrl_client reinstalled from the checkout on every run). serve's live_server example then starts a server on tiny models on a loopback
# port for each suite: without an API key for tritonclient, with one for deepcrl_client. Last, the
# Gymnasium-style example runs once per mode (HTTP session, stream, student on board) against it. CI runs this after the workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.tools/py-clients
pins=("tritonclient[http]==2.73.0" "numpy>=1.24,<3" "pytest==9.2.0" "websockets==17.4" "msgpack==1.2.4"
  "onnxruntime==1.32.0")
stamp="$venv/.pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" >"$stamp"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall ./clients/python
py=$(cd "$venv/bin" && pwd)/python

cargo build --quiet -p serve --example live_server
live=target/debug/examples/live_server
pytest=("$py" -m pytest -q -p no:cacheprovider)
echo "== tritonclient[http] against /v2"
env -u DEEPCRL_API_KEY "$live" "${pytest[@]}" serve/tests/python
echo "== deepcrl_client against /v1 (with an API key)"
DEEPCRL_API_KEY=python-clients-test "$live" "${pytest[@]}" clients/python/tests
for mode in session stream onboard; do
  echo "== clients/python/examples/gym_loop.py --mode $mode"
  env -u DEEPCRL_API_KEY "$live" sh -c "\"$py\" clients/python/examples/gym_loop.py --url \"\$DEEPCRL_URL\" --steps 500 --mode $mode"
done
