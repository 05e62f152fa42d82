//! Which vector instruction set the CPU kernels run on: the widest the CPU offers, unless the
//! environment caps it.
//!
//! `DEEPCRL_MAX_ISA=avx2` (or `portable`) makes an AVX-512 machine run the kernels an AVX2-only CPU
//! would run, so their speed and results can be checked without such a CPU; on ARM64,
//! `DEEPCRL_MAX_ISA=portable` turns the NEON kernel off the same way. It is read once, at
//! first use. It caps our own kernels only: the `gemm` crate, which the larger training products
//! fall back to, detects the CPU on its own (and has AVX2 kernels only for f32).

use std::sync::OnceLock;

/// The instruction-set levels our kernels are compiled for, narrowest first. NEON is ARM64's and the
/// AVX levels x86-64's; [`detected`] reports only its own architecture's, and a cap of `neon` on
/// x86-64 runs the portable code (no x86 kernel sits at that level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, vectorised only as far as the build's target allows.
    Portable,
    /// ARM64's Advanced SIMD (part of every ARMv8-A core: Cortex-A53 and up, Jetson, Raspberry Pi 3+).
    Neon,
    /// AVX2 with FMA and F16C (every AVX2 CPU since Intel Haswell and AMD Zen has all three).
    Avx2,
    /// AVX-512 F on top of the above.
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Isa> {
        [Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Avx512].into_iter().find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The widest level this CPU supports.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("f16c");
        if avx2 && has!("avx512f") {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        return Isa::Neon;
    }
    Isa::Portable
}

/// The level the kernels use: [`detected`], capped by `DEEPCRL_MAX_ISA` when it is set. An
/// unknown value is reported once on stderr and ignored, rather than silently slowing a run.
pub fn active() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let cpu = detected();
        match std::env::var("DEEPCRL_MAX_ISA") {
            Ok(v) => match Isa::parse(&v) {
                Some(cap) => cpu.min(cap),
                None => {
                    eprintln!("warning: DEEPCRL_MAX_ISA={v:?} is not one of portable, neon, avx2, avx512; ignored");
                    cpu
                }
            },
            Err(_) => cpu,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Isa::parse("AVX2"), Some(Isa::Avx2));
        assert_eq!(Isa::parse(" avx512 "), Some(Isa::Avx512));
        assert_eq!(Isa::parse("NEON"), Some(Isa::Neon));
        assert_eq!(Isa::parse("sse4"), None);
        assert!(Isa::Portable < Isa::Neon && Isa::Neon < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
        // Each architecture detects its own levels only.
        let own = if cfg!(target_arch = "x86_64") { detected() != Isa::Neon } else { detected() <= Isa::Neon };
        assert!(own, "{} detected on this architecture", detected());
        // Whatever the cap, the kernels never use more than the CPU has.
        assert!(active() <= detected());
    }
}
