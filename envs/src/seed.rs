//! Seeds derived from a run's `--seed`: each random stream of a run (training environments, evaluation
//! goals, the sampler) gets `seed + n` for its own `n`. The sum wraps, so any `u64` a user passes is a
//! valid seed (an overflowing `+` panics in debug builds); below `u64::MAX - n` the seeds are the same
//! as plain addition gives, so runs seeded before this helper replay unchanged.

/// The seed of stream `n` of a run seeded with `seed`.
pub fn derive(seed: u64, n: u64) -> u64 {
    seed.wrapping_add(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_seeds_are_plain_sums_and_wrap_at_the_top() {
        assert_eq!(super::derive(7, 2), 9);
        assert_eq!(super::derive(u64::MAX, 1), 0);
        assert_eq!(super::derive(u64::MAX, 2), 1);
    }
}
