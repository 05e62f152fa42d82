//! The warning a stage binary prints when it was built without optimisation.
//!
//! The product's usage line is `cargo run -p train`, which builds the dev profile: our crates at
//! opt-level 1 with debug assertions. Training then runs several times slower than a release build
//! and nothing would say so (issue 30). Each binary names its [`Stage`] (what the slowdown of that
//! stage measured, and the command to use instead) and calls [`warn_if_unoptimised!`] once, after
//! its flags parsed, so `--help` and `--version` stay clean.
//!
//! Whether the build was optimised is read from `debug_assertions` in the binary's own crate: cargo's
//! dev and test profiles set it, release and bench do not. The opt-level itself is not visible to the
//! compiled code, and the slowdown comes from the dev profile as a whole, not from one crate's level.
//!
//! ```
//! let stage = buildinfo::Stage { bin: "train", release: "cargo run --release -p train --", measured: "4.5x slower" };
//! assert!(buildinfo::warning(&stage, true).is_none());
//! let w = buildinfo::warning(&stage, false).unwrap();
//! assert!(w.starts_with("warning: ") && w.contains("cargo run --release -p train --") && !w.contains('\n'));
//! ```

/// One stage binary, as its warning names it.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// The binary's name, as the user ran it.
    pub bin: &'static str,
    /// The command that builds and runs it optimised (flags follow it).
    pub release: &'static str,
    /// What the dev build costs this stage, as measured: the figure, what was timed, and where
    /// (`docs/performance.md`, "Debug and release builds", has the commands).
    pub measured: &'static str,
}

/// The one-line warning for a build that is not `optimised`; `None` for an optimised one.
pub fn warning(stage: &Stage, optimised: bool) -> Option<String> {
    if optimised {
        return None;
    }
    let Stage { bin, release, measured } = stage;
    Some(format!("warning: this {bin} {MARK} ({measured}); `{release} ...` builds an optimised one"))
}

/// The words every warning carries.
const MARK: &str = "is an unoptimised debug build";

/// Whether a binary's stderr carries the warning (for the stages' tests).
pub fn warned(stderr: &str) -> bool {
    stderr.lines().any(|l| l.starts_with("warning: ") && l.contains(MARK))
}

/// Prints [`warning`] on stderr when the calling crate was built with debug assertions (the dev or
/// test profile). A macro, so the profile read is the binary's, not this crate's.
#[macro_export]
macro_rules! warn_if_unoptimised {
    ($stage:expr) => {
        if let Some(line) = $crate::warning(&$stage, !cfg!(debug_assertions)) {
            eprintln!("{line}");
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: Stage = Stage { bin: "serve", release: "cargo serve", measured: "act latency 3x" };

    #[test]
    fn only_an_unoptimised_build_warns_and_the_line_names_the_stage_and_the_command() {
        assert_eq!(warning(&STAGE, true), None);
        assert_eq!(
            warning(&STAGE, false).as_deref(),
            Some("warning: this serve is an unoptimised debug build (act latency 3x); `cargo serve ...` builds an optimised one")
        );
        assert!(warned(&format!("a line\n{}\nanother", warning(&STAGE, false).unwrap())));
        assert!(!warned("warning: something else\nis an unoptimised debug build"));
    }
}
