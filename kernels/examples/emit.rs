//! `cargo run -p kernels --example emit -- PROGRAM.cu`: writes the kernel program exactly as the
//! CUDA path hands it to NVRTC, and prints the NVRTC options (one per line) and the kernel names
//! (`kernel NAME` lines), for `scripts/kernel-gate.sh`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: emit PROGRAM.cu");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::write(&path, kernels::source::program()) {
        eprintln!("error: writing {}: {e}", std::path::Path::new(&path).display());
        return ExitCode::FAILURE;
    }
    for o in kernels::source::NVRTC_OPTIONS {
        println!("option {o}");
    }
    for k in kernels::source::KERNELS {
        println!("kernel {k}");
    }
    ExitCode::SUCCESS
}
