//! `context()`, `bail!` and `ensure!` for a stage's own error type, as `anyhow` gives them to
//! `anyhow::Error`.
//!
//! Every stage's library returns its own `thiserror` enum, and every one of them wants messages of
//! the shape "what was being done: why" (`loading the teacher: runs/x: no teacher.safetensors ...`).
//! A generic trait cannot do it: with the target error a type parameter, `?` leaves it ambiguous. So
//! this macro writes the trait and the two macros once per crate, for the enum named.

/// `rundir::error_context!(MyError in error);`, in the module `crate::error` that declares `MyError`
/// (the module is named so the macros below find the type from anywhere in the crate), defines there:
/// - `pub trait Context<T>` with `context` and `with_context`, for every `Result<T, E>` whose `E`
///   converts into `MyError` (wrapped as `MyError::Context { context: String, cause: Box<MyError> }`,
///   whose message should join the two) and for `Option<T>` (`None` becomes `MyError::Invalid`);
/// - `bail!("...")`, returning `MyError::Invalid(message)`, and `bail!(config: "...")`, returning
///   `MyError::Config(message)`, for a flag or configuration value that cannot work;
/// - `ensure!(cond, ...)`: `bail!(...)` unless `cond` holds.
///
/// The enum needs the variants `Context`, `Invalid(String)` and `Config(String)`.
// `crate::` (not `$crate::`) is meant: the type lives in the calling crate.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! error_context {
    ($error:ident in $($module:ident)::+) => {
        $crate::error_context!(@with $error, $($module)::+, $);
    };
    // `$d` is a literal `$`, so the macros written here can have metavariables of their own.
    (@with $error:ident, $($module:ident)::+, $d:tt) => {
        /// Prepends what was being done to an error (the message reads outside in).
        pub trait Context<T> {
            fn context(self, context: impl Into<String>) -> std::result::Result<T, $error>;
            fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> std::result::Result<T, $error>;
        }

        impl<T, E: Into<$error>> Context<T> for std::result::Result<T, E> {
            fn context(self, context: impl Into<String>) -> std::result::Result<T, $error> {
                self.map_err(|e| $error::Context { context: context.into(), cause: Box::new(e.into()) })
            }
            fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> std::result::Result<T, $error> {
                self.map_err(|e| $error::Context { context: context().into(), cause: Box::new(e.into()) })
            }
        }

        impl<T> Context<T> for Option<T> {
            fn context(self, context: impl Into<String>) -> std::result::Result<T, $error> {
                self.ok_or_else(|| $error::Invalid(context.into()))
            }
            fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> std::result::Result<T, $error> {
                self.ok_or_else(|| $error::Invalid(context().into()))
            }
        }

        /// Returns the crate's error: `Invalid` with the message, or `Config` after `config:`.
        #[allow(unused_macros)]
        macro_rules! bail {
            (config: $d($d fmt:tt)+) => {
                return Err(crate::$($module::)+$error::Config(format!($d($d fmt)+)))
            };
            ($d($d fmt:tt)+) => {
                return Err(crate::$($module::)+$error::Invalid(format!($d($d fmt)+)))
            };
        }
        #[allow(unused_imports)]
        pub(crate) use bail;

        /// `bail!(...)` unless the condition holds.
        #[allow(unused_macros)]
        macro_rules! ensure {
            ($d cond:expr, $d($d fmt:tt)+) => {
                if !$d cond {
                    return Err(crate::$($module::)+$error::Invalid(format!($d($d fmt)+)));
                }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use ensure;
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    pub enum Demo {
        #[error("{0}")]
        Config(String),
        #[error("{0}")]
        Invalid(String),
        #[error("io: {0}")]
        Io(#[from] std::io::Error),
        #[error("{context}: {cause}")]
        Context { context: String, cause: Box<Demo> },
    }
    crate::error_context!(Demo in context::tests);

    fn check(width: usize) -> Result<(), Demo> {
        ensure!(width > 0, "width {width} must be positive");
        if width > 8 {
            bail!(config: "--width {width}: at most 8");
        }
        Ok(())
    }

    #[test]
    fn context_reads_outside_in_and_keeps_the_cause() {
        let inner: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        let e = inner.context("writing metrics.jsonl").with_context(|| format!("run {}", "x")).unwrap_err();
        assert_eq!(e.to_string(), "run x: writing metrics.jsonl: io: disk full");
        match e {
            Demo::Context { cause, .. } => assert!(matches!(*cause, Demo::Context { .. })),
            other => panic!("{other:?}"),
        }
        let none: Option<u8> = None;
        assert!(matches!(none.context("no header"), Err(Demo::Invalid(m)) if m == "no header"));
    }

    #[test]
    fn bail_and_ensure_pick_the_variant() {
        assert!(check(4).is_ok());
        assert!(matches!(check(0), Err(Demo::Invalid(m)) if m == "width 0 must be positive"));
        assert!(matches!(check(9), Err(Demo::Config(m)) if m == "--width 9: at most 8"));
    }
}
