"""Exit 0 when two safetensors files hold the same tensors, bit for bit, and the same metadata.

Byte equality of the files is not the test: safetensors writes its metadata map in hash order, which
differs from process to process.

    python3 scripts/same_teacher.py A.safetensors B.safetensors
"""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {k: (t["dtype"], t["shape"], data[t["data_offsets"][0]:t["data_offsets"][1]]) for k, t in header.items()}
    return meta, tensors


(ma, ta), (mb, tb) = load(sys.argv[1]), load(sys.argv[2])
if ma != mb:
    sys.exit(f"metadata differ: {ma} against {mb}")
if ta.keys() != tb.keys():
    sys.exit(f"tensor names differ: {sorted(ta.keys() ^ tb.keys())}")
differ = [k for k in ta if ta[k] != tb[k]]
if differ:
    sys.exit(f"{len(differ)} of {len(ta)} tensors differ, first {differ[0]}")
print(f"same {len(ta)} tensors ({sum(len(t[2]) for t in ta.values())} bytes) and metadata")
