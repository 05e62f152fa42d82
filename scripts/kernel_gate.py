#!/usr/bin/env python3
"""Compile gate for the GPU kernels (issue 16, item 3a), run by scripts/kernel-gate.sh.

Compiles the kernel program with NVRTC (the same library and options the CUDA path uses at run
time) for each architecture, assembles the PTX with ptxas -v, and fails on any register spill, any
kernel missing from the output, or PTX newer than the driver the GPUs run (CUDA 13.0: PTX ISA 9.0).
Prints a Markdown table of registers, shared memory and stack per kernel and architecture.
"""
import ctypes
import re
import subprocess
import sys
from pathlib import Path

# PTX ISA the CUDA 13.0 driver accepts at most (DESIGN.md section 10: the lent GPUs' driver).
MAX_PTX_ISA = (9, 0)
ARCHS = ["80", "90"]


def nvrtc_ptx(lib, source: bytes, options: list[str], arch: str) -> str:
    prog = ctypes.c_void_p()
    check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source, b"kernels.cu", 0, None, None), "create")
    opts = options + [f"--gpu-architecture=compute_{arch}"]
    argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    rc = lib.nvrtcCompileProgram(prog, len(opts), argv)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        sys.exit(f"kernel gate: NVRTC failed for compute_{arch}:\n{log.value.decode(errors='replace')}")
    check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "PTX size")
    ptx = ctypes.create_string_buffer(size.value)
    check(lib, lib.nvrtcGetPTX(prog, ptx), "PTX")
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return ptx.value.decode()


def check(lib, rc: int, what: str) -> None:
    if rc != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        sys.exit(f"kernel gate: nvrtc {what}: {lib.nvrtcGetErrorString(rc).decode()}")


def ptxas(ptxas_bin: str, ptx_path: Path, arch: str) -> dict:
    out = subprocess.run(
        [ptxas_bin, "-v", f"--gpu-name=sm_{arch}", "-o", "/dev/null", str(ptx_path)],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"kernel gate: ptxas sm_{arch} failed:\n{out.stderr}")
    kernels, current = {}, None
    for line in out.stderr.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            current = kernels.setdefault(m.group(1), {})
        elif current is not None and (m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)):
            current.update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        elif current is not None and (m := re.search(r"Used (\d+) registers", line)):
            current["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            current["smem"] = int(s.group(1)) if s else 0
    return kernels


def main() -> None:
    if len(sys.argv) != 5:
        sys.exit("usage: kernel_gate.py PROGRAM.cu EMIT_OUTPUT LIBNVRTC PTXAS")
    program, emitted, libnvrtc, ptxas_bin = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    lines = emitted.read_text().splitlines()
    options = [l.split(" ", 1)[1] for l in lines if l.startswith("option ")]
    expected = [l.split(" ", 1)[1] for l in lines if l.startswith("kernel ")]
    lib = ctypes.CDLL(libnvrtc)
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    failures, rows = [], []
    for arch in ARCHS:
        ptx = nvrtc_ptx(lib, program.read_bytes(), options, arch)
        isa = re.search(r"^\.version (\d+)\.(\d+)", ptx, re.M)
        if not isa or (int(isa.group(1)), int(isa.group(2))) > MAX_PTX_ISA:
            failures.append(f"compute_{arch}: PTX ISA {isa.group(0) if isa else '?'} is newer than {MAX_PTX_ISA}")
        ptx_path = program.with_suffix(f".sm_{arch}.ptx")
        ptx_path.write_text(ptx)
        found = ptxas(ptxas_bin, ptx_path, arch)
        for name in expected:
            k = found.get(name)
            if k is None or "registers" not in k:
                failures.append(f"sm_{arch}: kernel {name} is not in ptxas's output")
                continue
            if k.get("spill_stores", 0) or k.get("spill_loads", 0):
                failures.append(f"sm_{arch}: kernel {name} spills ({k['spill_stores']} B stored, {k['spill_loads']} B loaded)")
            rows.append((name, arch, k["registers"], k["smem"], k.get("stack", 0), k.get("spill_stores", 0) + k.get("spill_loads", 0)))
    isa_text = f"{isa.group(1)}.{isa.group(2)}" if isa else "?"
    print(f"NVRTC {major.value}.{minor.value}, options {' '.join(options)}, PTX ISA {isa_text}\n")
    print("| kernel | arch | registers | static shared memory (bytes) | stack (bytes) | spill (bytes) |")
    print("|---|---|---|---|---|---|")
    for name, arch, regs, smem, stack, spill in sorted(rows):
        print(f"| `{name}` | sm_{arch} | {regs} | {smem} | {stack} | {spill} |")
    if failures:
        sys.exit("kernel gate failed:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
