//! deepcrl end-to-end tests: the whole pipeline on a tiny configuration, across crates. The tests live
//! in `tests/`; this library is empty.
