//! With the `cpu-sim` feature, compiles the CUDA kernels' own source as C++ together with the fiber
//! shim that runs CUDA threads on the CPU (see cpu/shim.h).

fn main() {
    for dir in ["cuda", "cpu"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    #[cfg(feature = "cpu-sim")]
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .files(["cpu/shim.cpp", "cpu/launch.cpp", "cpu/selftest.cpp"])
        // Always optimised (the tests run kernels over thousands of simulated threads), and never
        // fusing a·b + c: the CPU result should not depend on the compiler's choice of FMA.
        .opt_level(2)
        .flag("-ffp-contract=off")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("deepcrl_kernels_cpu");
}
