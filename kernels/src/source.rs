//! The kernels' CUDA C source: the files under `kernels/cuda`, in the order they are compiled.

/// (file name, text), helpers first. The CPU build includes the same files in the same order
/// (`kernels/cpu/launch.cpp`).
pub const FILES: [(&str, &str); 6] = [
    ("common.cuh", include_str!("../cuda/common.cuh")),
    ("norm.cu", include_str!("../cuda/norm.cu")),
    ("adam.cu", include_str!("../cuda/adam.cu")),
    ("elementwise.cu", include_str!("../cuda/elementwise.cu")),
    ("actor.cu", include_str!("../cuda/actor.cu")),
    ("loss.cu", include_str!("../cuda/loss.cu")),
];

/// Every `extern "C" __global__` kernel the files define, by the name a module loads.
pub const KERNELS: [&str; 19] = [
    "ln_silu_forward",
    "ln_silu_backward",
    "ln_plain_forward",
    "ln_plain_backward",
    "sum_partials",
    "adam_tick",
    "adam_step",
    "concat_rows",
    "add_bias",
    "add",
    "actor_sample",
    "actor_sample_backward",
    "q_and_grad",
    "actor_alpha",
    "pair_dist",
    "infonce_rows",
    "infonce_reduce",
    "pair_grads_phi",
    "pair_grads_psi",
];

/// NVRTC options besides the architecture, for the runtime compile and the compile gate alike.
/// No fast math: the kernels are tested against the CPU path's IEEE arithmetic (FMA contraction,
/// NVRTC's default, stays on: it moves results by an ulp, well inside the tolerance).
pub const NVRTC_OPTIONS: [&str; 1] = ["--std=c++17"];

/// The whole program as one translation unit, each file under a `#line` directive so a compile
/// error names the file and line it is in.
pub fn program() -> String {
    FILES.iter().map(|(name, text)| format!("#line 1 \"{name}\"\n{text}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_kernel_is_defined_once_and_every_defined_kernel_is_listed() {
        let text = program();
        let defined: Vec<&str> = text
            .split("extern \"C\" __global__ void ")
            .skip(1)
            .map(|rest| rest.split('(').next().unwrap_or_default())
            .collect();
        let mut sorted = defined.clone();
        sorted.sort_unstable();
        let mut listed = KERNELS.to_vec();
        listed.sort_unstable();
        assert_eq!(sorted, listed, "kernels defined in kernels/cuda versus source::KERNELS");
    }
}
